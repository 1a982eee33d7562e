"""The monitoring files shipped in monitoring/: Prometheus rules and config, Grafana dashboard.

They name the server's metrics in text that nothing else checks, so these tests hold
them to the real thing: every series they read is in a scrape of a running server
(``metrics/exposition.py``), the rules mirror the server's own alerts
(``metrics/alerts.py``) with its default limits, and, where promtool is installed
(``scripts/need-promtool``), Prometheus itself accepts the files and the rules fire on
made-up series as the server's rules would. Without promtool those tests skip, and
fail under CI (``CI`` set), where it must be installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from metrics.alerts import RULES, AlertLimits
from tests.conftest import REPO, FixServer

MONITORING = REPO / "monitoring"
RULES_FILE = MONITORING / "prometheus" / "alerts.yml"
CONFIG_FILE = MONITORING / "prometheus" / "prometheus.yml"
DASHBOARD_FILE = MONITORING / "grafana" / "fixserver-dashboard.json"

# Series that Prometheus makes itself for each target, not the server.
PROMETHEUS_SERIES = {"up"}


# -- reading the files --------------------------------------------------------------

def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def mirrored() -> dict[str, dict[str, Any]]:
    """The rules that mirror one of the server's, by the server's rule name."""
    return {r["labels"]["fixserver_rule"]: r for r in alert_rules()
            if "fixserver_rule" in r.get("labels", {})}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text())


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    out = []
    for p in panels:
        out.append(p)
        out.extend(all_panels(p.get("panels", [])))
    return out


def data_panels() -> list[dict[str, Any]]:
    """The panels that show data (rows are headings)."""
    return [p for p in all_panels(dashboard()["panels"]) if p["type"] != "row"]


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: targets and variable queries."""
    exprs = [t["expr"] for p in data_panels() for t in p["targets"]]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            # Grafana's label_values(metric, label): the metric is PromQL, the label not.
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
            exprs.append(m.group(1) if m else query)
    return exprs


# -- the series a PromQL expression reads ---------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.$])[A-Za-z_:][\w:]*+(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}


def series_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects: not functions, labels, keywords or numbers."""
    bare = _STRINGS.sub('""', expr)
    bare = _GROUPING.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", bare)))
    return {n for n in _NAME.findall(bare) if n.lower() not in _KEYWORDS}


def test_series_names_finds_the_metrics_of_an_expression_and_nothing_else() -> None:
    expr = ('histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{stage="x y",'
            'instance=~"$instance"}[$__rate_interval]))) > 1e-3 and on (instance) '
            'b_total offset 5m / clamp_min(sum without (le) (c), 1) > bool 0')
    assert series_names(expr) == {"a_bucket", "b_total", "c"}


# -- a real scrape ---------------------------------------------------------------------

# The names a family of each type puts on its samples (prometheus-client's parser
# drops _total from a counter family's name; a family declared without samples yet,
# like the per-symbol counters of a server that has had no order, still counts).
_SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                    "summary": ("", "_count", "_sum")}


def exposed_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(s.name for s in family.samples)
        names.update(family.name + s for s in _SAMPLE_SUFFIXES.get(family.type, ("",)))
    return names


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def _journal_a_command(server: FixServer, base: str) -> None:
    """Set AAPL's phase to the one it has: journaled like an order, so the snapshotter
    writes a snapshot and fixserver_snapshot_age_seconds appears."""
    token = (server.data_dir / "admin.token").read_text().strip()
    request = urllib.request.Request(
        f"{base}/api/phases/AAPL", data=b'{"phase": "continuous"}', method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


@pytest.fixture
def scraped(server_factory) -> set[str]:
    """The metric names in /metrics of a server with the shipped sessions.cfg, once it
    has journaled a command and written a snapshot (snapshot_age is there only then)."""
    server = server_factory((REPO / "sessions.cfg").read_text())
    base = f"http://127.0.0.1:{server.http_port}"
    deadline = time.monotonic() + 20
    while True:   # the FIX port listens first; the HTTP listener follows
        try:
            _get(f"{base}/api/health")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    _journal_a_command(server, base)
    while True:
        names = exposed_names(_get(f"{base}/metrics"))
        if "fixserver_snapshot_age_seconds" in names or time.monotonic() > deadline:
            return names
        time.sleep(0.1)


# -- the rules file --------------------------------------------------------------------

def test_the_rules_file_is_yaml_with_groups_of_rules() -> None:
    doc = yaml.safe_load(RULES_FILE.read_text())
    assert doc["groups"], "no groups"
    for group in doc["groups"]:
        assert group["name"] and group["rules"], group


def test_every_rule_has_an_alert_an_expr_a_for_a_severity_and_a_summary() -> None:
    for rule in alert_rules():
        assert rule.get("alert"), rule
        assert str(rule.get("expr", "")).strip(), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), rule["alert"]
        assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, \
            rule["alert"]
        assert rule.get("annotations", {}).get("summary"), rule["alert"]
        assert rule.get("annotations", {}).get("description"), rule["alert"]


def test_alert_names_are_unique() -> None:
    names = [r["alert"] for r in alert_rules()]
    assert len(names) == len(set(names))


def test_every_alert_of_the_server_has_a_prometheus_rule() -> None:
    assert set(mirrored()) == set(RULES)


def test_the_mirrored_rules_use_the_servers_default_limits() -> None:
    limits = AlertLimits()
    expected = {  # in the metrics' base units: seconds, fractions, counts
        "order_path_p99": limits.order_path_p99_us / 1e6,
        "error_rate": limits.error_rate,
        "consumer_lag": limits.consumer_lag_seconds,
        "journal_fsync": limits.journal_fsync_p99_ms / 1e3,
        "risk_breach": limits.risk_rejects,
        "kill_switch": 0,
    }
    for name, rule in mirrored().items():
        expr = rule["expr"]
        assert [float(x) for x in re.findall(r">(?!=)\s*([\d.eE+-]+)", expr)] \
            == [expected[name]], name
        if "histogram_quantile" in expr:   # no decision on fewer than min_samples
            assert [int(x) for x in re.findall(r">=\s*(\d+)", expr)] \
                == [limits.min_samples], name


def test_there_is_an_exchange_down_rule_and_one_on_the_servers_own_alerts() -> None:
    exprs = {" ".join(r["expr"].split()) for r in alert_rules()}
    assert 'up{job="fixserver"} == 0' in exprs
    assert "fixserver_alert_active == 1" in exprs


@pytest.mark.slow
def test_every_series_the_rules_read_is_in_a_scrape_of_the_server(scraped) -> None:
    used = {}
    for rule in alert_rules():
        names = series_names(rule["expr"])
        assert names, rule["alert"]
        used.update(dict.fromkeys(names, rule["alert"]))
    missing = {n: a for n, a in used.items() if n not in scraped | PROMETHEUS_SERIES}
    assert not missing, f"not in /metrics: {missing}"


# -- the dashboard -----------------------------------------------------------------------

def test_the_dashboard_is_json_with_a_title_a_uid_and_panels() -> None:
    d = dashboard()
    assert d["title"] and d["uid"] and d["panels"]
    assert 36 <= d["schemaVersion"] <= 41


def test_panel_ids_are_unique() -> None:
    ids = [p["id"] for p in all_panels(dashboard()["panels"])]
    assert len(ids) == len(set(ids)), sorted(ids)


def test_every_panel_has_a_target() -> None:
    for p in data_panels():
        assert p.get("targets"), p["title"]
        for t in p["targets"]:
            assert t.get("expr", "").strip() and t.get("refId"), p["title"]


def test_every_query_goes_to_the_data_source_chosen_on_the_dashboard() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    chosen = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for p in data_panels():
        assert p["datasource"] == chosen, p["title"]
        for t in p["targets"]:
            assert t["datasource"] == chosen, p["title"]


def test_panels_fit_the_24_columns_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for p in all_panels(dashboard()["panels"]):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for cell in ((x, y) for x in range(g["x"], g["x"] + g["w"])
                     for y in range(g["y"], g["y"] + g["h"])):
            assert cell not in taken, f"{p['title']} overlaps {taken[cell]}"
            taken[cell] = p["title"]


@pytest.mark.slow
def test_every_series_the_dashboard_reads_is_in_a_scrape_of_the_server(scraped) -> None:
    used = {}
    for expr in dashboard_queries():
        names = series_names(expr)
        assert names, expr
        used.update(dict.fromkeys(names, expr))
    missing = {n: e for n, e in used.items() if n not in scraped | PROMETHEUS_SERIES}
    assert not missing, f"not in /metrics: {missing}"


# -- promtool ----------------------------------------------------------------------------

@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not installed: scripts/need-promtool installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = _run(promtool, "check", "rules", RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_example_config_and_its_rule_file(promtool: str) -> None:
    result = _run(promtool, "check", "config", CONFIG_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_the_example_config_scrapes_job_fixserver_and_loads_the_rules() -> None:
    config = yaml.safe_load(CONFIG_FILE.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["fixserver"]["static_configs"][0]["targets"] == ["127.0.0.1:8080"]
    assert config["global"]["scrape_interval"] == "5s"


# promtool unit tests, one per rule: made-up series (every 15 s) of a target "ex:8080"
# (and of others that must not alert), and the alerts expected at a time. Summaries
# are checked as rendered; descriptions are left out of the comparison.
EX = 'instance="ex:8080",job="fixserver"'
QUIET = 'instance="quiet:8080",job="fixserver"'
FEW = 'instance="few:8080",job="fixserver"'


def _buckets(labels: str, stage: str, per_bucket: dict[str, str]) -> list[dict[str, str]]:
    """Series of a stage's histogram: ``per_bucket`` maps le to values; the count is
    the +Inf bucket's."""
    out = [{"series": f'fixserver_stage_seconds_bucket{{{labels},stage="{stage}",le="{le}"}}',
            "values": v} for le, v in per_bucket.items()]
    out.append({"series": f'fixserver_stage_seconds_count{{{labels},stage="{stage}"}}',
                "values": per_bucket["+Inf"]})
    return out


def _alert(labels: dict[str, str], summary: str) -> dict[str, Any]:
    return {"exp_labels": labels, "exp_annotations": {"summary": summary}}


PROMTOOL_CASES: dict[str, tuple[list[dict[str, str]], list[dict[str, Any]]]] = {
    "FixserverDown": (
        [{"series": f"up{{{EX}}}", "values": "1 0x8"},
         {"series": f"up{{{QUIET}}}", "values": "1x8"}],
        [{"eval_time": "30s", "exp_alerts": []},     # pending: down for less than 1m
         {"eval_time": "2m", "exp_alerts": [_alert(
             {"instance": "ex:8080", "job": "fixserver", "severity": "critical"},
             "fixserver ex:8080 is down")]}]),
    "FixserverAlertFiring": (
        [{"series": f'fixserver_alert_active{{{EX},alert="consumer_lag"}}', "values": "0 1x4"},
         {"series": f'fixserver_alert_active{{{EX},alert="error_rate"}}', "values": "0x5"}],
        [{"eval_time": "30s", "exp_alerts": [_alert(
            {"instance": "ex:8080", "job": "fixserver", "alert": "consumer_lag",
             "severity": "warning"},
            "fixserver ex:8080: its own alert consumer_lag fires")]}]),
    # 40 reads/s between 0.5 and 2 ms on ex; all under 0.5 ms on quiet; slow but under
    # min_samples (4 a minute) on few.
    "FixserverOrderPathP99High": (
        _buckets(EX, "end_to_end", {"0.0005": "0x20", "0.002": "0+600x20", "+Inf": "0+600x20"})
        + _buckets(QUIET, "end_to_end",
                   {"0.0005": "0+600x20", "0.002": "0+600x20", "+Inf": "0+600x20"})
        + _buckets(FEW, "end_to_end", {"0.0005": "0x20", "0.002": "0+1x20", "+Inf": "0+1x20"}),
        [{"eval_time": "3m", "exp_alerts": [_alert(
            {"instance": "ex:8080", "severity": "warning", "fixserver_rule": "order_path_p99"},
            "fixserver ex:8080: order path p99 1.985ms (limit 1 ms)")]}]),
    # one session Reject per 1,000 messages read on ex (0.1%); none on quiet.
    "FixserverErrorRateHigh": (
        [{"series": f'fixserver_session_messages_received_total{{{EX},session="S"}}',
          "values": "0+1000x20"},
         {"series": f'fixserver_session_rejects_total{{{EX},session="S"}}', "values": "0+1x20"},
         {"series": f'fixserver_session_error_disconnects_total{{{EX},session="S"}}',
          "values": "0x20"},
         {"series": f"fixserver_exchange_fault_rejects_total{{{EX}}}", "values": "0x20"},
         {"series": f'fixserver_session_messages_received_total{{{QUIET},session="S"}}',
          "values": "0+1000x20"},
         {"series": f'fixserver_session_rejects_total{{{QUIET},session="S"}}', "values": "0x20"},
         {"series": f'fixserver_session_error_disconnects_total{{{QUIET},session="S"}}',
          "values": "0x20"},
         {"series": f"fixserver_exchange_fault_rejects_total{{{QUIET}}}", "values": "0x20"}],
        [{"eval_time": "3m", "exp_alerts": [_alert(
            {"instance": "ex:8080", "severity": "critical", "fixserver_rule": "error_rate"},
            "fixserver ex:8080: error rate 0.1% (limit 0.01%)")]}]),
    "FixserverConsumerLagging": (
        [{"series": f'fixserver_consumer_lag_seconds{{{EX},consumer="audit"}}',
          "values": "0 10 45 50"},
         {"series": f'fixserver_consumer_lag_seconds{{{EX},consumer="database"}}',
          "values": "0 0 20 29"}],
        [{"eval_time": "30s", "exp_alerts": [_alert(
            {"instance": "ex:8080", "consumer": "audit", "severity": "warning",
             "fixserver_rule": "consumer_lag"},
            "fixserver ex:8080: consumer audit is 45s behind (limit 30 s)")]}]),
    # 400 commits a minute between 10 and 50 ms on ex; all under 10 ms on quiet.
    "FixserverJournalCommitSlow": (
        _buckets(EX, "journal", {"0.01": "0x20", "0.05": "0+100x20", "+Inf": "0+100x20"})
        + _buckets(QUIET, "journal", {"0.01": "0+100x20", "0.05": "0+100x20",
                                      "+Inf": "0+100x20"}),
        [{"eval_time": "3m", "exp_alerts": [_alert(
            {"instance": "ex:8080", "severity": "warning", "fixserver_rule": "journal_fsync"},
            "fixserver ex:8080: journal commit p99 49.6ms (limit 20 ms)")]}]),
    # one risk reject at 45 s: in the window at 1m, out of it at 3m.
    "FixserverRiskRejects": (
        [{"series": f"fixserver_risk_rejects_total{{{EX}}}", "values": "0 0 0 1x12"},
         {"series": f"fixserver_risk_rejects_total{{{QUIET}}}", "values": "0x15"}],
        [{"eval_time": "1m", "exp_alerts": [_alert(
            {"instance": "ex:8080", "severity": "warning", "fixserver_rule": "risk_breach"},
            "fixserver ex:8080: pre-trade risk refused orders in the last minute")]},
         {"eval_time": "3m", "exp_alerts": []}]),
    "FixserverKillSwitchOn": (
        [{"series": f'fixserver_kill_switches{{{EX},scope="firm"}}', "values": "0 1x4"},
         {"series": f'fixserver_kill_switches{{{EX},scope="account"}}', "values": "0x5"}],
        [{"eval_time": "30s", "exp_alerts": [_alert(
            {"instance": "ex:8080", "scope": "firm", "severity": "info",
             "fixserver_rule": "kill_switch"},
            "fixserver ex:8080: 1 firm kill switch(es) on")]}]),
}


def test_every_rule_has_a_promtool_unit_case() -> None:
    assert set(PROMTOOL_CASES) == {r["alert"] for r in alert_rules()}


@pytest.mark.parametrize("alert", sorted(PROMTOOL_CASES))
def test_promtool_the_rule_fires_on_made_up_series(promtool: str, tmp_path: Path,
                                                   alert: str) -> None:
    doc = yaml.safe_load(RULES_FILE.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["annotations"].pop("description")
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump(doc, sort_keys=False))
    series, checks = PROMTOOL_CASES[alert]
    unit = {"rule_files": [str(rules)], "evaluation_interval": "15s",
            "tests": [{"interval": "15s", "input_series": series,
                       "alert_rule_test": [{"alertname": alert, **c} for c in checks]}]}
    test_file = tmp_path / "test.yml"
    test_file.write_text(yaml.safe_dump(unit, sort_keys=False))
    result = _run(promtool, "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr

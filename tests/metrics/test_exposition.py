"""metrics.exposition: a reading made by hand (tests/metrics/reading_kit), rendered by
prometheus-client and parsed back by its own parser, as a scraper would see it."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from matching.constants import PRICE_SCALE
from metrics.alerts import KILL_SWITCH, RULES, Alerts
from metrics.exposition import registry_of
from metrics.latency import BOUNDS_NS, END_TO_END, JOURNAL, STAGES
from metrics.readings import Reading
from tests.metrics.reading_kit import consumer, reading, session, timed

US, MS = 1_000, 1_000_000
E2E = timed((90, 40 * US), (9, 300 * US), (1, 20 * 10**9))     # one read past 10 s


def scraped(r: Reading, alerts: Alerts | None = None) -> dict[str, list[Sample]]:
    """The samples of every family, by family name, as the text format gives them."""
    text = generate_latest(registry_of(lambda: r, alerts)).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def values(samples: list[Sample], name: str, label: str) -> dict[str, float]:
    """The value of each sample called ``name``, by its ``label``."""
    return {s.labels[label]: s.value for s in samples if s.name == name}


def busy() -> Reading:
    return reading(
        1000.0, last_seq=42,
        stages={END_TO_END: E2E, JOURNAL: timed((3, 2 * MS))},
        stage_sums={**dict.fromkeys(STAGES, 0), END_TO_END: 1_500_000_000,
                    JOURNAL: 6_000_000},
        orders={"AAPL": 7, "MSFT": 2}, cancels={"AAPL": 1}, replaces={"MSFT": 2},
        rejects={"KILL_SWITCH": 1, "QUANTITY_NOT_LOT_MULTIPLE": 2},
        cancel_rejects={"UNKNOWN_ORDER": 3},
        trades={"AAPL": 2}, volume={"AAPL": 150},
        notional={"AAPL": 1_900_000 * 100 + 1_901_000 * 50},   # 190.00 x 100 + 190.10 x 50
        resting={"AAPL": 4, "MSFT": 0}, phases={"AAPL": "continuous", "MSFT": "closed"},
        sessions=[session("FIX.4.4:EXCH->BRK1", 100, 1, 0)],
        consumers=[consumer("audit", 2.5, lag=7)],
        risk_rejects=1, journal_age=0.25, snapshot_age=12.5,
        killed={"firm": ["BROKER2"], "account": [], "session": []})


# -- the stage histograms -------------------------------------------------------------------


def test_stage_buckets_are_cumulative_and_end_with_inf_equal_to_the_count() -> None:
    samples = scraped(busy())["fixserver_stage_seconds"]
    buckets = [s for s in samples if s.name == "fixserver_stage_seconds_bucket"
               and s.labels["stage"] == END_TO_END]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts)
    assert buckets[-1].labels["le"] == "+Inf"
    count = values(samples, "fixserver_stage_seconds_count", "stage")[END_TO_END]
    assert buckets[-1].value == count == sum(E2E) == 100


def test_each_bucket_bound_is_the_histogram_s_bound_in_seconds() -> None:
    samples = scraped(busy())["fixserver_stage_seconds"]
    bounds = [s.labels["le"] for s in samples if s.name == "fixserver_stage_seconds_bucket"
              and s.labels["stage"] == JOURNAL]
    assert [float(b) for b in bounds[:-1]] == [b / 1e9 for b in BOUNDS_NS]


def test_a_bucket_counts_the_observations_at_or_below_its_bound() -> None:
    samples = scraped(busy())["fixserver_stage_seconds"]
    cumulative = {float(s.labels["le"]): s.value for s in samples
                  if s.name == "fixserver_stage_seconds_bucket"
                  and s.labels["stage"] == END_TO_END}
    assert cumulative[20e-6] == 0          # nothing at or below 20 µs
    assert cumulative[50e-6] == 90         # the 90 reads of 40 µs
    assert cumulative[500e-6] == 99        # and the 9 of 300 µs
    assert cumulative[10.0] == 99          # the 20 s read is only in +Inf
    assert cumulative[float("inf")] == 100


def test_the_stage_sum_is_in_seconds() -> None:
    sums = values(scraped(busy())["fixserver_stage_seconds"], "fixserver_stage_seconds_sum",
                  "stage")
    assert sums[END_TO_END] == 1.5 and sums[JOURNAL] == 0.006


def test_every_stage_has_a_histogram() -> None:
    counts = values(scraped(busy())["fixserver_stage_seconds"],
                    "fixserver_stage_seconds_count", "stage")
    assert sorted(counts) == sorted(STAGES)
    assert counts["decode"] == 0


# -- trading counters -----------------------------------------------------------------------


def test_per_symbol_counters_carry_the_symbol_label() -> None:
    families = scraped(busy())
    assert values(families["fixserver_orders"], "fixserver_orders_total", "symbol") == \
        {"AAPL": 7, "MSFT": 2}
    assert values(families["fixserver_cancels"], "fixserver_cancels_total", "symbol") == \
        {"AAPL": 1}
    assert values(families["fixserver_replaces"], "fixserver_replaces_total", "symbol") == \
        {"MSFT": 2}
    assert values(families["fixserver_trades"], "fixserver_trades_total", "symbol") == \
        {"AAPL": 2}


def test_rejects_carry_their_reject_code_as_reason() -> None:
    families = scraped(busy())
    assert values(families["fixserver_rejects"], "fixserver_rejects_total", "reason") == \
        {"KILL_SWITCH": 1, "QUANTITY_NOT_LOT_MULTIPLE": 2}
    assert values(families["fixserver_cancel_rejects"], "fixserver_cancel_rejects_total",
                  "reason") == {"UNKNOWN_ORDER": 3}


def test_notional_is_scaled_from_fixed_point_to_the_currency() -> None:
    assert PRICE_SCALE == 10_000
    notional = values(scraped(busy())["fixserver_notional"], "fixserver_notional_total",
                      "symbol")
    assert notional == {"AAPL": 190.00 * 100 + 190.10 * 50}


def test_volume_is_in_whole_units() -> None:
    volume = values(scraped(busy())["fixserver_volume"], "fixserver_volume_total", "symbol")
    assert volume == {"AAPL": 150}


def test_the_exchange_wide_counters_are_exposed() -> None:
    families = scraped(reading(1.0, risk_rejects=3, throttled=4, exchange_faults=5,
                               market_data_messages=6, feed_ticks=7))
    assert {name: families[name][0].value for name in (
        "fixserver_risk_rejects", "fixserver_throttle_rejects",
        "fixserver_exchange_fault_rejects", "fixserver_marketdata_messages",
        "fixserver_feed_ticks")} == {
        "fixserver_risk_rejects": 3, "fixserver_throttle_rejects": 4,
        "fixserver_exchange_fault_rejects": 5, "fixserver_marketdata_messages": 6,
        "fixserver_feed_ticks": 7}


# -- gauges ---------------------------------------------------------------------------------


def test_resting_orders_and_the_phase_are_per_symbol_gauges() -> None:
    families = scraped(busy())
    assert values(families["fixserver_resting_orders"], "fixserver_resting_orders",
                  "symbol") == {"AAPL": 4, "MSFT": 0}
    phases = {(s.labels["symbol"], s.labels["phase"]): s.value
              for s in families["fixserver_trading_phase"]}
    assert phases == {("AAPL", "continuous"): 1, ("MSFT", "closed"): 1}


def test_each_session_has_its_figures() -> None:
    families = scraped(busy())
    s = "FIX.4.4:EXCH->BRK1"
    assert families["fixserver_session_logged_on"][0].labels == {"session": s,
                                                                "application": "orders"}
    assert values(families["fixserver_session_messages_received"],
                  "fixserver_session_messages_received_total", "session") == {s: 100}
    assert values(families["fixserver_session_rejects"], "fixserver_session_rejects_total",
                  "session") == {s: 1}


def test_consumer_lag_is_in_entries_and_seconds() -> None:
    families = scraped(busy())
    assert values(families["fixserver_consumer_lag_entries"],
                  "fixserver_consumer_lag_entries", "consumer") == {"audit": 7}
    assert values(families["fixserver_consumer_lag_seconds"],
                  "fixserver_consumer_lag_seconds", "consumer") == {"audit": 2.5}


def test_kill_switches_are_counted_by_scope() -> None:
    assert values(scraped(busy())["fixserver_kill_switches"], "fixserver_kill_switches",
                  "scope") == {"firm": 1, "account": 0, "session": 0}


def test_snapshot_age_is_exposed_when_there_is_a_snapshot() -> None:
    families = scraped(busy())
    assert families["fixserver_snapshot_age_seconds"][0].value == 12.5
    assert families["fixserver_journal_age_seconds"][0].value == 0.25
    assert families["fixserver_last_seq"][0].value == 42


def test_snapshot_age_is_absent_without_a_snapshot() -> None:
    families = scraped(reading(1.0, snapshot_age=None))
    assert "fixserver_snapshot_age_seconds" not in families
    assert "fixserver_journal_age_seconds" in families


# -- alerts ---------------------------------------------------------------------------------


def test_alert_active_is_1_for_a_firing_alert_and_0_for_the_others() -> None:
    alerts = Alerts()
    alerts.update(reading(0.0))
    killed = reading(1.0, killed={"firm": ["BROKER2"], "account": [], "session": []})
    alerts.update(killed)
    families = scraped(killed, alerts)
    active = values(families["fixserver_alert_active"], "fixserver_alert_active", "alert")
    assert active == {name: (1 if name == KILL_SWITCH else 0) for name in RULES}
    fired = values(families["fixserver_alerts_fired"], "fixserver_alerts_fired_total",
                   "alert")
    assert fired == {name: (1 if name == KILL_SWITCH else 0) for name in RULES}


def test_a_cleared_alert_is_0_and_still_counted_as_fired() -> None:
    alerts = Alerts()
    alerts.update(reading(1000.0, killed={"firm": ["BROKER2"], "account": [], "session": []}))
    quiet = reading(1001.0, killed={"firm": [], "account": [], "session": []})
    alerts.update(quiet)
    families = scraped(quiet, alerts)
    assert values(families["fixserver_alert_active"], "fixserver_alert_active",
                  "alert")[KILL_SWITCH] == 0
    assert values(families["fixserver_alerts_fired"], "fixserver_alerts_fired_total",
                  "alert")[KILL_SWITCH] == 1


def test_without_alerts_there_are_no_alert_families() -> None:
    families = scraped(busy())
    assert "fixserver_alert_active" not in families
    assert "fixserver_alerts_fired" not in families


# -- the registry ---------------------------------------------------------------------------


def test_each_scrape_takes_a_fresh_reading() -> None:
    taken = []

    def read() -> Reading:
        taken.append(1)
        return reading(float(len(taken)), last_seq=len(taken))

    registry = registry_of(read)
    first = generate_latest(registry).decode()
    second = generate_latest(registry).decode()
    assert "fixserver_last_seq 1.0" in first and "fixserver_last_seq 2.0" in second
    assert len(taken) == 2


def test_the_registry_holds_the_exchange_s_metrics_and_its_process_s() -> None:
    names = scraped(reading(1.0))
    assert names and all(name.startswith(("fixserver_", "process_")) for name in names)
    assert "process_resident_memory_bytes" in names

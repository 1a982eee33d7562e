"""venue.config: the observability sections of exchange.toml ([alerts], [http],
[metrics]) are read, and a bad key or value is refused naming its section.

The files are the shipped exchange.toml with one edit, as in
tests/venue/test_exchange_config.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.alerts import AlertLimits
from tests.venue.support import SHIPPED_EXCHANGE_TOML
from venue.config import (
    HTTP_LISTEN_ENV,
    ExchangeConfig,
    ExchangeConfigError,
    HttpConfig,
    load_exchange_config,
)

SHIPPED = SHIPPED_EXCHANGE_TOML.read_text()
ALERTS_P99 = "order_path_p99_us = 1000"
HTTP_LISTEN = 'listen = "127.0.0.1:8080"'
STAGE_TIMING = "stage_timing = true"


def edited(old: str, new: str) -> str:
    """The shipped file with one edit (which must apply)."""
    assert SHIPPED.count(old) == 1, old
    return SHIPPED.replace(old, new)


def loaded(tmp_path: Path, text: str) -> ExchangeConfig:
    path = tmp_path / "exchange.toml"
    path.write_text(text)
    return load_exchange_config(path)


def error_of(tmp_path: Path, text: str) -> str:
    """The message of the ExchangeConfigError loading ``text`` raises; it names the
    file."""
    path = tmp_path / "exchange.toml"
    path.write_text(text)
    with pytest.raises(ExchangeConfigError) as info:
        load_exchange_config(path)
    message = str(info.value)
    assert str(path) in message
    return message


def without_section(name: str) -> str:
    """The shipped file without the table ``[name]`` (up to the next blank line)."""
    start = SHIPPED.index(f"[{name}]\n")
    end = SHIPPED.index("\n\n", start)
    return SHIPPED[:start] + SHIPPED[end + 2:]


# -- [alerts] -------------------------------------------------------------------------------


def test_the_shipped_alert_limits_are_the_defaults() -> None:
    assert load_exchange_config(SHIPPED_EXCHANGE_TOML).alerts == AlertLimits()


def test_an_alert_limit_is_read(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, edited(ALERTS_P99, "order_path_p99_us = 500"))
    assert cfg.alerts.order_path_p99_us == 500
    assert cfg.alerts == AlertLimits(order_path_p99_us=500)


def test_every_alert_limit_is_read(tmp_path: Path) -> None:
    text = without_section("alerts") + (
        "\n[alerts]\nwindow_seconds = 120\norder_path_p99_us = 2500\nerror_rate = 0.001\n"
        "consumer_lag_seconds = 12.5\njournal_fsync_p99_ms = 8\nrisk_rejects = 3\n"
        "min_samples = 10\n")
    assert loaded(tmp_path, text).alerts == AlertLimits(120, 2500, 0.001, 12.5, 8.0, 3, 10)


def test_without_an_alerts_table_the_defaults_apply(tmp_path: Path) -> None:
    assert loaded(tmp_path, without_section("alerts")).alerts == AlertLimits()


def test_an_unknown_alerts_key_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited(ALERTS_P99, ALERTS_P99 + "\norder_path_p50_us = 10"))
    assert "[alerts]" in message and "order_path_p50_us" in message


def test_an_alert_limit_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited(ALERTS_P99, 'order_path_p99_us = "fast"'))
    assert "[alerts]" in message and "order_path_p99_us" in message


def test_a_fractional_alert_limit_that_must_be_whole_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited(ALERTS_P99, "order_path_p99_us = 999.5"))
    assert "[alerts]" in message and "order_path_p99_us" in message


@pytest.mark.parametrize(("old", "new", "named"), [
    ("window_seconds = 60", "window_seconds = 1", "window_seconds"),
    (ALERTS_P99, "order_path_p99_us = 0", "order_path_p99_us"),
    ("error_rate = 0.0001", "error_rate = 1.5", "error_rate"),
    ("risk_rejects = 0", "risk_rejects = -1", "risk_rejects"),
])
def test_a_bad_alert_limit_is_refused(tmp_path: Path, old: str, new: str,
                                      named: str) -> None:
    message = error_of(tmp_path, edited(old, new))
    assert "[alerts]" in message and named in message


def test_a_nan_alert_limit_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited("journal_fsync_p99_ms = 20", "journal_fsync_p99_ms = nan"))
    assert "[alerts]" in message and "journal_fsync_p99_ms" in message


def test_alerts_must_be_a_table(tmp_path: Path) -> None:
    text = without_section("alerts").replace("[exchange]\n", "alerts = 5\n[exchange]\n", 1)
    assert "alerts must be a table" in error_of(tmp_path, text)


# -- [http] ---------------------------------------------------------------------------------


def test_the_shipped_http_listener_is_on_loopback_8080() -> None:
    http = load_exchange_config(SHIPPED_EXCHANGE_TOML).http
    assert (http.listen, http.metrics_listen) == ("127.0.0.1:8080", "")


def test_the_http_listen_address_is_read(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, edited(HTTP_LISTEN, 'listen = "0.0.0.0:9100"'))
    assert cfg.http.listen == "0.0.0.0:9100"


def test_an_ipv6_listen_address_is_accepted(tmp_path: Path) -> None:
    assert loaded(tmp_path, edited(HTTP_LISTEN, 'listen = "[::1]:9100"')).http.listen == \
        "[::1]:9100"


def test_an_empty_listen_turns_the_http_listener_off(tmp_path: Path) -> None:
    assert loaded(tmp_path, edited(HTTP_LISTEN, 'listen = ""')).http.listen == ""


def test_a_metrics_only_listener_is_read(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, edited('metrics_listen = ""', 'metrics_listen = "127.0.0.1:9200"'))
    assert cfg.http.metrics_listen == "127.0.0.1:9200"


def test_without_an_http_table_the_listener_is_on_its_default(tmp_path: Path) -> None:
    assert loaded(tmp_path, without_section("http")).http == HttpConfig()


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1:", ":8080", "127.0.0.1:http",
                                     "127.0.0.1:65536"])
def test_a_bad_listen_address_is_refused(tmp_path: Path, address: str) -> None:
    message = error_of(tmp_path, edited(HTTP_LISTEN, f'listen = "{address}"'))
    assert "[http]" in message and "listen" in message and address in message


def test_a_bad_metrics_listen_address_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('metrics_listen = ""', 'metrics_listen = "9200"'))
    assert "[http]" in message and "metrics_listen" in message


def test_a_listen_address_that_is_not_a_string_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited(HTTP_LISTEN, "listen = 8080"))
    assert "[http]" in message and "listen" in message


def test_an_unknown_http_key_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited(HTTP_LISTEN, HTTP_LISTEN + '\nport = "8080"'))
    assert "[http]: unknown key 'port'" in message


def test_the_environment_overrides_the_listen_address() -> None:
    http = HttpConfig(listen="127.0.0.1:8080", metrics_listen="127.0.0.1:9200")
    assert HTTP_LISTEN_ENV == "FIXSERVER_HTTP_LISTEN"
    moved = http.with_environment({"FIXSERVER_HTTP_LISTEN": "0.0.0.0:9000"})
    assert moved == HttpConfig(listen="0.0.0.0:9000", metrics_listen="127.0.0.1:9200")


def test_an_empty_environment_listen_turns_the_listener_off() -> None:
    assert HttpConfig().with_environment({"FIXSERVER_HTTP_LISTEN": ""}).listen == ""


def test_without_the_environment_variable_the_file_decides() -> None:
    http = HttpConfig(listen="127.0.0.1:7000")
    assert http.with_environment({"FIXSERVER_PG_DSN": "x"}) == http


# -- [metrics] ------------------------------------------------------------------------------


def test_stage_timing_is_on_in_the_shipped_file() -> None:
    assert load_exchange_config(SHIPPED_EXCHANGE_TOML).stage_timing is True


def test_stage_timing_can_be_turned_off(tmp_path: Path) -> None:
    assert loaded(tmp_path, edited(STAGE_TIMING, "stage_timing = false")).stage_timing is False


def test_without_a_metrics_table_stage_timing_is_on(tmp_path: Path) -> None:
    assert loaded(tmp_path, without_section("metrics")).stage_timing is True


def test_stage_timing_must_be_true_or_false(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited(STAGE_TIMING, 'stage_timing = "no"'))
    assert "[metrics]" in message and "stage_timing" in message


def test_an_unknown_metrics_key_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited(STAGE_TIMING, STAGE_TIMING + "\ncounters = false"))
    assert "[metrics]: unknown key 'counters'" in message

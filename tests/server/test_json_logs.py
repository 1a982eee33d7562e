"""``fixserver --log-format json``: one JSON object per log line (server/logs.py), and
the order path's lines carry the command's seq, the session and the ClOrdID."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from pathlib import Path

import pytest

from consumers.executions import log_reject
from server.logs import JsonFormatter
from tests.conftest import FixServer, free_port
from tests.exchange.exchangeclient import (
    BUY,
    SESSIONS_CFG,
    Broker,
    wait_for,
    write_exchange_toml,
)
from venue.reports import ExecutionReport, OrderCancelReject


def record(msg: str = "order %s rejected", args: tuple = ("B1",), *,
           extra: dict | None = None, exc_info: object = None) -> logging.LogRecord:
    """A record as ``logging.getLogger("venue.test").info`` makes it."""
    logger = logging.getLogger("venue.test")
    return logger.makeRecord(logger.name, logging.INFO, __file__, 1, msg, args, exc_info,
                             extra=extra)  # type: ignore[arg-type]


def json_line(line: str) -> dict:
    try:
        out = json.loads(line)
    except ValueError:
        pytest.fail(f"not a JSON line: {line!r}")
    assert isinstance(out, dict), line
    return out


def formatted(rec: logging.LogRecord) -> dict:
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    return json_line(line)


# -- the formatter ---------------------------------------------------------------------

def test_a_record_is_one_json_line_of_ts_level_logger_and_formatted_message() -> None:
    out = formatted(record())
    assert out == {"ts": out["ts"], "level": "INFO", "logger": "venue.test",
                   "message": "order B1 rejected"}


def test_ts_is_iso_8601_utc_with_microseconds_and_z() -> None:
    rec = record()
    rec.created = dt.datetime(2024, 5, 1, 9, 30, 0, 123456, dt.UTC).timestamp()
    assert formatted(rec)["ts"] == "2024-05-01T09:30:00.123456Z"


def test_the_fields_passed_with_extra_are_included() -> None:
    out = formatted(record(extra={"seq": 42, "session": "FIX.4.4:EXCH->BRK1",
                                  "cl_ord_id": "B1", "event": "reject"}))
    assert (out["seq"], out["session"], out["cl_ord_id"], out["event"]) == (
        42, "FIX.4.4:EXCH->BRK1", "B1", "reject")
    # Nothing else of the record's own attributes.
    assert set(out) == {"ts", "level", "logger", "message", "seq", "session", "cl_ord_id",
                        "event"}


def test_an_extra_value_json_cannot_encode_is_written_as_its_str() -> None:
    out = formatted(record(extra={"path": Path("/var/journal"), "ids": {1}}))
    assert (out["path"], out["ids"]) == ("/var/journal", "{1}")


def test_an_exception_is_included_as_its_traceback_on_the_same_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        rec = record("failed", (), exc_info=sys.exc_info())
    out = formatted(rec)
    assert out["message"] == "failed"
    assert out["exc"].startswith("Traceback (most recent call last):")
    assert out["exc"].endswith("ValueError: bad\nthing")


# -- the order path's reject lines ---------------------------------------------------

def test_a_refused_cancel_is_logged_with_its_seq_session_cl_ord_id_and_reason(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "consumers.executions")
    log_reject(7, OrderCancelReject("FIX.4.4:EXCH->BRK1", 0, "C1", "B1", "NONE", "8", "1",
                                    "UNKNOWN_ORDER", "unknown order B1"))
    [rec] = caplog.records
    assert rec.getMessage() == ("FIX.4.4:EXCH->BRK1: cancel C1 rejected: unknown order B1 "
                                "(UNKNOWN_ORDER)")
    assert formatted(rec) | {"ts": ""} == {
        "ts": "", "level": "INFO", "logger": "consumers.executions",
        "message": rec.getMessage(), "seq": 7, "session": "FIX.4.4:EXCH->BRK1",
        "cl_ord_id": "C1", "event": "reject", "reason": "UNKNOWN_ORDER"}


def test_a_report_that_refuses_nothing_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "consumers.executions")
    log_reject(8, ExecutionReport("FIX.4.4:EXCH->BRK1", 0, "0", "0", "1", "1", "B1"))
    assert caplog.records == []


# -- a running server ------------------------------------------------------------------

@pytest.mark.slow
def test_a_server_with_log_format_json_logs_json_lines_and_a_rejects_seq_session_and_cl_ord_id(
        tmp_path: Path) -> None:
    write_exchange_toml(tmp_path)
    server = FixServer(SESSIONS_CFG, tmp_path, free_port())
    server.args = ["--log-format", "json"]
    server.start()
    try:
        brk1 = Broker(server.port, "BRK1")
        brk1.logon()
        brk1.new_order("R1", BUY, 100, "10.00", symbol="NOPE")   # an unknown symbol
        assert brk1.er()[150] == "8"
        # The snapshotter, a child process, has logged too (its load and its snapshot).
        wait_for(lambda: any((tmp_path / "snapshots").glob("*.snapshot")), 10,
                 "the snapshotter's first snapshot")
        brk1.logout_and_close()
    finally:
        assert server.stop() == 0, server.log()

    lines = server.log().splitlines()
    assert len(lines) > 5
    entries = [json_line(line) for line in lines]
    assert all({"ts", "level", "logger", "message"} <= set(e)
               and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e["ts"])
               for e in entries), lines
    rejects = [e for e in entries if e.get("cl_ord_id") == "R1"]
    assert len(rejects) == 1, lines
    reject = rejects[0]
    assert reject["session"] == "FIX.4.4:EXCH->BRK1"
    assert isinstance(reject["seq"], int) and reject["seq"] > 0
    assert (reject["event"], reject["reason"], reject["level"]) == (
        "reject", "UNKNOWN_SYMBOL", "INFO")

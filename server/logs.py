"""The server's log output: readable text (the default) or JSON lines.

``fixserver --log-format json`` writes one JSON object per line to stderr::

    {"ts": "2024-05-01T09:30:00.123456Z", "level": "INFO", "logger": "consumers.executions",
     "message": "...", "seq": 42, "session": "FIX.4.4:EXCH->BRK1", "cl_ord_id": "B1", ...}

``ts`` is the record's time in UTC, ``message`` the formatted message, ``exc`` the
traceback when there is one; every field a call passes with ``extra=`` follows
(``seq``, ``session``, ``cl_ord_id`` on the order path, ``event``, ``alert``, ...).
The choice is passed on to the server's child processes (consumers, snapshotter)
in the environment, so that they log alike.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
# How the server tells its child processes the format it logs in.
FORMAT_ENV = "FIXSERVER_LOG_FORMAT"

# The attributes every LogRecord has (``extra=`` adds the others), and what
# Formatter.format sets on it.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: ts, level, logger, message, its extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str)


def configure(level: str, fmt: str, text_format: str = TEXT_FORMAT) -> None:
    """Log records of ``level`` and above to stderr, as ``fmt`` ("text": lines of
    ``text_format``, or "json": JsonFormatter), and have child processes log alike
    (``inherited_format``)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(text_format))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    os.environ[FORMAT_ENV] = fmt


def inherited_format() -> str:
    """The format the parent server logs in (in one of its child processes)."""
    fmt = os.environ.get(FORMAT_ENV, "text")
    return fmt if fmt in FORMATS else "text"

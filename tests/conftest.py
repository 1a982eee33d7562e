"""Shared fixtures: a real fixserver process on a free loopback port."""

from __future__ import annotations

import importlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Hypothesis's per-example deadline is a timed assertion: on a shared machine a slow
# example fails a correct property. Speed is for `make bench`.
settings.register_profile("fixserver", deadline=None)
settings.load_profile("fixserver")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

try:  # fixtures for the throwaway PostgreSQL and Kafka started by `make test`
    from tests.conftest_services import *  # noqa: F401,F403
except ImportError:
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FixServer:
    """A fixserver subprocess with its own data directory; restartable."""

    def __init__(self, sessions_cfg: str, data_dir: Path, port: int) -> None:
        self.port = port
        self.data_dir = data_dir
        self.cfg_path = data_dir / "sessions.cfg"
        self.cfg_path.write_text(re.sub(r"SocketAcceptPort=\d+", f"SocketAcceptPort={port}",
                                        sessions_cfg))
        self.log_path = data_dir / "server.log"
        # Each server's HTTP listener (operator page, /metrics, admin API) on a port of
        # its own: several servers run at once in some tests.
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        # When set, the server runs with this hard and soft RLIMIT_NOFILE.
        self.open_files_limit: int | None = None
        # More arguments of the server's command line (e.g. ["--log-format", "json"]).
        self.args: list[str] = []

    def start(self, timeout: float = 10.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the subprocess
        limit = self.open_files_limit

        def limit_open_files() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "--sessions", str(self.cfg_path),
             "--data-dir", str(self.data_dir), *self.args],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit_open_files,
            env={**os.environ, "FIXSERVER_HTTP_LISTEN": f"127.0.0.1:{self.http_port}"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fixserver exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"fixserver did not listen on {self.port}:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def restart(self) -> None:
        self.stop()
        self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _server(cfg: str, tmp: Path) -> Iterator[FixServer]:
    server = FixServer(cfg, tmp, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def conformance_server(tmp_path: Path) -> Iterator[FixServer]:
    """A server with the QuickFIX acceptance suite's sessions (ISLD; TW42, TW44; echo)."""
    cfg = (REPO / "tests" / "conformance" / "sessions.cfg").read_text()
    yield from _server(cfg, tmp_path)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """Start servers from sessions.cfg text; all are stopped at the end of the test."""
    started: list[FixServer] = []

    def make(cfg: str, name: str = "server") -> FixServer:
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        server = FixServer(cfg, d, free_port())
        server.start()
        started.append(server)
        return server

    yield make
    for s in started:
        s.stop()


def pytest_report_header(config: pytest.Config) -> str:
    suite = SHARED / "conformance" / "quickfix"
    if suite.is_dir():
        return f"QuickFIX acceptance suite: {suite}"
    return "QuickFIX acceptance suite: NOT FOUND (../shared missing) - conformance tests skip"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, module in list(sys.modules.items()):
        if name.endswith("test_quickfix_suite"):
            for line in getattr(module, "SUMMARY", []):
                terminalreporter.write_line(line)


os.environ.setdefault("PYTHONUNBUFFERED", "1")
# Any other server a test starts listens for HTTP on a port of its own, never on the
# shipped 8080 (a developer's `make run` may hold it).
os.environ.setdefault("FIXSERVER_HTTP_LISTEN", "127.0.0.1:0")


# -- every audit record the suite wrote, against docs/audit.schema.json -----------------

AUDIT_SCHEMA = REPO / "docs" / "audit.schema.json"
AUDIT_FILES = "audit-*.jsonl"
AUDIT_PROBLEMS_SHOWN = 20
_audit_validators: dict = {}   # built once, on first use (jsonschema is imported then)


def audit_validator():  # -> jsonschema.Draft202012Validator
    """The validator of ``docs/audit.schema.json``, the schema checked first."""
    if "full" not in _audit_validators:
        import json

        from jsonschema import Draft202012Validator

        schema = json.loads(AUDIT_SCHEMA.read_text())
        Draft202012Validator.check_schema(schema)
        _audit_validators["full"] = Draft202012Validator(schema)
    return _audit_validators["full"]


def audit_problems(files: list[Path]) -> tuple[int, int, list[str]]:
    """Validate every record of the audit ``files`` (prices read as ``Decimal``): how
    many records there were, how many distinct ones, and a line per invalid one
    (file, line, error). A last line without its newline is a write a crash tore, not
    a record: the trail's own readers skip it too. A line seen before (many tests run
    the same scripted day on the same clock, so write the same trail) is not validated
    again."""
    import json
    from decimal import Decimal

    full = audit_validator()
    records, problems = 0, []
    seen: set[bytes] = set()
    for file in files:
        with file.open("rb") as f:
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break
                records += 1
                if line in seen:
                    continue
                seen.add(line)
                try:
                    record = json.loads(line, parse_float=Decimal)
                except ValueError as e:
                    problems.append(f"{file}:{number}: not JSON: {e}")
                    continue
                if full.is_valid(record):
                    continue
                for error in full.iter_errors(record):
                    where = "/".join(str(p) for p in error.absolute_path) or "(record)"
                    problems.append(f"{file}:{number}: {where}: {error.message}")
    return records, len(seen), problems


@pytest.hookimpl(tryfirst=True)   # before the tmpdir plugin may remove the base directory
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The issue's check: every audit record a test's server wrote (somewhere under
    pytest's base temporary directory) validates against the schema; any that does
    not fails the run, with its file, line and error."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    base = getattr(factory, "_basetemp", None)   # None: no test made a temporary path
    files = sorted(base.rglob(AUDIT_FILES)) if base is not None and base.is_dir() else []
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    write = (reporter.write_line if reporter is not None
             else lambda line, **kw: print(line, file=sys.stderr))
    if reporter is not None:
        reporter.line("")   # end the progress line
    if not files:
        write("audit schema: 0 records validated (no test wrote an audit file)")
        return
    started = time.monotonic()
    records, distinct, problems = audit_problems(files)
    for problem in problems[:AUDIT_PROBLEMS_SHOWN]:
        write(f"audit schema: {problem}", red=True)
    if len(problems) > AUDIT_PROBLEMS_SHOWN:
        write(f"audit schema: ... and {len(problems) - AUDIT_PROBLEMS_SHOWN} more", red=True)
    verdict = f"{len(problems)} INVALID" if problems else "all valid"
    write(f"audit schema: {records} records ({distinct} distinct) in {len(files)} audit files "
          f"validated against {AUDIT_SCHEMA.relative_to(REPO)} in "
          f"{time.monotonic() - started:.2f}s: {verdict}", red=bool(problems))
    if problems and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def compiled_or_skip(name: str) -> Any:
    """The compiled accelerator ``name`` (setup.py builds it when a C compiler is there).
    In CI it must be there: a missing one fails. Elsewhere it skips the calling test
    module, whose Python code then runs alone."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{name} is not built (no C compiler?): the Python code runs alone",
                    allow_module_level=True)

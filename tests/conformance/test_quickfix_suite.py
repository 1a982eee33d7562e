"""The QuickFIX server acceptance suite (../shared/conformance), run against our server.

Both version folders run in parallel against one server, as the suite allows;
each .def script then is one test here, named after the script.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED, FixServer, free_port

SUITE = SHARED / "conformance" / "quickfix"
RUNNER = SHARED / "tools" / "run_defs.py"
VERSIONS = ("fix42", "fix44")
# The runner's own closing lines, shown in pytest's terminal summary (tests/conftest.py).
SUMMARY: list[str] = []

pytestmark = pytest.mark.skipif(
    not (SUITE.is_dir() and RUNNER.is_file()),
    reason="../shared/conformance is missing: the QuickFIX acceptance suite was NOT run",
)


def _scripts() -> list[tuple[str, str]]:
    if not SUITE.is_dir():
        return [("fix44", "missing")]
    return [(v, p.stem) for v in VERSIONS for p in sorted((SUITE / v).glob("*.def"))]


@pytest.fixture(scope="module")
def suite_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("conformance")
    server = FixServer((REPO / "tests" / "conformance" / "sessions.cfg").read_text(), tmp,
                       free_port())
    server.start()
    try:
        procs = {}
        for v in VERSIONS:
            out = tmp / f"{v}.json"
            procs[v] = (out, subprocess.Popen(
                [sys.executable, str(RUNNER), str(SUITE / v), "127.0.0.1", str(server.port),
                 "--json", str(out)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        results: dict[str, dict[str, str]] = {}
        for v, (out, proc) in procs.items():
            text, _ = proc.communicate(timeout=600)
            lines = text.strip().splitlines()
            SUMMARY.append(f"QuickFIX acceptance suite {v}: "
                           f"{lines[-1] if lines else 'no output'}")
            results[v] = _read_results(out, text)
    finally:
        server.stop()
    return results


def _read_results(path: Path, text: str) -> dict[str, str]:
    if not path.exists():
        raise RuntimeError(f"the suite runner wrote no results:\n{text}")
    return {Path(r["test"]).stem: f"{r['status']}: {r['reason'] or ''}"
            for r in json.loads(path.read_text())["results"]}


@pytest.mark.parametrize(("version", "script"), _scripts())
def test_acceptance_script_passes(suite_results: dict[str, dict[str, str]], version: str,
                                  script: str) -> None:
    result = suite_results[version].get(script, "not run")
    assert result.startswith("PASS"), f"{version}/{script}: {result}"

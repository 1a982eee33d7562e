"""The admin HTTP API of a running fixserver (``web/app.py``, ``web/api.py``).

A real server runs as a subprocess (``tests.conftest.FixServer``) with the exchange
end-to-end tests' sessions and exchange.toml (``tests/exchange/exchangeclient.py``);
its HTTP listener is on ``FixServer.http_port``. Brokers connect over FIX (simplefix
client) while the tests call the API with ``http.client``, the bearer token read from
``<data-dir>/admin.token``.

One server serves the whole module; each test uses sessions, accounts, firms and
symbols of its own (or puts back what it changed), so the tests do not depend on one
another or on their order. Every broker logs on with ResetSeqNumFlag, so a session
another test used starts from 1, except in the sequence-number tests, which log on
at the numbers they set.
"""

from __future__ import annotations

import calendar
import http.client
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from audit.chain import parse
from audit.files import read_lines
from tests.conftest import REPO, FixServer, free_port
from tests.exchange.exchangeclient import (
    BUY,
    SELL,
    SESSIONS_CFG,
    VERSIONS,
    Broker,
    write_exchange_toml,
)

pytestmark = pytest.mark.slow

WAIT = 10.0     # seconds to wait for something the server does in the background


# -- HTTP ---------------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    headers: dict[str, str]     # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"HTTP {self.status} {self.body[:500]!r}"


def request(server: FixServer, method: str, path: str, body: Any = None, *,
            token: str | None = None, raw: bytes | None = None,
            authorization: str | None = None) -> Reply:
    """One request to the server's HTTP listener: ``body`` sent as JSON (``raw``: as
    is), with ``Authorization: Bearer token`` when a token is given (``authorization``:
    that header as is)."""
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=WAIT)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                     response.read())
    finally:
        conn.close()


def token_of(server: FixServer) -> str:
    return (server.data_dir / "admin.token").read_text().strip()


def wait_http(server: FixServer) -> None:
    """Until the HTTP listener answers (it starts once the exchange has recovered)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            if request(server, "GET", "/api/health").status == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.05)


class Api:
    """The admin API of ``server`` with its bearer token."""

    def __init__(self, server: FixServer) -> None:
        self.server = server
        self.token = token_of(server)

    def get(self, path: str) -> Reply:
        return request(self.server, "GET", path, token=self.token)

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None) -> Reply:
        return request(self.server, "POST", path, body, token=self.token, raw=raw)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON of a 200 reply."""
        reply = request(self.server, method, path, body, token=self.token)
        assert reply.status == 200, reply
        return reply.json()

    def session(self, sender: str) -> dict[str, Any]:
        """The /api/sessions entry of the counterparty ``sender``."""
        sid = session_id(sender)
        listed = self.ok("GET", "/api/sessions")["sessions"]
        return next(s for s in listed if s["session"] == sid)

    def wait_session(self, sender: str, predicate: Callable[[dict[str, Any]], bool],
                     what: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while not predicate(s := self.session(sender)):
            assert time.monotonic() < deadline, f"{sender}: no {what}: {s}"
            time.sleep(0.02)
        return s

    def wait_disconnected(self, sender: str) -> dict[str, Any]:
        return self.wait_session(sender, lambda s: s["state"] == "disconnected",
                                 "disconnect")


def compact(value: Any) -> str:
    """A test id: ``value`` as JSON without spaces."""
    return json.dumps(value, separators=(",", ":"))


def session_id(sender: str) -> str:
    return f"{VERSIONS[sender]}:EXCH->{sender}"


def session_path(sender: str, action: str) -> str:
    return f"/api/sessions/{quote(session_id(sender), safe='')}/{action}"


# -- Prometheus text ---------------------------------------------------------------------------

Sample = tuple[str, frozenset[tuple[str, str]]]     # a metric's name and its labels


def samples(text: str) -> dict[Sample, float]:
    """(name, labels) -> value of every sample line of a /metrics page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            name, _, labels = series.partition("{")
            out[name, frozenset(re.findall(r'(\w+)="([^"]*)"', labels))] = float(value)
    return out


def sample(name: str, **labels: str) -> Sample:
    return name, frozenset(labels.items())


def scrape(server: FixServer) -> dict[Sample, float]:
    reply = request(server, "GET", "/metrics")
    assert reply.status == 200, reply
    return samples(reply.body.decode())


# -- the audit trail -------------------------------------------------------------------------

def audit_records(server: FixServer) -> list[dict]:
    directory = server.data_dir / "audit"
    if not directory.exists():
        return []
    return [parse(line) for _, _, line in read_lines(directory)]


def wait_audit(server: FixServer, done: Callable[[list[dict]], bool]) -> list[dict]:
    """The audit records, once ``done`` holds for them (the trail is written by a
    process of its own, a little after the change)."""
    deadline = time.monotonic() + WAIT
    while not done(got := audit_records(server)):
        assert time.monotonic() < deadline, (got[-8:], server.log()[-3000:])
        time.sleep(0.05)
    return got


# -- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixServer]:
    directory = tmp_path_factory.mktemp("web-api")
    write_exchange_toml(directory)
    server = FixServer(SESSIONS_CFG, directory, free_port())
    server.start()
    try:
        wait_http(server)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(server: FixServer) -> Api:
    return Api(server)


@pytest.fixture
def login(server: FixServer, api: Api) -> Iterator[Callable[..., Broker]]:
    """login("BRK1") -> a Broker logged on with ResetSeqNumFlag; login("DC2",
    next_seq=20, reset=False) logs on at that MsgSeqNum instead. At the end each is
    closed, and the server has seen it go (the next test may log the session on)."""
    opened: list[Broker] = []

    def make(sender: str, next_seq: int = 1, reset: bool = True) -> Broker:
        broker = Broker(server.port, sender, next_seq)
        opened.append(broker)
        broker.logon(reset=reset)
        return broker

    yield make
    for broker in opened:
        broker.close()
    for sender in {b.sender for b in opened}:
        api.wait_disconnected(sender)


def trade(brk2: Broker, brk3: Broker, symbol: str, qty: int, price: str,
          tag: str) -> None:
    """BRK3 sells ``qty`` at ``price`` and BRK2 buys all of it: one trade, nothing left
    in the book; after their ExecutionReports."""
    brk3.rest(f"S-{tag}", SELL, qty, price, symbol=symbol)
    brk2.new_order(f"B-{tag}", BUY, qty, price, symbol=symbol)
    assert [er[39] for er in brk2.ers(2)] == ["0", "2"]
    assert brk3.er()[39] == "2"


# -- health, readiness and the token -----------------------------------------------------------

def test_health_answers_without_a_token(server: FixServer) -> None:
    reply = request(server, "GET", "/api/health")
    assert reply.status == 200, reply
    body = reply.json()
    assert body["status"] == "live"
    assert isinstance(body["last_seq"], int)


def test_ready_answers_200_without_a_token_with_each_check(server: FixServer) -> None:
    reply = request(server, "GET", "/api/ready")
    assert reply.status == 200, reply
    assert reply.json() == {"ready": True, "checks": {
        "recovered": True, "journal_writable": True, "consumers_within_lag": True}}


GUARDED = [  # (method, path, a body that would be valid with the token)
    ("GET", "/api/sessions", None), ("GET", "/api/phases", None),
    ("GET", "/api/killswitches", None), ("GET", "/api/books", None),
    ("GET", "/api/books/AAPL", None), ("GET", "/api/trades", None),
    ("GET", "/api/accounts", None), ("GET", "/api/accounts/BRK1-MAIN", None),
    ("GET", "/api/alerts", None), ("GET", "/api/stream", None),
    ("POST", "/api/snapshot", None), ("POST", "/api/phases/AAPL/halt", None),
    ("POST", "/api/phases/AAPL", {"phase": "halted"}),
    ("POST", "/api/killswitches/account/BRK1-MAIN", {"on": True}),
    ("POST", session_path("BRK1", "disconnect"), {"reason": "no"}),
    ("POST", session_path("BRK1", "sequence"), {"reset": True}),
]
WRONG = {"no-token": None, "wrong-token": "Bearer not-the-token",
         "basic-scheme": "Basic {token}", "empty-bearer": "Bearer "}


@pytest.mark.parametrize("how", WRONG)
@pytest.mark.parametrize(("method", "path", "body"), GUARDED,
                         ids=[f"{m}:{p}" for m, p, _ in GUARDED])
def test_any_other_api_route_without_the_token_is_401_with_a_reason_and_www_authenticate(
        server: FixServer, api: Api, method: str, path: str, body: Any, how: str) -> None:
    header = WRONG[how]
    reply = request(server, method, path, body,
                    authorization=None if header is None else header.format(token=api.token))
    assert reply.status == 401, reply
    assert reply.headers["content-type"].startswith("application/json")
    assert "bearer token" in reply.json()["error"]
    assert reply.headers["www-authenticate"].startswith("Bearer")


def test_a_refused_request_changes_nothing(server: FixServer, api: Api) -> None:
    assert request(server, "POST", "/api/phases/AAPL/halt").status == 401
    assert request(server, "POST", "/api/killswitches/account/BRK1-MAIN",
                   {"on": True}).status == 401
    assert api.ok("GET", "/api/phases")["phases"]["AAPL"] == "continuous"
    assert api.ok("GET", "/api/killswitches")["killed"]["account"] == []


def test_the_token_file_is_made_0600_at_the_first_start_and_kept_across_a_restart(
        tmp_path: Path, server_factory) -> None:
    write_exchange_toml(tmp_path / "token")
    server = server_factory(SESSIONS_CFG, "token")
    wait_http(server)
    path = server.data_dir / "admin.token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = token_of(server)
    assert len(token) >= 32
    assert f"operator page on http://127.0.0.1:{server.http_port}/" in server.log()
    assert "(made now, mode 0600)" in server.log()
    server.restart()
    wait_http(server)
    assert token_of(server) == token
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert server.log().count("(made now, mode 0600)") == 1     # the first start only
    assert request(server, "GET", "/api/sessions", token=token).status == 200


def test_a_token_file_others_can_read_is_narrowed_to_0600_and_used(
        tmp_path: Path, server_factory) -> None:
    directory = tmp_path / "narrowed"
    write_exchange_toml(directory)
    path = directory / "admin.token"
    path.write_text("a-token-the-operator-chose\n")
    path.chmod(0o644)
    server = server_factory(SESSIONS_CFG, "narrowed")
    wait_http(server)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "could be read by others (mode 644): narrowed to 0600" in server.log()
    assert request(server, "GET", "/api/sessions",
                   token="a-token-the-operator-chose").status == 200


# -- /metrics --------------------------------------------------------------------------------

def test_metrics_need_no_token_and_show_the_fixserver_metrics(server: FixServer) -> None:
    reply = request(server, "GET", "/metrics")
    assert reply.status == 200, reply
    assert reply.headers["content-type"].startswith("text/plain")
    text = reply.body.decode()
    kinds = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    assert {"fixserver_orders_total": "counter", "fixserver_trades_total": "counter",
            "fixserver_session_logged_on": "gauge", "fixserver_trading_phase": "gauge",
            "fixserver_last_seq": "gauge", "fixserver_stage_seconds": "histogram",
            }.items() <= kinds.items(), kinds
    assert samples(text)[sample("fixserver_trading_phase", symbol="AAPL",
                                phase="continuous")] == 1


def test_metrics_count_a_trades_orders_and_the_trade_for_its_symbol(
        server: FixServer, login) -> None:
    orders = sample("fixserver_orders_total", symbol="MSFT")
    trades = sample("fixserver_trades_total", symbol="MSFT")
    volume = sample("fixserver_volume_total", symbol="MSFT")
    before = scrape(server)
    trade(login("BRK2"), login("BRK3"), "MSFT", 10, "420.00", "metrics")
    deadline = time.monotonic() + WAIT
    while (after := scrape(server)).get(trades, 0) == before.get(trades, 0):
        assert time.monotonic() < deadline, (before, after)
        time.sleep(0.05)
    assert after[orders] - before.get(orders, 0) == 2
    assert after[trades] - before.get(trades, 0) == 1
    assert after[volume] - before.get(volume, 0) == 10


def test_metrics_show_a_logged_on_broker_as_session_logged_on_1(
        server: FixServer, login) -> None:
    logged_on = sample("fixserver_session_logged_on", session=session_id("BRK2"),
                       application="exchange")
    assert scrape(server)[logged_on] == 0
    login("BRK2")
    assert scrape(server)[logged_on] == 1


# -- sessions --------------------------------------------------------------------------------

def test_sessions_lists_every_session_with_state_and_sequence_numbers(api: Api) -> None:
    listed = api.ok("GET", "/api/sessions")["sessions"]
    assert sorted(s["session"] for s in listed) == sorted(session_id(c) for c in VERSIONS)
    for s in listed:
        assert s["state"] in ("disconnected", "awaiting_logon", "logged_on", "logout_sent")
        assert isinstance(s["next_sender_seq"], int) and s["next_sender_seq"] >= 1
        assert isinstance(s["next_target_seq"], int) and s["next_target_seq"] >= 1
        assert isinstance(s["logged_on"], bool)
        assert s["application"] in ("exchange", "dropcopy", "marketdata")


def test_a_logged_on_session_shows_its_peer_and_logon_time(api: Api, login) -> None:
    started = time.time()
    md1 = login("MD1")
    host, port = md1.sock.getsockname()[:2]
    s = api.session("MD1")
    assert (s["state"], s["logged_on"], s["peer"]) == ("logged_on", True, f"{host}:{port}")
    logon_time = calendar.timegm(time.strptime(s["logon_time"], "%Y-%m-%dT%H:%M:%SZ"))
    assert started - 2 <= logon_time <= time.time() + 1, s["logon_time"]
    assert (s["next_sender_seq"], s["next_target_seq"]) == (2, 2)   # after the Logons


def test_a_session_never_logged_on_shows_no_peer_and_no_logon_time(api: Api) -> None:
    s = api.session("DC1")     # no test logs DC1 on
    assert (s["state"], s["logged_on"], s["peer"], s["logon_time"], s["logons"]) == \
        ("disconnected", False, None, None, 0)


def test_disconnect_logs_the_broker_out_with_the_reason_as_the_logouts_text(
        api: Api, login) -> None:
    brk2 = login("BRK2")
    reply = api.ok("POST", session_path("BRK2", "disconnect"), {"reason": "fire drill"})
    assert reply == {"ok": True, "session": session_id("BRK2"),
                     "reason": "operator: fire drill"}
    logout = brk2.next_of("5")
    assert "fire drill" in logout[58], logout
    s = api.wait_disconnected("BRK2")
    assert (s["logged_on"], s["peer"]) == (False, None)


def test_disconnect_without_a_reason_says_operator_disconnect(api: Api, login) -> None:
    brk2 = login("BRK2")
    assert api.ok("POST", session_path("BRK2", "disconnect"))["reason"] == \
        "operator disconnect"
    assert brk2.next_of("5")[58] == "operator disconnect"
    api.wait_disconnected("BRK2")


def test_disconnecting_a_session_that_is_not_connected_is_409(api: Api) -> None:
    api.wait_disconnected("DC1")
    reply = api.post(session_path("DC1", "disconnect"), {"reason": "x"})
    assert reply.status == 409, reply
    assert "not connected" in reply.json()["error"]


def test_disconnecting_an_unknown_session_is_404(api: Api) -> None:
    reply = api.post("/api/sessions/FIX.4.4%3AEXCH-%3ENOBODY/disconnect")
    assert reply.status == 404, reply
    assert "unknown session" in reply.json()["error"]


def test_disconnect_with_a_reason_that_is_not_a_string_is_400(api: Api, login) -> None:
    login("BRK2")
    reply = api.post(session_path("BRK2", "disconnect"), {"reason": 5})
    assert reply.status == 400, reply
    assert api.session("BRK2")["logged_on"] is True


def test_disconnect_with_a_reason_holding_the_fix_delimiter_is_400_and_keeps_the_session(
        api: Api, login) -> None:
    brk2 = login("BRK2")       # SOH in the reason would end Text (58) and add fields
    reply = api.post(session_path("BRK2", "disconnect"), {"reason": "drill\x0110=000\x01"})
    assert reply.status == 400, reply
    assert "reason" in reply.json()["error"]
    brk2.quiet()
    assert api.session("BRK2")["logged_on"] is True


# -- sequence numbers --------------------------------------------------------------------------

def logged_out(api: Api, login, sender: str) -> None:
    """``sender`` logs on and out again, and the session shows disconnected."""
    login(sender).logout_and_close()
    api.wait_disconnected(sender)


def test_sequence_sets_a_logged_out_sessions_next_numbers_for_its_next_logon(
        api: Api, login) -> None:
    logged_out(api, login, "DC2")
    reply = api.ok("POST", session_path("DC2", "sequence"),
                   {"next_sender_seq": 30, "next_target_seq": 20})
    assert reply == {"ok": True, "session": session_id("DC2"), "next_sender_seq": 30,
                     "next_target_seq": 20}
    s = api.session("DC2")
    assert (s["next_sender_seq"], s["next_target_seq"]) == (30, 20)
    dc2 = login("DC2", next_seq=20, reset=False)       # MsgSeqNum 20 is what it expects
    assert dc2.last_seq_in == 30                       # and its Logon answer is 30
    s = api.session("DC2")
    assert (s["logged_on"], s["next_sender_seq"], s["next_target_seq"]) == (True, 31, 21)


def test_sequence_may_set_only_one_of_the_numbers(api: Api, login) -> None:
    logged_out(api, login, "DC2")
    before = api.session("DC2")["next_target_seq"]
    assert api.ok("POST", session_path("DC2", "sequence"),
                  {"next_sender_seq": 12})["next_sender_seq"] == 12
    s = api.session("DC2")
    assert (s["next_sender_seq"], s["next_target_seq"]) == (12, before)


def test_sequence_reset_sets_both_numbers_to_1(api: Api, login) -> None:
    logged_out(api, login, "DC2")
    api.ok("POST", session_path("DC2", "sequence"), {"next_sender_seq": 40,
                                                     "next_target_seq": 50})
    reply = api.ok("POST", session_path("DC2", "sequence"), {"reset": True})
    assert (reply["next_sender_seq"], reply["next_target_seq"]) == (1, 1)
    dc2 = login("DC2", next_seq=1, reset=False)
    assert dc2.last_seq_in == 1


def test_sequence_on_a_connected_session_is_409(api: Api, login) -> None:
    login("DC2")
    before = api.session("DC2")
    reply = api.post(session_path("DC2", "sequence"), {"next_sender_seq": 99})
    assert reply.status == 409, reply
    assert "connected" in reply.json()["error"]
    assert api.session("DC2")["next_sender_seq"] == before["next_sender_seq"]


def test_sequence_of_an_unknown_session_is_404(api: Api) -> None:
    reply = api.post("/api/sessions/NOBODY/sequence", {"reset": True})
    assert reply.status == 404, reply


@pytest.mark.parametrize("body", [
    {"next_sender_seq": 0}, {"next_target_seq": -3}, {"next_sender_seq": "5"},
    {"next_sender_seq": 2.5}, {"next_sender_seq": True}, {"next_sender_seq": None},
    {}, {"reset": False}, {"reset": True, "next_sender_seq": 3}, {"next_seq": 4},
], ids=compact)
def test_sequence_with_bad_values_is_400_and_changes_nothing(api: Api, body: dict) -> None:
    api.wait_disconnected("DC1")
    before = api.session("DC1")
    reply = api.post(session_path("DC1", "sequence"), body)
    assert reply.status == 400, reply
    assert reply.json()["error"]
    after = api.session("DC1")
    assert (after["next_sender_seq"], after["next_target_seq"]) == \
        (before["next_sender_seq"], before["next_target_seq"])


# -- trading phases ----------------------------------------------------------------------------

def test_halt_halts_the_symbol_and_its_new_orders_are_rejected_until_resume(
        api: Api, login) -> None:
    brk1 = login("BRK1")
    try:
        reply = api.ok("POST", "/api/phases/AAPL/halt")
        assert (reply["phase"], reply["changed"]) == ("halted", ["AAPL"])
        phases = api.ok("GET", "/api/phases")["phases"]
        assert phases["AAPL"] == "halted"
        assert phases["MSFT"] == "continuous"
        brk1.new_order("H1", BUY, 10, "189.00")
        er = brk1.er()
        assert (er[150], er[39]) == ("8", "8"), er
        assert "halted" in er[58], er
    finally:
        resumed = api.ok("POST", "/api/phases/AAPL/resume")
    assert resumed["changed"] == ["AAPL"]
    assert api.ok("GET", "/api/phases")["phases"]["AAPL"] == "continuous"
    brk1.rest("H2", BUY, 10, "187.00")            # trading again


def test_a_phase_may_be_set_by_name(api: Api) -> None:
    try:
        assert api.ok("POST", "/api/phases/XOM", {"phase": "PRE_OPEN"})["changed"] == ["XOM"]
        assert api.ok("GET", "/api/phases")["phases"]["XOM"] == "pre_open"
    finally:
        api.ok("POST", "/api/phases/XOM/open")
    assert api.ok("GET", "/api/phases")["phases"]["XOM"] == "continuous"


def test_a_phase_of_an_unknown_symbol_is_404(api: Api) -> None:
    reply = api.post("/api/phases/NOPE/halt")
    assert reply.status == 404, reply
    assert "unknown symbol" in reply.json()["error"]


def test_an_unknown_phase_action_is_404(api: Api) -> None:
    reply = api.post("/api/phases/AAPL/explode")
    assert reply.status == 404, reply
    assert "unknown action" in reply.json()["error"]
    assert api.ok("GET", "/api/phases")["phases"]["AAPL"] == "continuous"


@pytest.mark.parametrize("body", [{}, {"phase": 3}, {"phase": "sideways"}], ids=compact)
def test_a_phase_by_name_without_a_known_phase_is_400(api: Api, body: dict) -> None:
    reply = api.post("/api/phases/AAPL", body)
    assert reply.status == 400, reply
    assert reply.json()["error"]


# -- kill switches -----------------------------------------------------------------------------

def test_kill_switch_on_an_account_cancels_its_open_orders_and_is_listed(
        api: Api, login) -> None:
    brk1 = login("BRK1")
    brk1.rest("K1", BUY, 10, "180.00", account="BRK1-PROP")
    brk1.rest("K2", BUY, 20, "180.50", account="BRK1-PROP")
    brk1.rest("K3", BUY, 30, "180.00", account="BRK1-MAIN")
    try:
        reply = api.ok("POST", "/api/killswitches/account/BRK1-PROP", {"on": True})
        assert (reply["ok"], reply["was_on"], reply["cancelled"]) == (True, False, 2)
        cancels = brk1.ers(2)
        assert sorted((er[11], er[150], er[39]) for er in cancels) == \
            [("K1", "4", "4"), ("K2", "4", "4")]
        brk1.quiet()                                        # K3 stays
        killed = api.ok("GET", "/api/killswitches")["killed"]
        assert killed == {"firm": [], "account": ["BRK1-PROP"], "session": []}
    finally:
        lifted = api.ok("POST", "/api/killswitches/account/BRK1-PROP", {"on": False})
    assert lifted["was_on"] is True
    assert api.ok("GET", "/api/killswitches")["killed"]["account"] == []


@pytest.mark.parametrize("body", [{"on": "yes"}, {"on": 1}, {}, {"on": None}],
                         ids=compact)
def test_kill_switch_on_that_is_not_true_or_false_is_400(api: Api, body: dict) -> None:
    reply = api.post("/api/killswitches/account/BRK1-PROP", body)
    assert reply.status == 400, reply
    assert '"on"' in reply.json()["error"]
    assert api.ok("GET", "/api/killswitches")["killed"]["account"] == []


def test_kill_switch_of_an_unknown_scope_is_404(api: Api) -> None:
    reply = api.post("/api/killswitches/desk/BRK1-PROP", {"on": True})
    assert reply.status == 404, reply


def test_kill_switch_of_an_unknown_account_is_refused(api: Api) -> None:
    reply = api.post("/api/killswitches/account/NOBODY", {"on": True})
    assert reply.status in (400, 404), reply
    assert "NOBODY" in reply.json()["error"]
    assert api.ok("GET", "/api/killswitches")["killed"]["account"] == []


# -- books, trades, accounts -------------------------------------------------------------------

def test_book_with_depth_shows_the_top_levels_with_decimal_string_prices(
        api: Api, login) -> None:
    brk1 = login("BRK1")      # CancelOnDisconnect=Y: its orders go when it does
    for cl, side, qty, px in [("D1", BUY, 100, "188.50"), ("D2", BUY, 50, "188.50"),
                              ("D3", BUY, 70, "188.25"), ("D4", BUY, 90, "188.00"),
                              ("D5", SELL, 40, "191.75"), ("D6", SELL, 60, "191.50"),
                              ("D7", SELL, 80, "192.00")]:
        brk1.rest(cl, side, qty, px)
    book = api.ok("GET", "/api/books/AAPL?depth=2")
    assert (book["symbol"], book["phase"]) == ("AAPL", "continuous")
    assert all(isinstance(lv["price"], str) for lv in book["bids"] + book["asks"])
    assert [(Decimal(lv["price"]), lv["qty"], lv["orders"]) for lv in book["bids"]] == \
        [(Decimal("188.50"), 150, 2), (Decimal("188.25"), 70, 1)]
    assert [(Decimal(lv["price"]), lv["qty"], lv["orders"]) for lv in book["asks"]] == \
        [(Decimal("191.50"), 60, 1), (Decimal("191.75"), 40, 1)]
    assert book["bids"][0]["price"] == "188.5"


def test_books_lists_every_symbol(api: Api) -> None:
    books = api.ok("GET", "/api/books?depth=1")["books"]
    assert [b["symbol"] for b in books] == ["AAPL", "MSFT", "XOM"]
    assert all(len(b["bids"]) <= 1 and len(b["asks"]) <= 1 for b in books)


@pytest.mark.parametrize("depth", ["0", "99", "-1", "two", ""])
def test_book_depth_out_of_range_is_400(api: Api, depth: str) -> None:
    reply = api.get(f"/api/books/AAPL?depth={depth}")
    assert reply.status == 400, reply
    assert "depth" in reply.json()["error"]


def test_book_of_an_unknown_symbol_is_404(api: Api) -> None:
    assert api.get("/api/books/NOPE").status == 404


def test_trades_are_newest_first_and_filtered_by_symbol(api: Api, login) -> None:
    brk2, brk3 = login("BRK2"), login("BRK3")
    trade(brk2, brk3, "AAPL", 11, "190.00", "t1")
    trade(brk2, brk3, "AAPL", 22, "190.25", "t2")
    trade(brk2, brk3, "MSFT", 33, "420.00", "t3")
    deadline = time.monotonic() + WAIT
    while (latest := api.ok("GET", "/api/trades")["trades"])[:1] == [] \
            or latest[0]["qty"] != 33:
        assert time.monotonic() < deadline, latest
        time.sleep(0.05)
    assert [(t["symbol"], t["qty"]) for t in latest[:3]] == \
        [("MSFT", 33), ("AAPL", 22), ("AAPL", 11)]
    seqs = [t["seq"] for t in latest]
    assert seqs == sorted(seqs, reverse=True)
    aapl = api.ok("GET", "/api/trades?symbol=AAPL")["trades"]
    assert {t["symbol"] for t in aapl} == {"AAPL"}
    assert [(t["price"], t["qty"]) for t in aapl[:2]] == [("190.25", 22), ("190", 11)]
    assert aapl[0]["aggressor"] == "BUY"
    assert api.ok("GET", "/api/trades?symbol=AAPL&limit=1")["trades"] == aapl[:1]


@pytest.mark.parametrize(("query", "status"), [("symbol=NOPE", 404), ("limit=0", 400),
                                               ("limit=100000", 400), ("limit=x", 400)])
def test_trades_with_a_bad_query_are_refused(api: Api, query: str, status: int) -> None:
    assert api.get(f"/api/trades?{query}").status == status


def test_accounts_lists_every_account_with_decimal_string_balances(api: Api) -> None:
    accounts = {a["name"]: a for a in api.ok("GET", "/api/accounts")["accounts"]}
    assert {"BRK1-MAIN", "BRK1-PROP", "BRK2-MAIN", "BRK3-MAIN"} <= set(accounts)
    main = accounts["BRK1-MAIN"]
    assert main["firm"] == "BROKER1"
    assert all(isinstance(main[k], str) for k in ("cash", "reserved", "buying_power"))
    Decimal(main["cash"])


def test_one_account_shows_its_balances_and_positions(api: Api) -> None:
    account = api.ok("GET", "/api/accounts/BRK3-MAIN")
    assert (account["name"], account["firm"]) == ("BRK3-MAIN", "BROKER3")
    assert set(account["positions"]) >= {"AAPL", "MSFT", "XOM"}
    assert isinstance(account["open_orders"], int)


def test_an_unknown_account_is_404(api: Api) -> None:
    reply = api.get("/api/accounts/NOBODY")
    assert reply.status == 404, reply
    assert "unknown account" in reply.json()["error"]


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"not-json", b'{"on":tru', b"[true]", b'"on"'],
                         ids=["text", "cut-short", "an-array", "a-string"])
def test_a_body_that_is_not_a_json_object_is_400(api: Api, raw: bytes) -> None:
    reply = api.post("/api/killswitches/account/BRK1-PROP", raw=raw)
    assert reply.status == 400, reply
    assert "JSON" in reply.json()["error"]


def test_a_body_over_16_kib_is_413(api: Api) -> None:
    reply = api.post("/api/killswitches/account/BRK1-PROP",
                     raw=b'{"on": true, "pad": "' + b"x" * 17_000 + b'"}')
    assert reply.status == 413, reply
    assert api.ok("GET", "/api/killswitches")["killed"]["account"] == []


def test_a_get_on_a_post_route_is_405_json(api: Api) -> None:
    reply = api.get("/api/phases/AAPL/halt")
    assert reply.status == 405, reply
    assert reply.headers["content-type"].startswith("application/json")
    assert "GET" in reply.json()["error"]
    assert api.ok("GET", "/api/phases")["phases"]["AAPL"] == "continuous"


def test_an_unknown_route_is_404_json(api: Api) -> None:
    reply = api.get("/api/nowhere")
    assert reply.status == 404, reply
    assert reply.headers["content-type"].startswith("application/json")
    assert "/api/nowhere" in reply.json()["error"]


# -- snapshots --------------------------------------------------------------------------------

def test_snapshot_writes_one_and_reports_its_seq(api: Api) -> None:
    deadline = time.monotonic() + WAIT
    while (reply := api.post("/api/snapshot")).status != 200:   # the snapshotter starts
        assert time.monotonic() < deadline, reply
        time.sleep(0.05)
    body = reply.json()
    assert body["ok"] is True
    assert 0 <= body["snapshot"]["seq"] <= api.ok("GET", "/api/health")["last_seq"]
    assert "event" not in body["snapshot"]


def test_a_snapshot_asked_before_the_snapshotter_is_ready_is_409_never_500(
        tmp_path: Path, server_factory) -> None:
    write_exchange_toml(tmp_path / "early")
    server = server_factory(SESSIONS_CFG, "early")
    wait_http(server)       # the snapshotter starts after the ports open: asked at once
    token = token_of(server)
    deadline = time.monotonic() + WAIT
    while (reply := request(server, "POST", "/api/snapshot", token=token)).status != 200:
        assert reply.status == 409, reply
        assert "snapshotter" in reply.json()["error"]
        assert time.monotonic() < deadline, reply
        time.sleep(0.02)
    assert "POST /api/snapshot failed" not in server.log()


# -- the live stream ---------------------------------------------------------------------------

def test_stream_sends_a_state_event_with_books_sessions_and_rates(server: FixServer,
                                                                  api: Api) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=WAIT)
    try:
        conn.request("GET", "/api/stream", headers={"Authorization": f"Bearer {api.token}"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("content-type", "").startswith("text/event-stream")
        lines = []
        while len(lines) < 20 and not (lines and lines[-1].startswith("data: ")):
            line = response.readline().decode()
            assert line, "the stream ended"
            lines.append(line.rstrip("\n"))
    finally:
        conn.close()
    assert lines[-2:-1] == ["event: state"], lines
    state = json.loads(lines[-1].removeprefix("data: "))
    assert {"books", "sessions", "rates"} <= set(state)
    assert [b["symbol"] for b in state["books"]] == ["AAPL", "MSFT", "XOM"]
    assert len(state["sessions"]) == len(VERSIONS)
    assert {"orders_per_s", "trades_per_s", "messages_per_s"} <= set(state["rates"])


# -- the audit trail ---------------------------------------------------------------------------

def test_every_change_made_through_the_api_is_in_the_audit_trail(
        server: FixServer, api: Api, login) -> None:
    login("BRK3")
    api.ok("POST", session_path("BRK3", "disconnect"), {"reason": "audit drill"})
    api.wait_disconnected("BRK3")
    api.ok("POST", session_path("BRK3", "sequence"), {"next_sender_seq": 70,
                                                      "next_target_seq": 80})
    api.ok("POST", session_path("BRK3", "sequence"), {"reset": True})
    api.ok("POST", "/api/killswitches/firm/BROKER3", {"on": True})
    api.ok("POST", "/api/killswitches/firm/BROKER3", {"on": False})
    api.ok("POST", "/api/phases/MSFT/halt")
    api.ok("POST", "/api/phases/MSFT/resume")
    sid = session_id("BRK3")

    def actions(records: list[dict]) -> list[tuple[str, str]]:
        return [(r["action"], r["detail"]) for r in records
                if r["event_type"] == "OPERATOR_ACTION" and r["target"] == sid]

    def done(records: list[dict]) -> bool:
        return any(r["event_type"] == "PHASE_CHANGED" and r["symbol"] == "MSFT"
                   and r["new_phase"] == "CONTINUOUS" for r in records)

    got = wait_audit(server, done)
    acted = actions(got)
    assert ("DISCONNECT_SESSION", "operator: audit drill") in acted, acted
    assert any(a == "SET_SEQUENCE_NUMBERS" and d.startswith(
        "next_sender_seq=70 next_target_seq=80") for a, d in acted), acted
    assert ("RESET_SEQUENCE_NUMBERS", "from 70:80 to 1:1") in acted, acted
    logouts = [r for r in got if r["event_type"] == "SESSION_LOGOUT"
               and r["session"] == sid and r["reason"] == "operator: audit drill"]
    assert len(logouts) == 1, [r for r in got if r["event_type"] == "SESSION_LOGOUT"]
    kills = [(r["scope"], r["name"], r["on"]) for r in got
             if r["event_type"] == "KILL_SWITCH" and r["name"] == "BROKER3"]
    assert kills == [("firm", "BROKER3", True), ("firm", "BROKER3", False)]
    phases = [(r["old_phase"], r["new_phase"]) for r in got
              if r["event_type"] == "PHASE_CHANGED" and r["symbol"] == "MSFT"]
    assert phases[-2:] == [("CONTINUOUS", "HALTED"), ("HALTED", "CONTINUOUS")]
    disconnect = next(r for r in got if r["event_type"] == "OPERATOR_ACTION"
                      and r["target"] == sid and r["action"] == "DISCONNECT_SESSION")
    assert disconnect["seq"] < logouts[0]["seq"]     # journaled before what it causes


# -- fixserver-admin beside the HTTP API -------------------------------------------------------

def fixserver_admin(server: FixServer, *words: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "venue.admin", "--data-dir",
                           str(server.data_dir), *words],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout)


def test_fixserver_admin_phases_still_works_beside_the_http_api(server: FixServer,
                                                                api: Api) -> None:
    reply = fixserver_admin(server, "phases")
    assert reply["ok"] is True
    assert reply["phases"] == api.ok("GET", "/api/phases")["phases"]
    try:
        fixserver_admin(server, "halt", "XOM")
        assert api.ok("GET", "/api/phases")["phases"]["XOM"] == "halted"
    finally:
        api.ok("POST", "/api/phases/XOM/resume")
    assert fixserver_admin(server, "phases")["phases"]["XOM"] == "continuous"

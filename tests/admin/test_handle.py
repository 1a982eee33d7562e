"""venue.admin.handle: the operator's requests against a real Exchange.

The exchange runs on the shipped exchange.toml (fsync off) in a temporary data
directory with the shipped sessions, as in tests/venue/test_exchange_recovery.py
(whose ``Running`` is reused): what a session sent is read back from its store.
No socket is opened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.constants import BUY, MARKET
from tests.venue.support import px
from tests.venue.test_exchange_recovery import B1, B2, Running, new, relaxed_config
from venue.admin import handle
from venue.exchange import Exchange


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    running = Running(tmp_path)
    yield running
    running.close()


def ask(running: Running, line: str) -> dict[str, Any]:
    reply = handle(running.exchange, line)
    assert "\n" not in reply
    return json.loads(reply)


def ok(running: Running, line: str) -> dict[str, Any]:
    reply = ask(running, line)
    assert reply["ok"] is True, reply
    return reply


# -- kill and lift ---------------------------------------------------------------------------

def test_kill_account_sends_the_cancel_of_its_resting_order_before_replying(
        running: Running) -> None:
    running.run([new(B1, "o1", BUY, 100, px("189.00"))])
    ok(running, "kill account BRK1-MAIN")
    last = running.sent(B1)[-1]
    assert (last[35], last[11], last[150], last[39]) == (b"8", b"o1", b"4", b"4")
    assert b"kill switch of account BRK1-MAIN" in last[58]


def test_kill_reply_counts_the_orders_it_cancelled(running: Running) -> None:
    running.run([new(B1, "o1", BUY, 100, px("189.00")), new(B1, "o2", BUY, 10, px("188.00")),
                 new(B2, "o3", BUY, 10, px("189.00"))])
    assert ok(running, "kill account BRK1-MAIN")["cancelled"] == 2


def test_kill_leaves_other_accounts_orders_resting(running: Running) -> None:
    running.run([new(B1, "o1", BUY, 100, px("189.00")), new(B2, "o3", BUY, 10, px("189.00"))])
    ok(running, "kill account BRK1-MAIN")
    assert [o.cl_ord_id for o in running.exchange.engine.orders.values()] == ["o3"]


def test_new_order_of_a_killed_account_is_rejected_by_the_kill_switch(
        running: Running) -> None:
    ok(running, "kill account BRK1-MAIN")
    running.run([new(B1, "o1", BUY, 100, px("189.00"))])
    last = running.sent(B1)[-1]
    assert (last[150], last[103]) == (b"8", b"99")
    assert last[58] == b"kill switch of account BRK1-MAIN is on"


def test_lift_lets_the_account_trade_again(running: Running) -> None:
    ok(running, "kill account BRK1-MAIN")
    ok(running, "lift account BRK1-MAIN")
    running.run([new(B1, "o1", BUY, 100, px("189.00"))])
    assert running.sent(B1)[-1][150] == b"0"


def test_kill_reply_says_whether_the_switch_was_already_on(running: Running) -> None:
    first = ok(running, "kill firm BROKER1")
    second = ok(running, "kill firm BROKER1")
    assert (first["was_on"], second["was_on"]) == (False, True)


def test_lift_reply_says_whether_the_switch_was_on(running: Running) -> None:
    assert ok(running, "lift account BRK1-MAIN")["was_on"] is False


def test_kill_firm_turns_on_the_firms_switch(running: Running) -> None:
    ok(running, "kill firm BROKER1")
    assert running.exchange.risk.killed_firms == {"BROKER1"}


def test_kill_session_takes_a_session_id(running: Running) -> None:
    ok(running, f"kill session {B1}")
    assert running.exchange.risk.killed_sessions == {B1}


def test_command_and_scope_words_are_case_insensitive(running: Running) -> None:
    ok(running, "KILL Account BRK1-MAIN")
    assert running.exchange.risk.killed_accounts == {"BRK1-MAIN"}


def test_a_kill_is_journaled_and_survives_a_restart(tmp_path: Path) -> None:
    first = Running(tmp_path)
    ok(first, "kill account BRK1-MAIN")
    first.close()
    second = Running(tmp_path)
    killed = ok(second, "killed")["killed"]
    second.close()
    assert killed == {"firm": [], "account": ["BRK1-MAIN"], "session": []}


def test_a_refused_kill_journals_nothing(running: Running) -> None:
    ask(running, "kill account NOPE")
    assert (running.exchange.pending, running.exchange.commands) == (0, 0)


# -- trading phases --------------------------------------------------------------------------

def test_phases_lists_every_instrument_continuous_on_a_fresh_exchange(running: Running
                                                                     ) -> None:
    phases = ok(running, "phases")["phases"]
    assert set(phases) == set(running.exchange.engine.books)
    assert set(phases.values()) == {"continuous"}


def test_halt_of_one_symbol_refuses_its_new_orders_until_resume(running: Running) -> None:
    assert ok(running, "halt AAPL")["changed"] == ["AAPL"]
    running.run([new(B1, "h1", BUY, 100, px("189.00"))])
    last = running.sent(B1)[-1]
    assert (last[11], last[39]) == (b"h1", b"8")
    assert ok(running, "phases")["phases"]["MSFT"] == "continuous"
    ok(running, "resume AAPL")
    running.run([new(B1, "h2", BUY, 100, px("189.00"))])
    assert (running.sent(B1)[-1][11], running.sent(B1)[-1][39]) == (b"h2", b"0")


def test_leaving_an_opening_auction_uncrosses_the_book_and_reports_the_fills(
        running: Running) -> None:
    ok(running, "phase AAPL opening_auction")
    running.run([new(B1, "a1", BUY, 100, px("190.00")), new(B2, "a2", 2, 60, px("189.00"))])
    assert [m[39] for m in running.sent(B1)[-1:]] == [b"0"]        # collected, no trade
    ok(running, "phase AAPL continuous")
    fill = running.sent(B1)[-1]        # FIX 4.4
    assert (fill[11], fill[150], fill[32], fill[151]) == (b"a1", b"F", b"60", b"40")


def test_a_market_order_of_the_call_trades_in_the_uncross_and_its_rest_is_cancelled(
        running: Running) -> None:
    ok(running, "phase AAPL opening_auction")
    running.run([new(B2, "s1", 2, 60, px("189.00")),
                 new(B1, "m1", BUY, 100, 0, ord_type=MARKET)])
    assert running.sent(B1)[-1][39] == b"0"          # accepted: it waits for the uncross
    ok(running, "phase AAPL continuous")
    fill, cancel = running.sent(B1)[-2:]
    # 60 execute anywhere from 189 to the buy's protection price: at the reference, 190.
    assert (fill[11], fill[150], fill[32], fill[31]) == (b"m1", b"F", b"60", b"190")
    assert (cancel[11], cancel[150], cancel[39], cancel[151]) == (b"m1", b"4", b"4", b"0")
    assert cancel[58] == b"market order remainder: not executed in the auction"


def test_phase_all_moves_every_instrument(running: Running) -> None:
    changed = ok(running, "phase all closed")["changed"]
    assert changed == sorted(running.exchange.engine.books)


def test_a_phase_is_journaled_and_survives_a_restart(tmp_path: Path) -> None:
    first = Running(tmp_path)
    ok(first, "halt MSFT")
    first.close()
    second = Running(tmp_path)
    phases = ok(second, "phases")["phases"]
    second.close()
    assert (phases["MSFT"], phases["AAPL"]) == ("halted", "continuous")


def test_a_refused_phase_journals_nothing(running: Running) -> None:
    ask(running, "phase NOPE halted")
    ask(running, "phase AAPL lunch")
    assert (running.exchange.pending, running.exchange.commands) == (0, 0)


# -- queries ---------------------------------------------------------------------------------

def test_killed_lists_no_switch_on_a_fresh_exchange(running: Running) -> None:
    assert ok(running, "killed")["killed"] == {"firm": [], "account": [], "session": []}


def test_killed_lists_each_switch_that_is_on_by_scope(running: Running) -> None:
    for line in ("kill firm BROKER2", "kill account BRK1-PROP", f"kill session {B1}"):
        ok(running, line)
    assert ok(running, "killed")["killed"] == {"firm": ["BROKER2"], "account": ["BRK1-PROP"],
                                              "session": [B1]}


def test_account_gives_the_configured_balances_as_decimal_strings(running: Running) -> None:
    assert ok(running, "account BRK1-MAIN")["account"] == {
        "name": "BRK1-MAIN", "firm": "BROKER1", "cash": "50000000", "reserved": "0",
        "buying_power": "50000000",
        "positions": {"AAPL": 100000, "INTC": 200000, "JPM": 50000, "MSFT": 50000,
                      "XOM": 100000},
        "open_orders": 0, "orders_today": 0}


def test_account_shows_what_a_resting_buy_reserves(running: Running) -> None:
    running.run([new(B1, "o1", BUY, 100, px("189.55"))])
    account = ok(running, "account BRK1-MAIN")["account"]
    assert (account["reserved"], account["buying_power"], account["open_orders"]) == (
        "18955", "49981045", 1)


def test_accounts_gives_every_configured_account(running: Running) -> None:
    accounts = ok(running, "accounts")["accounts"]
    assert [(a["name"], a["cash"]) for a in accounts] == [
        ("BRK1-MAIN", "50000000"), ("BRK1-PROP", "10000000"), ("BRK2-MAIN", "20000000")]


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "error"), [
    ("", "empty request"),
    ("   ", "empty request"),
    ("frob", "unknown command 'frob'"),
    ("kill account", "kill takes 2 arguments, got 1"),
    ("kill account BRK1-MAIN now", "kill takes 2 arguments, got 3"),
    ("lift", "lift takes 2 arguments, got 0"),
    ("kill galaxy X", "scope must be firm, account or session, not 'galaxy'"),
    ("kill account NOPE", "unknown account 'NOPE'"),
    ("lift firm NOPE", "unknown firm 'NOPE'"),
    ("kill session NOPE", "unknown session 'NOPE'"),
    ("account NOPE", "unknown account 'NOPE'"),
    ("account", "account takes 1 argument, got 0"),
    ("accounts all", "accounts takes 0 arguments, got 1"),
    ("killed now", "killed takes 0 arguments, got 1"),
    ("phase AAPL", "phase takes 2 arguments, got 1"),
    ("phase AAPL lunch", "unknown phase 'lunch'"),
    ("phase NOPE halted", "unknown symbol 'NOPE'"),
    ("halt", "halt takes 1 argument, got 0"),
    ("phases now", "phases takes 0 arguments, got 1"),
])
def test_a_bad_request_gets_an_error_reply_naming_the_problem(
        running: Running, line: str, error: str) -> None:
    reply = ask(running, line)
    assert reply["ok"] is False and error in reply["error"], reply


def test_unknown_session_error_lists_the_known_sessions(running: Running) -> None:
    assert B1 in ask(running, "kill session NOPE")["error"]


def test_a_failure_inside_the_exchange_is_an_error_reply(tmp_path: Path) -> None:
    exchange = Exchange(relaxed_config(), tmp_path)   # not recovered: cannot submit
    reply = json.loads(handle(exchange, "kill account BRK1-MAIN"))
    assert reply["ok"] is False and reply["error"].startswith("internal error")


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.one_of(
    st.text(),
    st.lists(st.sampled_from(["kill", "lift", "account", "accounts", "killed", "firm",
                              "session", "BRK1-MAIN", "BROKER1", B1, "x", ""]),
             max_size=4).map(" ".join)))
def test_any_line_gets_one_json_reply_with_ok(running: Running, line: str) -> None:
    reply = ask(running, line)
    assert isinstance(reply["ok"], bool) and (reply["ok"] or reply["error"])

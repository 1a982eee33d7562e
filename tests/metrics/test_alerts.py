"""metrics.alerts: each rule fires past its limit and clears back within it, once per
transition, over a sliding window of readings made by hand (tests/metrics/reading_kit)."""

from __future__ import annotations

import pytest

from metrics.alerts import (
    CONSUMER_LAG,
    ERROR_RATE,
    JOURNAL_FSYNC,
    KILL_SWITCH,
    ORDER_PATH_P99,
    RISK_BREACH,
    RULES,
    AlertLimits,
    Alerts,
    Transition,
)
from metrics.latency import END_TO_END, JOURNAL
from tests.metrics.reading_kit import consumer, reading, session, timed

US, MS = 1_000, 1_000_000
FAST, SLOW = 100 * US, 5 * MS          # reads well within and well past 1 ms
OFF = {"firm": [], "account": [], "session": []}


def fired(transitions: list[Transition]) -> list[tuple[str, bool]]:
    return [(t.alert, t.firing) for t in transitions]


def reads(*groups: tuple[int, int]) -> dict[str, list[int]]:
    """The end-to-end histogram (totals so far) of ``(n, ns)`` reads."""
    return {END_TO_END: timed(*groups)}


def commits(*groups: tuple[int, int]) -> dict[str, list[int]]:
    return {JOURNAL: timed(*groups)}


def traffic(received: int, rejects: int = 0, disconnects: int = 0,
            other_received: int = 0) -> list:
    """Two sessions: the first with these counts, the second with ``other_received``."""
    return [session("FIX.4.4:EXCH->BRK1", received, rejects, disconnects),
            session("FIX.4.2:EXCH->BRK2", other_received)]


# -- every rule: quiet by default ----------------------------------------------------------


def test_a_quiet_exchange_fires_nothing() -> None:
    alerts = Alerts()
    assert alerts.update(reading(0)) == []
    assert alerts.update(reading(1, killed=OFF)) == []
    assert alerts.active() == []
    assert sorted(alerts.state) == sorted(RULES)


def test_the_default_limits_are_those_of_the_seed() -> None:
    limits = AlertLimits()
    assert (limits.window_seconds, limits.order_path_p99_us, limits.error_rate,
            limits.consumer_lag_seconds, limits.journal_fsync_p99_ms, limits.risk_rejects,
            limits.min_samples) == (60, 1000, 0.0001, 30.0, 20.0, 0, 100)


# -- order path p99 ------------------------------------------------------------------------


def test_order_path_p99_fires_when_past_its_limit() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    out = alerts.update(reading(1, stages=reads((200, SLOW))))
    assert fired(out) == [(ORDER_PATH_P99, True)]
    t = out[0]
    # 200 reads in (2 ms, 5 ms]: p99 is 99% of the way through it.
    assert (t.value, t.limit, t.at) == (4970.0, 1000.0, 1)
    assert "p99" in t.text and "200 reads" in t.text


def test_order_path_p99_within_its_limit_does_not_fire() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    assert alerts.update(reading(1, stages=reads((1000, FAST)))) == []
    assert alerts.state[ORDER_PATH_P99].value <= 1000


def test_order_path_p99_equal_to_its_limit_does_not_fire() -> None:
    # p99 of 100 reads in (500 µs, 1 ms] is 995 µs; with the limit at 995 µs it is
    # not past it.
    alerts = Alerts(AlertLimits(order_path_p99_us=995))
    alerts.update(reading(0))
    assert alerts.update(reading(1, stages=reads((100, 800 * US)))) == []
    assert alerts.state[ORDER_PATH_P99].value == 995.0


def test_order_path_p99_fires_once_while_it_stays_slow() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    assert fired(alerts.update(reading(1, stages=reads((200, SLOW))))) == \
        [(ORDER_PATH_P99, True)]
    assert alerts.update(reading(2, stages=reads((400, SLOW)))) == []
    assert alerts.update(reading(3, stages=reads((600, SLOW)))) == []
    assert alerts.state[ORDER_PATH_P99].firing and alerts.state[ORDER_PATH_P99].fired == 1
    assert alerts.state[ORDER_PATH_P99].since == 1


def test_order_path_p99_clears_when_the_window_is_fast_again() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    alerts.update(reading(1, stages=reads((200, SLOW))))
    # From t=61 the window starts at t=1: it holds only the fast reads since.
    out = alerts.update(reading(61, stages=reads((200, SLOW), (1000, FAST))))
    assert fired(out) == [(ORDER_PATH_P99, False)]
    assert out[0].value < out[0].limit
    assert not alerts.state[ORDER_PATH_P99].firing and alerts.state[ORDER_PATH_P99].since == 61


def test_a_slow_burst_two_minutes_ago_does_not_keep_the_p99_alert_firing() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    alerts.update(reading(1, stages=reads((500, SLOW))))
    assert alerts.state[ORDER_PATH_P99].firing
    fast = 0
    for at in range(10, 121, 10):        # then 200 fast reads every 10 s for 2 minutes
        fast += 200
        alerts.update(reading(at, stages=reads((500, SLOW), (fast, FAST))))
    assert not alerts.state[ORDER_PATH_P99].firing
    assert alerts.state[ORDER_PATH_P99].value < 1000


def test_the_window_starts_at_the_newest_reading_at_least_window_seconds_old() -> None:
    alerts = Alerts()
    for at in range(0, 121, 10):
        alerts.update(reading(at))
    assert [r.at for r in alerts.readings] == [60, 70, 80, 90, 100, 110, 120]


def test_the_window_is_its_configured_length() -> None:
    alerts = Alerts(AlertLimits(window_seconds=10))
    alerts.update(reading(0))
    alerts.update(reading(1, stages=reads((200, SLOW))))
    assert alerts.state[ORDER_PATH_P99].firing
    # 11 s later the slow reads are out of a 10 s window (a 60 s one would hold them).
    alerts.update(reading(12, stages=reads((200, SLOW), (300, FAST))))
    assert not alerts.state[ORDER_PATH_P99].firing


def test_too_few_reads_in_the_window_decide_nothing() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    assert alerts.update(reading(1, stages=reads((99, SLOW)))) == []
    assert alerts.state[ORDER_PATH_P99].value == 0.0
    assert fired(alerts.update(reading(2, stages=reads((100, SLOW))))) == \
        [(ORDER_PATH_P99, True)]


def test_min_samples_is_configurable() -> None:
    alerts = Alerts(AlertLimits(min_samples=5))
    alerts.update(reading(0))
    assert fired(alerts.update(reading(1, stages=reads((5, SLOW))))) == \
        [(ORDER_PATH_P99, True)]


def test_without_a_single_read_nothing_is_decided_even_with_min_samples_zero() -> None:
    alerts = Alerts(AlertLimits(min_samples=0))
    alerts.update(reading(0))
    assert alerts.update(reading(1)) == []


def test_the_window_subtracts_reads_made_before_it() -> None:
    # 1000 slow reads before t=0 are in every reading's totals; the window at t=1 is
    # only the fast reads made since.
    alerts = Alerts()
    alerts.update(reading(0, stages=reads((1000, SLOW))))
    assert alerts.update(reading(1, stages=reads((1000, SLOW), (200, FAST)))) == []


def test_fired_counts_each_time_an_alert_fires() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    slow = fast = 0
    states = []
    for at, more_slow, more_fast in ((1, 200, 0), (61, 0, 1000), (62, 0, 1000),
                                     (130, 200, 0), (200, 0, 1000)):
        slow, fast = slow + more_slow, fast + more_fast
        states.append(fired(alerts.update(reading(at, stages=reads((slow, SLOW),
                                                                   (fast, FAST))))))
    assert states == [[(ORDER_PATH_P99, True)], [(ORDER_PATH_P99, False)], [],
                      [(ORDER_PATH_P99, True)], [(ORDER_PATH_P99, False)]]
    assert alerts.state[ORDER_PATH_P99].fired == 2


# -- journal fsync p99 --------------------------------------------------------------------


def test_journal_fsync_p99_fires_past_its_limit_in_ms() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    out = alerts.update(reading(1, stages=commits((200, 30 * MS))))
    assert fired(out) == [(JOURNAL_FSYNC, True)]
    # 200 commits in (20 ms, 50 ms]: p99 is 49.7 ms.
    assert out[0].value == pytest.approx(49.7) and out[0].limit == 20.0
    assert "ms" in out[0].text


def test_journal_fsync_clears_when_commits_are_fast_again() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    alerts.update(reading(1, stages=commits((200, 30 * MS))))
    out = alerts.update(reading(61, stages=commits((200, 30 * MS), (500, 1 * MS))))
    assert fired(out) == [(JOURNAL_FSYNC, False)]


def test_few_slow_commits_do_not_fire_the_fsync_alert() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    assert alerts.update(reading(1, stages=commits((10, 500 * MS)))) == []


def test_slow_commits_do_not_fire_the_order_path_alert() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    out = alerts.update(reading(1, stages=commits((200, 30 * MS))))
    assert ORDER_PATH_P99 not in [a for a, _ in fired(out)]


# -- error rate ----------------------------------------------------------------------------


def test_error_rate_at_its_limit_does_not_fire() -> None:
    alerts = Alerts()
    alerts.update(reading(0, sessions=traffic(0)))
    # 1 error in 10,000 messages is 0.01%: at the limit, not past it.
    assert alerts.update(reading(1, sessions=traffic(5000, rejects=1,
                                                     other_received=5000))) == []
    assert alerts.state[ERROR_RATE].value == 0.0001


def test_error_rate_counts_session_rejects_error_disconnects_and_exchange_faults() -> None:
    alerts = Alerts()
    alerts.update(reading(0, sessions=traffic(0)))
    out = alerts.update(reading(1, sessions=traffic(5000, rejects=1, disconnects=1,
                                                     other_received=5000),
                                exchange_faults=1))
    assert fired(out) == [(ERROR_RATE, True)]
    # 3 errors over the 10,000 messages of both sessions.
    assert out[0].value == 3 / 10_000 and out[0].limit == 0.0001
    assert "3 errors" in out[0].text and "10000 messages" in out[0].text


@pytest.mark.parametrize("errors", [{"rejects": 2}, {"disconnects": 2}, {"faults": 2}])
def test_each_kind_of_error_alone_fires_the_error_rate(errors: dict[str, int]) -> None:
    alerts = Alerts()
    alerts.update(reading(0, sessions=traffic(0)))
    out = alerts.update(reading(1, sessions=traffic(10_000, errors.get("rejects", 0),
                                                     errors.get("disconnects", 0)),
                                exchange_faults=errors.get("faults", 0)))
    assert fired(out) == [(ERROR_RATE, True)]
    assert out[0].value == 2 / 10_000


def test_error_rate_is_over_the_window_only() -> None:
    alerts = Alerts()
    alerts.update(reading(0, sessions=traffic(0)))
    alerts.update(reading(1, sessions=traffic(1000, rejects=5)))
    assert alerts.state[ERROR_RATE].firing
    # a minute of clean traffic later, the old rejects are before the window
    out = alerts.update(reading(61, sessions=traffic(21_000, rejects=5)))
    assert fired(out) == [(ERROR_RATE, False)]
    assert alerts.state[ERROR_RATE].value == 0.0


def test_a_clean_window_with_few_messages_has_no_error_rate() -> None:
    alerts = Alerts()
    alerts.update(reading(0, sessions=traffic(0)))
    assert alerts.update(reading(1, sessions=traffic(10))) == []
    assert alerts.state[ERROR_RATE].value == 0.0


def test_too_few_messages_in_the_window_decide_no_error_rate() -> None:
    alerts = Alerts()
    alerts.update(reading(0, sessions=traffic(0)))
    assert alerts.update(reading(1, sessions=traffic(10, rejects=1))) == []


# -- consumer lag --------------------------------------------------------------------------


def test_consumer_lag_fires_on_the_worst_consumer() -> None:
    alerts = Alerts()
    out = alerts.update(reading(0, consumers=[consumer("audit", 5.0),
                                              consumer("postgres", 45.0, lag=900),
                                              consumer("dropcopy", 1.0)]))
    assert fired(out) == [(CONSUMER_LAG, True)]
    assert (out[0].value, out[0].limit) == (45.0, 30.0)
    assert "postgres" in out[0].text and "900 entries" in out[0].text


def test_consumer_lag_within_its_limit_does_not_fire() -> None:
    alerts = Alerts()
    assert alerts.update(reading(0, consumers=[consumer("audit", 30.0),
                                               consumer("postgres", 29.0)])) == []
    assert alerts.state[CONSUMER_LAG].value == 30.0


def test_consumer_lag_clears_when_the_consumer_catches_up() -> None:
    alerts = Alerts()
    alerts.update(reading(0, consumers=[consumer("postgres", 45.0)]))
    assert alerts.update(reading(1, consumers=[consumer("postgres", 50.0)])) == []
    out = alerts.update(reading(2, consumers=[consumer("postgres", 0.0, lag=0)]))
    assert fired(out) == [(CONSUMER_LAG, False)]


def test_consumer_lag_is_the_lag_now_not_over_the_window() -> None:
    # a gauge: the newest reading decides, whatever the window held
    alerts = Alerts()
    alerts.update(reading(0, consumers=[consumer("audit", 100.0)]))
    out = alerts.update(reading(1, consumers=[consumer("audit", 2.0)]))
    assert fired(out) == [(CONSUMER_LAG, False)]


def test_no_consumers_no_lag() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    assert alerts.state[CONSUMER_LAG].value == 0.0 and not alerts.state[CONSUMER_LAG].firing


# -- risk breach ---------------------------------------------------------------------------


def test_a_risk_reject_in_the_window_fires_the_risk_alert() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    out = alerts.update(reading(1, risk_rejects=1))
    assert fired(out) == [(RISK_BREACH, True)]
    assert (out[0].value, out[0].limit) == (1.0, 0.0)


def test_the_risk_alert_clears_once_the_rejects_leave_the_window() -> None:
    alerts = Alerts()
    alerts.update(reading(0))
    alerts.update(reading(1, risk_rejects=3))
    assert alerts.update(reading(30, risk_rejects=3)) == []
    out = alerts.update(reading(61, risk_rejects=3))
    assert fired(out) == [(RISK_BREACH, False)]


def test_risk_rejects_up_to_the_limit_do_not_fire() -> None:
    alerts = Alerts(AlertLimits(risk_rejects=5))
    alerts.update(reading(0))
    assert alerts.update(reading(1, risk_rejects=5)) == []
    assert fired(alerts.update(reading(2, risk_rejects=6))) == [(RISK_BREACH, True)]


def test_risk_rejects_before_the_window_do_not_fire() -> None:
    alerts = Alerts()
    alerts.update(reading(0, risk_rejects=40))     # since the start, before the window
    assert alerts.update(reading(1, risk_rejects=40)) == []


# -- kill switch ---------------------------------------------------------------------------


def test_the_kill_switch_alert_fires_while_any_switch_is_on() -> None:
    alerts = Alerts()
    alerts.update(reading(0, killed=OFF))
    out = alerts.update(reading(1, killed={**OFF, "firm": ["BROKER2"]}))
    assert fired(out) == [(KILL_SWITCH, True)]
    assert out[0].value == 1.0 and "firm BROKER2" in out[0].text
    # a second switch: still the one alert, its text naming both
    assert alerts.update(reading(2, killed={**OFF, "firm": ["BROKER2"],
                                            "session": ["FIX.4.4:EXCH->BRK1"]})) == []
    state = alerts.state[KILL_SWITCH]
    assert state.firing and state.value == 2.0
    assert "firm BROKER2" in state.text and "session FIX.4.4:EXCH->BRK1" in state.text
    # one switched off: still on
    assert alerts.update(reading(3, killed={**OFF, "session": ["FIX.4.4:EXCH->BRK1"]})) == []
    out = alerts.update(reading(4, killed=OFF))
    assert fired(out) == [(KILL_SWITCH, False)]


def test_the_kill_switch_alert_ignores_the_window() -> None:
    # a switch on 2 minutes ago and still on keeps firing
    alerts = Alerts()
    on = {**OFF, "account": ["BRK1-PROP"]}
    alerts.update(reading(0, killed=on))
    for at in range(10, 121, 10):
        assert alerts.update(reading(at, killed=on)) == []
    assert alerts.state[KILL_SWITCH].firing


# -- several rules -------------------------------------------------------------------------


def test_transitions_come_in_rule_order_and_active_lists_the_firing() -> None:
    alerts = Alerts()
    alerts.update(reading(0, sessions=traffic(0)))
    out = alerts.update(reading(1, stages=reads((200, SLOW)), sessions=traffic(1000, 5),
                                consumers=[consumer("audit", 99.0)], risk_rejects=1,
                                killed={**OFF, "firm": ["BROKER1"]}))
    assert [a for a, _ in fired(out)] == [ORDER_PATH_P99, ERROR_RATE, CONSUMER_LAG,
                                          RISK_BREACH, KILL_SWITCH]
    assert [a.name for a in alerts.active()] == [ORDER_PATH_P99, ERROR_RATE, CONSUMER_LAG,
                                                 RISK_BREACH, KILL_SWITCH]


def test_an_alert_clearing_leaves_the_others_firing() -> None:
    alerts = Alerts()
    alerts.update(reading(0, killed={**OFF, "firm": ["BROKER1"]},
                          consumers=[consumer("audit", 99.0)]))
    out = alerts.update(reading(1, killed={**OFF, "firm": ["BROKER1"]},
                                consumers=[consumer("audit", 1.0)]))
    assert fired(out) == [(CONSUMER_LAG, False)]
    assert [a.name for a in alerts.active()] == [KILL_SWITCH]


# -- AlertLimits.problem -------------------------------------------------------------------


def test_the_default_limits_have_no_problem() -> None:
    assert AlertLimits().problem() is None


@pytest.mark.parametrize(("limits", "named"), [
    ({"window_seconds": 1}, "window_seconds"),
    ({"order_path_p99_us": 0}, "order_path_p99_us"),
    ({"consumer_lag_seconds": -1.0}, "consumer_lag_seconds"),
    ({"journal_fsync_p99_ms": 0.0}, "journal_fsync_p99_ms"),
    ({"error_rate": 1.0}, "error_rate"),
    ({"error_rate": -0.01}, "error_rate"),
    ({"error_rate": float("nan")}, "error_rate"),
    ({"risk_rejects": -1}, "risk_rejects"),
    ({"min_samples": -1}, "min_samples"),
])
def test_bad_limits_are_refused_naming_the_limit(limits: dict, named: str) -> None:
    problem = AlertLimits(**limits).problem()
    assert problem is not None and named in problem


@pytest.mark.parametrize("limits", [{"window_seconds": 2}, {"error_rate": 0.0},
                                    {"risk_rejects": 0, "min_samples": 0}])
def test_limits_at_the_edge_are_accepted(limits: dict) -> None:
    assert AlertLimits(**limits).problem() is None


@pytest.mark.parametrize("limits", [{"journal_fsync_p99_ms": float("nan")},
                                    {"consumer_lag_seconds": float("nan")}])
def test_a_nan_limit_is_refused(limits: dict) -> None:
    assert AlertLimits(**limits).problem() is not None

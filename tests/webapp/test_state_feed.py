"""The page's live state is made at most once per interval however many pages read it
(web/app.py StateFeed): each made event costs the event loop a reading and its JSON."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from web import api
from web.app import STREAM_INTERVAL, StateFeed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def feed(monkeypatch: pytest.MonkeyPatch) -> tuple[StateFeed, Clock, list]:
    readings: list[int] = []

    def reading() -> int:
        readings.append(len(readings) + 1)
        return readings[-1]

    monkeypatch.setattr(api, "state", lambda op, before, now: {"before": before, "now": now})
    clock = Clock()
    op = SimpleNamespace(observatory=SimpleNamespace(reading=reading))
    return StateFeed(op, clock), clock, readings   # type: ignore[arg-type]


def test_pages_reading_within_one_interval_share_one_event(feed) -> None:
    state, clock, readings = feed
    first = state.event()
    clock.now += STREAM_INTERVAL / 2
    assert state.event() is first and readings == [1]


def test_after_an_interval_a_new_event_carries_the_rates_since_the_last(feed) -> None:
    state, clock, readings = feed
    state.event()
    clock.now += STREAM_INTERVAL
    assert state.event() == b'event: state\ndata: {"before":1,"now":2}\n\n'
    assert readings == [1, 2]

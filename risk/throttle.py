"""A per-session message-rate throttle: pure, the caller passes the time.

``Throttle(max_messages, window_ns).check(session, ts)`` counts the messages of
``session`` in the sliding window ``(ts - window_ns, ts]``; the message that would
be number ``max_messages + 1`` in the window is refused with
``("THROTTLED", text)`` and not counted, and the session is kept (the caller sends
a reject, e.g. a BusinessMessageReject or an ExecutionReport with OrdRejReason 99).
``ts`` comes from the sequencer (nanoseconds), never from a clock read here, so
replay gives the same answers. Defaults: 100 messages per second.
"""

from __future__ import annotations

from collections import deque
from typing import Final

THROTTLED: Final = "THROTTLED"


class Throttle:
    """Sliding-window message counter per session."""

    def __init__(self, max_messages: int = 100, window_ns: int = 1_000_000_000) -> None:
        if max_messages <= 0 or window_ns <= 0:
            raise ValueError("max_messages and window_ns must be positive")
        self.max_messages = max_messages
        self.window_ns = window_ns
        self.recent: dict[str, deque[int]] = {}

    def check(self, session: str, ts: int) -> tuple[str, str] | None:
        """None (and the message is counted) or (THROTTLED, text)."""
        recent = self.recent.get(session)
        if recent is None:
            recent = self.recent[session] = deque()
        start = ts - self.window_ns
        while recent and recent[0] <= start:
            recent.popleft()
        if len(recent) >= self.max_messages:
            return THROTTLED, (f"session {session} exceeded the message rate limit of "
                               f"{self.max_messages} messages per {self.window_ns} ns "
                               f"(this would be message {len(recent) + 1} in the window)")
        recent.append(ts)
        return None

    def state(self) -> dict[str, list[int]]:
        return {s: list(q) for s, q in self.recent.items() if q}

    def load_state(self, state: dict[str, list[int]]) -> None:
        self.recent = {s: deque(ts) for s, ts in state.items()}

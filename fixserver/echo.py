"""The conformance application (``Application=echo``).

It behaves as the counterparty of the QuickFIX acceptance suite expects:
NewOrderSingle and SecurityDefinition come back as they were sent (fields in
canonical order), a NewOrderSingle with PossResend=Y whose ClOrdID this session
has already seen is dropped silently, and any other application message gets a
BusinessMessageReject ``Unsupported Message Type``.
"""

from __future__ import annotations

from .codec import Field, Message
from .session import SESSION_HEADER_TAGS, Session, UnsupportedMessageType
from .validation import canonical_body


class EchoApplication:
    """Echoes D and d; remembers ClOrdIDs per session until logout."""

    def __init__(self) -> None:
        self._seen: dict[str, set[bytes]] = {}

    def on_logon(self, session: Session) -> None:
        self._seen[session.session_id] = set()

    def on_logout(self, session: Session) -> None:
        self._seen.pop(session.session_id, None)

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        msg_type = msg.msg_type
        if msg_type == b"D":
            seen = self._seen.setdefault(session.session_id, set())
            cl_ord_id = msg.get(11) or b""
            if msg.get(97) == b"Y" and cl_ord_id in seen:
                return
            seen.add(cl_ord_id)
        elif msg_type != b"d":
            raise UnsupportedMessageType(msg_type)
        if session.validator is None or session.validator.fast_valid(msg):
            # No repeating groups: canonical order is header fields then ascending tags.
            header_tags = session.validator.dd.header.tags if session.validator else ()
            header: list[Field] = [f for f in msg.fields[1:] if f[0] in header_tags
                                   and f[0] not in SESSION_HEADER_TAGS]
            body = sorted((f for f in msg.fields[1:] if f[0] not in SESSION_HEADER_TAGS
                           and f[0] not in header_tags), key=lambda f: f[0])
        else:
            layout = session.validator.layout(msg)
            header = [(b.tag, b.value) for b in layout.header if b.tag not in SESSION_HEADER_TAGS]
            body = canonical_body(layout, session.validator.dd, msg_type)
        session.send(msg_type, body, header, now=now)

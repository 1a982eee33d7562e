"""What reaches the application, how its exceptions are answered, and the echo
application the conformance suite talks to (QuickFIX suite 2r, 19a, 19b)."""

from __future__ import annotations

from fixserver.echo import EchoApplication
from fixserver.session import BusinessReject, UnsupportedMessageType

from .harness import Driver, RecordingApp, base_config, logged_on, order_fields, types


def raising(exc: Exception) -> RecordingApp:
    def handler(session, msg):  # noqa: ANN001, ANN202
        raise exc

    return RecordingApp(handler)


def test_application_message_reaches_the_application_once():
    app = RecordingApp()
    d = logged_on(app=app)

    d.order("ID1")

    assert app.received() == ["ID1"]
    assert app.messages[0].msg_type == b"D"
    assert d.session.next_target_seq == 3


def test_application_is_given_the_now_the_message_was_delivered_with():
    app = RecordingApp()
    d = logged_on(app=app)
    d.clock.advance(7)

    d.order("ID1")

    assert app.times == [d.clock.wall]


def test_admin_messages_do_not_reach_the_application():
    app = RecordingApp()
    d = logged_on(app=app)

    d.send("0")
    d.send("1", (112, "X"))
    d.send("2", (7, 1), (16, 0))
    d.send("4", (36, 10), (123, "Y"))

    assert app.messages == []


def test_unsupported_message_type_is_answered_with_business_message_reject_3():
    d = logged_on(app=raising(UnsupportedMessageType(b"8")))

    out = d.send("8", (37, "id"), (17, "id"), (150, 0), (39, 0), (55, "WLRI"), (54, 1),
                 (151, 100), (14, 0), (6, "0.0"))

    assert types(out) == ["j"]
    j = out[0]
    assert j.get(45) == "2"
    assert j.get(58) == "Unsupported Message Type"
    assert j.get(372) == "8"
    assert j.get(380) == "3"
    assert j.body() == [(45, "2"), (58, "Unsupported Message Type"), (372, "8"), (380, "3")]


def test_business_reject_is_answered_with_its_reason_and_text():
    d = logged_on(app=raising(BusinessReject(5, "Conditionally required field missing",
                                             b"ORD-1")))

    out = d.order("ORD-1")

    assert types(out) == ["j"]
    j = out[0]
    assert j.get(45) == "2"
    assert j.get(58) == "Conditionally required field missing"
    assert j.get(372) == "D"
    assert j.get(379) == "ORD-1"
    assert j.get(380) == "5"


def test_business_reject_consumes_the_sequence_number_of_the_rejected_message():
    d = logged_on(app=raising(BusinessReject(4, "Application not available")))
    d.order("X")

    out = d.send("1", (112, "NEXT"))

    assert d.session.next_target_seq == 4
    assert types(out) == ["0"] and not d.disconnected


def test_business_message_reject_reverses_the_routing_tags():
    d = logged_on(app=raising(UnsupportedMessageType(b"D")))

    out = d.order("X", header=[(115, "JCD"), (116, "CS")])

    j = out[0]
    assert j.get(128) == "JCD" and j.get(129) == "CS"
    assert 115 not in j and 116 not in j


# -- the echo application -----------------------------------------------------------


def echo() -> Driver:
    d = Driver(app=EchoApplication())
    d.logon()
    return d


def test_echo_returns_a_new_order_single_with_the_body_in_ascending_tag_order():
    d = echo()
    t = d.clock.utc()

    out = d.send("D", (11, "ID"), (21, 3), (40, 1), (54, 1), (38, "002000.00"), (55, "INTC"),
                 (60, t), (167, "CS"))

    assert types(out) == ["D"]
    assert out[0].body() == [(11, "ID"), (21, "3"), (38, "002000.00"), (40, "1"), (54, "1"),
                             (55, "INTC"), (60, t), (167, "CS")]
    assert out[0].seq == 2


def test_echo_answers_other_application_messages_with_unsupported_message_type():
    d = echo()

    out = d.send("8", (37, "id"), (17, "id"), (150, 0), (39, 0), (55, "WLRI"), (54, 1),
                 (151, 100), (14, 0), (6, "0.0"))

    assert types(out) == ["j"]
    assert out[0].get(380) == "3" and out[0].get(58) == "Unsupported Message Type"


def test_echo_drops_a_poss_resend_order_whose_cl_ord_id_it_has_seen():
    d = echo()
    assert types(d.order("id")) == ["D"]

    out = d.order("id", header=[(97, "Y")])

    assert out == []
    assert d.session.next_target_seq == 4  # consumed, not answered
    assert types(d.send("5")) == ["5"]


def test_echo_answers_a_poss_resend_order_it_has_not_seen():
    d = echo()
    d.order("first")

    out = d.order("other", header=[(97, "Y")])

    assert types(out) == ["D"]
    assert out[0].get(11) == "other"


def test_echo_answers_a_repeated_cl_ord_id_without_poss_resend():
    d = echo()
    d.order("id")

    assert types(d.order("id")) == ["D"]


def test_echo_forgets_cl_ord_ids_at_logout():
    d = echo()
    d.order("id")
    d.send("5")
    d.session.on_disconnect(d.clock.wall)

    d.logon()
    out = d.order("id", header=[(97, "Y")])

    assert types(out) == ["D"]


def test_echo_remembers_cl_ord_ids_per_session():
    app = EchoApplication()
    a = Driver(app=app)
    a.logon()
    b = Driver(app=app, config=base_config(target_comp_id="TW45"))
    b.logon()
    a.order("shared")

    out = b.order("shared", header=[(97, "Y")])

    assert types(out) == ["D"]


def test_echo_order_is_stored_for_resend():
    d = echo()
    d.send("D", *order_fields("id", d.clock.utc()))

    out = d.send("2", (7, 2), (16, 2))

    assert types(out) == ["D"] and out[0].get(11) == "id"

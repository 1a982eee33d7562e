"""A report's FIX body is written once per dictionary and batch (consumers/bodies.py):
the owner's ExecutionReport and its drop copies of the same version share it."""

from __future__ import annotations

from consumers.bodies import ReportBodies
from fixserver.codec import encode_fields
from fixserver.echo import EchoApplication
from fixserver.session import Session
from fixserver.settings import load_sessions
from fixserver.store import MemoryStore
from venue.reports import ExecutionReport

from .support import SHIPPED_SESSIONS_CFG


def sessions() -> dict[str, Session]:
    return {c.target_comp_id: Session(c, MemoryStore(), EchoApplication(), None)
            for c in load_sessions(SHIPPED_SESSIONS_CFG)}


def report(cl_ord_id: str = "A1") -> ExecutionReport:
    return ExecutionReport("FIX.4.4:EXCH->BRK1", 1_764_680_000_000_000_000, "0", "0", "7",
                           "3", cl_ord_id, account="BRK1-MAIN", symbol="AAPL", side=1,
                           ord_type=2, price=1_900_000, order_qty=100, leaves_qty=100)


def test_a_copy_in_the_owners_version_reuses_the_owners_body() -> None:
    s, bodies, r = sessions(), ReportBodies(), report()
    bodies.batch([])
    assert bodies.of(r, s["DC1"]) is bodies.of(r, s["BRK1"])      # both FIX.4.4


def test_a_session_of_another_version_has_its_own_body() -> None:
    s, bodies, r = sessions(), ReportBodies(), report()
    bodies.batch([])
    fix44, fix42 = bodies.of(r, s["BRK1"]), bodies.of(r, s["BRK2"])      # BRK2: FIX.4.2
    assert fix42 is not fix44 and b"20=0\x01" in fix42[1] and b"20=" not in fix44[1]


def test_the_body_is_the_writers_fields_encoded() -> None:
    s, bodies, r = sessions(), ReportBodies(), report()
    bodies.batch([])
    msg_type, fields = bodies.writer(s["BRK1"]).write(r)
    assert bodies.of(r, s["BRK1"]) == (msg_type, encode_fields(fields))


def test_a_new_batch_forgets_the_bodies_of_the_last() -> None:
    s, bodies, r = sessions(), ReportBodies(), report()
    first = []
    bodies.batch(first)
    before = bodies.of(r, s["BRK1"])
    bodies.batch(first)                      # the same batch, seen by the next consumer
    assert bodies.of(r, s["BRK1"]) is before
    bodies.batch([])
    assert bodies.of(r, s["BRK1"]) is not before

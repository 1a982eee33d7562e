"""The operator's admin interface: kill switches, trading phases and account balances
of a running exchange, over a Unix-domain socket in the data directory.

Three layers:

* :func:`handle` is sans-IO: one request line in, one JSON reply line out; it never
  raises. Commands::

      kill firm|account|session NAME    turn a kill switch on: open orders cancelled,
                                        new orders and replaces refused
      lift firm|account|session NAME    turn it off
      account NAME                      balances (decimal strings) and positions
      accounts                          the same for every account
      killed                            the switches that are on
      phase SYMBOL|all PHASE            move to a trading phase: pre_open,
                                        opening_auction, continuous, halted,
                                        closing_auction, closed (leaving a call
                                        auction uncrosses the book)
      halt SYMBOL|all, resume SYMBOL|all  the same for halted and continuous
      phases                            every instrument's phase
      snapshot                          write a snapshot now (by the snapshotter
                                        process; it replies once it is on disk)

  A reply is ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. A kill,
  lift or phase change is journaled like an order and flushed at once, so the cancels and their
  ExecutionReports are sent before the reply.
* :func:`serve` is the server's trio task: it listens on ``<data-dir>/admin.sock``
  (mode 0600, only the user that runs the server may connect), line-oriented, any
  number of requests per connection, and removes the socket when it stops.
* :func:`main` is the ``fixserver-admin`` command: ``fixserver-admin --data-dir DIR
  kill account BRK1-MAIN`` prints the reply; it exits 1 when the reply is not ok and
  2 when the server cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from matching.constants import CONTINUOUS, HALTED, PHASE_NAMES

from .fixedpoint import format_price

if TYPE_CHECKING:
    from risk.accounts import AccountView

    from .exchange import Exchange

log = logging.getLogger("fixserver.admin")

SOCKET_NAME = "admin.sock"
SCOPES = ("firm", "account", "session")
USAGE = ("kill firm|account|session NAME, lift firm|account|session NAME, account NAME, "
         "accounts, killed, phase SYMBOL|all PHASE, halt SYMBOL|all, resume SYMBOL|all, "
         "phases, snapshot")
# The phase names an operator types (matching.constants), and the two shortcuts.
PHASES = {name.lower(): code for code, name in PHASE_NAMES.items()}
SHORTCUTS = {"halt": HALTED, "resume": CONTINUOUS}
MAX_REQUEST = 4096            # bytes of one request line
# sockaddr_un.sun_path holds 108 bytes on Linux, the terminating NUL included.
MAX_SOCKET_PATH = 107


class AdminError(Exception):
    """A problem reaching the admin interface; the message names it."""


# -- the sans-IO core --------------------------------------------------------------------

def handle(exchange: Exchange, line: str) -> str:
    """Answer one request line with one JSON reply (no newline); never raises."""
    words = line.split()
    try:
        reply = _dispatch(exchange, words)
    except Refused as e:
        reply = {"ok": False, "error": str(e)}
    except Exception as e:  # noqa: BLE001 - the operator gets an answer, the log the trace
        log.exception("admin request %r failed", line)
        reply = {"ok": False, "error": f"internal error: {type(e).__name__}: {e}"}
    return json.dumps(reply)


class Refused(Exception):
    """A request that cannot be carried out; the message says why."""


def _dispatch(exchange: Exchange, words: list[str]) -> dict[str, Any]:
    if not words:
        raise Refused(f"empty request: commands are {USAGE}")
    command, args = words[0].lower(), words[1:]
    if command in ("kill", "lift"):
        _arity(command, args, 2, "firm|account|session NAME")
        return switch(exchange, command, args[0].lower(), args[1])
    if command == "account":
        _arity(command, args, 1, "NAME")
        return {"ok": True, "account": account(exchange, args[0])}
    if command == "accounts":
        _arity(command, args, 0, "")
        return {"ok": True,
                "accounts": [account(exchange, name) for name in exchange.risk.accounts()]}
    if command == "phase":
        _arity(command, args, 2, "SYMBOL|all PHASE")
        return change_phase(exchange, args[0], args[1].lower())
    if command in SHORTCUTS:
        _arity(command, args, 1, "SYMBOL|all")
        return change_phase(exchange, args[0], PHASE_NAMES[SHORTCUTS[command]].lower(),
                      shortcut=command)
    if command == "phases":
        _arity(command, args, 0, "")
        return {"ok": True, "phases": phases(exchange)}
    if command == "killed":
        _arity(command, args, 0, "")
        return {"ok": True, "killed": killed(exchange)}
    raise Refused(f"unknown command {words[0]!r}: commands are {USAGE}")


def _arity(command: str, args: list[str], n: int, usage: str) -> None:
    if len(args) != n:
        expected = f"{command} {usage}".rstrip()
        raise Refused(f"{command} takes {n} argument{'' if n == 1 else 's'}, "
                       f"got {len(args)}: {expected}")


def change_phase(exchange: Exchange, target: str, name: str, shortcut: str = ""
                 ) -> dict[str, Any]:
    """Move ``target`` (a symbol or "all") to phase ``name``, journaled and flushed;
    ``shortcut`` "halt" or "resume" also applies to scheduled instruments (Refused
    says why not)."""
    if name not in PHASES:
        raise Refused(f"unknown phase {name!r}: phases are {', '.join(PHASES)}")
    symbol = "" if target.lower() == "all" else target
    if symbol and symbol not in exchange.engine.books:
        raise Refused(f"unknown symbol {symbol!r} (symbols: "
                       f"{', '.join(sorted(exchange.engine.books))}, or all)")
    symbols = [symbol] if symbol else sorted(exchange.engine.books)
    scheduled = [s for s in symbols if s in exchange.config.schedules]
    if scheduled and not shortcut:
        raise Refused(f"{', '.join(scheduled)} follow the schedule of exchange.toml: "
                       "halt and resume them instead")
    exchange.flush()
    before = {s: b.phase for s, b in exchange.engine.books.items()}
    now = time.time_ns()
    try:
        if scheduled and shortcut == "resume":
            # Back to the schedule: each to its phase of the moment.
            for s in symbols:
                exchange.set_phase(s, exchange.scheduled_phase(s, now) or PHASES[name])
        else:
            exchange.set_phase(symbol, PHASES[name])
    except ValueError as e:
        raise Refused(str(e)) from None
    exchange.flush()
    changed = sorted(s for s, b in exchange.engine.books.items() if b.phase != before[s])
    log.warning("admin: phase %s %s: %s", target, name, ", ".join(changed) or "no change")
    return {"ok": True, "command": "phase", "symbol": symbol or "all", "phase": name,
            "changed": changed}


def killed(exchange: Exchange) -> dict[str, list[str]]:
    """The kill switches that are on, by scope, each list sorted."""
    risk = exchange.risk
    return {"firm": sorted(risk.killed_firms), "account": sorted(risk.killed_accounts),
            "session": sorted(risk.killed_sessions)}


def phases(exchange: Exchange) -> dict[str, str]:
    """Every instrument's trading phase (its lower-case name), by symbol."""
    return {symbol: PHASE_NAMES[book.phase].lower()
            for symbol, book in sorted(exchange.engine.books.items())}


def switch(exchange: Exchange, command: str, scope: str, name: str) -> dict[str, Any]:
    """``kill`` or ``lift`` the kill switch of a firm, account or session, journaled and
    flushed (its cancels are reported before this returns)."""
    on = command == "kill"
    # Whatever is already submitted goes first, so that the orders gone after the
    # flush below are the ones this switch cancelled.
    exchange.flush()
    before = len(exchange.engine.orders)
    try:
        exchange.kill(scope, name, on)
    except ValueError as e:
        if scope == "session":
            known = ", ".join(sorted(exchange.session_ids)) or "none"
            raise Refused(f"{e} (sessions: {known})") from None
        raise Refused(str(e)) from None
    was_on = name in killed(exchange)[scope]
    exchange.flush()
    cancelled = before - len(exchange.engine.orders)
    log.warning("admin: %s %s %s (was %s)%s", command, scope, name, "on" if was_on else "off",
                f": {cancelled} open orders cancelled" if on else "")
    reply: dict[str, Any] = {"ok": True, "command": command, "scope": scope, "name": name,
                             "was_on": was_on}
    if on:
        reply["cancelled"] = cancelled
    return reply


def _money(value: int) -> str:
    return format_price(value).decode()


def account(exchange: Exchange, name: str) -> dict[str, Any]:
    """An account's balances (decimal strings), positions and order counts."""
    try:
        view: AccountView = exchange.risk.account(name)
    except KeyError:
        raise Refused(f"unknown account {name!r}") from None
    return {"name": view.name, "firm": view.firm, "cash": _money(view.cash),
            "reserved": _money(view.reserved), "buying_power": _money(view.buying_power),
            "positions": dict(sorted(view.positions.items())),
            "open_orders": view.open_orders, "orders_today": view.orders_today}


# -- the server's socket ---------------------------------------------------------------------

def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


def _check_length(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise AdminError(f"socket path {path} is longer than the {MAX_SOCKET_PATH} bytes a "
                         "Unix socket address holds: use a shorter --data-dir")


def _remove_stale(path: Path) -> None:
    """Remove a socket left by a server that is gone; refuse anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise AdminError(f"{path} exists and is not a socket: move it away")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(os.fspath(path))
        except (ConnectionRefusedError, FileNotFoundError):
            pass  # nobody listens: stale
        else:
            raise AdminError(f"{path} is served by another process (another fixserver on "
                             "this data directory?)")
    path.unlink(missing_ok=True)
    log.info("removed stale admin socket %s", path)


def listen(path: Path) -> trio.SocketListener:
    """A listening socket at ``path`` that only the owner may connect to (AdminError
    when that cannot be had). A stale socket file at ``path`` is replaced."""
    _check_length(path)
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.fspath(path))
        # Nobody can connect before listen(), so the mode is right before anyone can.
        os.chmod(path, 0o600)
        sock.listen(16)
    except OSError as e:
        sock.close()
        raise AdminError(f"cannot listen on {path}: {e}") from e
    return trio.SocketListener(trio.socket.from_stdlib_socket(sock))


Snapshot = Callable[[], Awaitable[dict[str, Any]]]


async def serve(exchange: Exchange, path: Path, *, snapshot: Snapshot | None = None,
                task_status: trio.TaskStatus[Path | None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve admin requests on ``path`` until cancelled, then remove the socket. When
    the socket cannot be had the error is logged and the exchange runs without it.
    ``snapshot`` carries out the ``snapshot`` request (the composition provides it)."""
    try:
        listener = listen(path)
    except AdminError as e:
        log.error("admin interface disabled: %s", e)
        task_status.started(None)
        return
    inode = os.stat(path).st_ino
    task_status.started(path)
    try:
        await trio.serve_listeners(partial(_connection, exchange, snapshot), [listener])
    finally:
        listener.socket.close()
        try:
            if os.lstat(path).st_ino == inode:  # still ours
                path.unlink()
        except FileNotFoundError:
            pass


async def _answer(exchange: Exchange, snapshot: Snapshot | None, line: str) -> str:
    """``handle``, and the one request that waits: ``snapshot``."""
    words = line.split()
    if not words or words[0].lower() != "snapshot":
        return handle(exchange, line)
    if len(words) != 1:
        return json.dumps({"ok": False, "error": f"snapshot takes no arguments, got "
                                                 f"{len(words) - 1}: snapshot"})
    if snapshot is None:
        return json.dumps({"ok": False, "error": "snapshots are not available here"})
    try:
        report = await snapshot()
    except Exception as e:  # noqa: BLE001 - the operator gets an answer, the log the trace
        log.exception("admin snapshot failed")
        return json.dumps({"ok": False, "error": f"snapshot failed: {e}"})
    log.warning("admin: snapshot at seq %s (%s)", report.get("seq"), report.get("file"))
    return json.dumps({"ok": True, "snapshot": {k: v for k, v in report.items()
                                                 if k != "event"}})


async def _connection(exchange: Exchange, snapshot: Snapshot | None,
                      stream: trio.SocketStream) -> None:
    """Requests of one connection, a reply line per request line, in order.

    Replies are written here; the ExecutionReports a kill causes reach their sessions
    as those of the exchange's timer do: Session.send wakes the connection's writer."""
    buffer = bytearray()
    try:
        async with stream:
            while True:
                data = await stream.receive_some(65536)
                buffer += data
                replies = []
                while (end := buffer.find(b"\n")) >= 0:
                    line = buffer[:end].decode("utf-8", "replace")
                    del buffer[:end + 1]
                    replies.append(await _answer(exchange, snapshot, line) + "\n")
                if not data and buffer:  # a last request without its newline
                    last = buffer.decode("utf-8", "replace")
                    replies.append(await _answer(exchange, snapshot, last) + "\n")
                    buffer.clear()
                too_long = len(buffer) > MAX_REQUEST
                if too_long:
                    replies.append(json.dumps({"ok": False, "error": "request longer than "
                                               f"{MAX_REQUEST} bytes"}) + "\n")
                if replies:
                    await stream.send_all("".join(replies).encode())
                if not data or too_long:
                    return
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
        log.info("admin connection lost: %s", e)


# -- the fixserver-admin command -------------------------------------------------------------

def request(path: Path, line: str, timeout: float = 10.0) -> str:
    """Send one request line to the server at ``path``; its reply (AdminError when the
    server cannot be reached or does not answer)."""
    _check_length(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except FileNotFoundError:
            raise AdminError(f"no admin socket at {path}: is fixserver running with "
                             f"--data-dir {path.parent}?") from None
        except ConnectionRefusedError:
            raise AdminError(f"nothing is serving {path} (left by a server that was "
                             "killed?)") from None
        except PermissionError:
            raise AdminError(f"not allowed to connect to {path}: it is private to the user "
                             "that runs fixserver") from None
        except OSError as e:
            raise AdminError(f"cannot connect to {path}: {e}") from None
        reply = bytearray()
        try:
            sock.sendall(line.encode() + b"\n")
            while not reply.endswith(b"\n"):
                data = sock.recv(65536)
                if not data:
                    raise AdminError(f"{path}: the server closed the connection without "
                                     "a reply")
                reply += data
        except TimeoutError:
            raise AdminError(f"{path}: no reply within {timeout:g} s") from None
        except OSError as e:
            raise AdminError(f"{path}: {e}") from None
    return reply.decode("utf-8", "replace").rstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fixserver-admin",
        description="Operator commands to a running fixserver: " + USAGE + ".",
        epilog="Prints the server's JSON reply; exits 1 when it is not ok, 2 when the "
               "server cannot be reached.")
    parser.add_argument("--data-dir", type=Path, default=Path("var"),
                        help="the server's --data-dir (default: ./var)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for the reply (default: 10)")
    parser.add_argument("command", nargs="+", help="e.g. kill account BRK1-MAIN")
    args = parser.parse_args(argv)
    try:
        reply = request(socket_path(args.data_dir), " ".join(args.command), args.timeout)
    except AdminError as e:
        print(f"fixserver-admin: {e}", file=sys.stderr)
        return 2
    print(reply)
    try:
        answer = json.loads(reply)
    except ValueError:
        print("fixserver-admin: the reply is not JSON", file=sys.stderr)
        return 1
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        error = answer.get("error") if isinstance(answer, dict) else None
        print(f"fixserver-admin: {error or 'the reply is not ok'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

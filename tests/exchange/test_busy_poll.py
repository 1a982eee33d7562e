"""Busy polling (``[exchange] busy_poll_us``): after each read the server keeps its event
loop checking the sockets for that long instead of sleeping, then sleeps again.

The server's CPU time is read from /proc: a loop kept busy uses the CPU for the whole
window, a sleeping one next to none of it."""

from __future__ import annotations

import os
import time

from tests.conftest import FixServer
from tests.exchange.exchangeclient import BUY, SELL, Broker

WINDOW_US = 300_000     # long enough to show in the CPU time the kernel counts in ticks


def cpu_seconds(server: FixServer) -> float:
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_over(server: FixServer, seconds: float) -> float:
    """The share of one CPU the server used over the next ``seconds``."""
    before = cpu_seconds(server)
    time.sleep(seconds)
    return (cpu_seconds(server) - before) / seconds


def polling_server(start_server, clients: list[Broker]) -> tuple[FixServer, Broker]:
    server = start_server(exchange_options=f"busy_poll_us = {WINDOW_US}\n")
    brk1 = Broker(server.port, "BRK1")
    clients.append(brk1)
    brk1.logon()
    return server, brk1


def test_orders_trade_and_are_reported_with_busy_polling_on(
        start_server, clients: list[Broker]) -> None:
    _, brk1 = polling_server(start_server, clients)
    brk1.rest("S1", SELL, 100, "190.00")
    brk1.new_order("B1", BUY, 100, "190.00")
    assert brk1.er()[150] == "0"
    fills = {er[11]: er for er in brk1.ers(2)}
    assert {k: (er[150], er[39]) for k, er in fills.items()} == {
        "B1": ("F", "2"), "S1": ("F", "2")}


def test_the_loop_stays_busy_for_the_window_after_a_read(
        start_server, clients: list[Broker]) -> None:
    server, brk1 = polling_server(start_server, clients)
    brk1.new_order("B1", BUY, 100, "189.00")
    brk1.er()
    # The next 0.2 s are inside the 0.3 s window: the loop spins on its CPU (a margin
    # for a machine that gives it less than the whole CPU).
    assert cpu_over(server, 0.2) > 0.3


def test_the_server_sleeps_again_once_the_window_has_passed(
        start_server, clients: list[Broker]) -> None:
    server, brk1 = polling_server(start_server, clients)
    brk1.new_order("B1", BUY, 100, "189.00")
    brk1.er()
    time.sleep(WINDOW_US / 1e6 + 0.2)
    assert cpu_over(server, 1.0) < 0.1

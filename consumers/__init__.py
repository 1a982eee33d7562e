"""Consumers of the event stream (``venue.stream``): everything that leaves the core.

In process, on the order path: ``executions`` (ExecutionReports and the other
reports to the session they are for) and ``dropcopy`` (a copy of every
ExecutionReport to the drop-copy sessions of its firm). Durable consumers (the
audit trail, PostgreSQL) read the event log in their own threads. Each one is
registered in ``server/compose.py``; docs/ARCHITECTURE.md says how to add one.
"""

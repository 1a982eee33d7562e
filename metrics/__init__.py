"""Metrics as data: latency histograms per stage of the order path, alert rules over
sliding windows, and their Prometheus exposition (see docs/ARCHITECTURE.md)."""

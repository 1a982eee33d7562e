"""The HTTP side of the server: Prometheus' /metrics, the JSON admin API and the
operator's page, one ASGI app served by hypercorn in the server's trio loop."""

"""The audit trail as data: the records made of the event stream (``records``), their
hash chain and its verification (``chain``), and where they are kept: JSON-lines
files (``files``) or a Kafka topic (``kafka``). The consumer that writes them is
``consumers/audit.py``; ``fixserver audit`` reads them (``server/audit_cli.py``)."""

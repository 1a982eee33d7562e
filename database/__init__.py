"""The exchange's history in PostgreSQL: the schema the project owns and migrates
(``migrations/NNNN_name.sql``, applied by ``migrate``), and the partitions it keeps
ahead of time and drops after the retention (``partitions``)."""

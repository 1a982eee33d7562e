"""The queries of ``fixserver db orders|trades``, as README shows them for psql.

Each filter is optional (NULL: any) and ``since`` is a trade date, so PostgreSQL reads
only the partitions from that day on. Prices and money are bigint with 4 decimals.
"""

from __future__ import annotations

ORDERS = """
SELECT trade_date, order_id, session, cl_ord_id, account, symbol, side, price,
       order_qty, cum_qty, leaves_qty, ord_status, updated_at
FROM orders
WHERE trade_date >= %(since)s
  AND (%(account)s::text IS NULL OR account = %(account)s)
  AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s)
ORDER BY accepted_at, order_id
LIMIT %(limit)s
"""

TRADES = """
SELECT trade_date, trade_id, executed_at, symbol, price, quantity, aggressor_side, phase,
       buy_account, sell_account
FROM trades
WHERE trade_date >= %(since)s
  AND (%(account)s::text IS NULL OR %(account)s IN (buy_account, sell_account))
  AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s)
ORDER BY executed_at, trade_id
LIMIT %(limit)s
"""

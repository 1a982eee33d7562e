-- The exchange's history: instruments, accounts and positions as they stand, and
-- orders, their events, trades and settlements by trade date (declarative range
-- partitions, created ahead of time by the writer and dropped after the retention).
-- Prices, quantities and money are bigint with 4 decimals (190.50 is 1905000), as the
-- exchange keeps them: never floating point. Times are timestamptz (UTC).

CREATE TABLE instruments (
    symbol           text PRIMARY KEY,
    tick_size        bigint NOT NULL,
    lot_size         bigint NOT NULL,
    reference_price  bigint NOT NULL,
    sector           text NOT NULL DEFAULT ''
);

CREATE TABLE accounts (
    account      text PRIMARY KEY,
    firm         text NOT NULL,
    cash         bigint NOT NULL DEFAULT 0,
    updated_seq  bigint NOT NULL DEFAULT 0
);

CREATE TABLE positions (
    account      text NOT NULL,
    symbol       text NOT NULL,
    quantity     bigint NOT NULL,
    updated_seq  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account, symbol)
);

-- One row per order: what the broker sent, and its state after its last event.
CREATE TABLE orders (
    trade_date     date NOT NULL,
    order_id       bigint NOT NULL,
    session        text NOT NULL,
    cl_ord_id      text NOT NULL,
    account        text NOT NULL,
    symbol         text NOT NULL,
    side           smallint NOT NULL,          -- 1 buy, 2 sell (FIX Side)
    ord_type       smallint NOT NULL,          -- FIX OrdType: 1 market, 2 limit, 3 stop, 4 stop limit
    time_in_force  smallint NOT NULL,          -- FIX TimeInForce
    price          bigint,
    stop_px        bigint,
    order_qty      bigint NOT NULL,
    leaves_qty     bigint NOT NULL,
    cum_qty        bigint NOT NULL,
    avg_px         bigint,
    ord_status     char(1) NOT NULL,           -- FIX OrdStatus
    accepted_seq   bigint NOT NULL,
    accepted_at    timestamptz NOT NULL,
    updated_seq    bigint NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (trade_date, order_id)
) PARTITION BY RANGE (trade_date);
CREATE INDEX orders_symbol_time ON orders (symbol, accepted_at);
CREATE INDEX orders_account_time ON orders (account, accepted_at);
CREATE INDEX orders_cl_ord_id ON orders (session, cl_ord_id);

-- Every state change of an order (and every rejected request), in exchange sequence.
CREATE TABLE order_events (
    trade_date   date NOT NULL,
    seq          bigint NOT NULL,              -- the exchange sequence number
    n            smallint NOT NULL,            -- the event's place among that seq's
    event_type   text NOT NULL,                -- ACCEPTED, REJECTED, REPLACED, CANCELLED, ...
    at           timestamptz NOT NULL,
    order_id     bigint,                       -- NULL for a request that named no order
    session      text NOT NULL,
    cl_ord_id    text NOT NULL,
    account      text NOT NULL DEFAULT '',
    symbol       text NOT NULL DEFAULT '',
    price        bigint,
    order_qty    bigint,
    leaves_qty   bigint,
    cum_qty      bigint,
    reason       text NOT NULL DEFAULT '',
    text         text NOT NULL DEFAULT '',
    PRIMARY KEY (trade_date, seq, n)
) PARTITION BY RANGE (trade_date);
CREATE INDEX order_events_order ON order_events (order_id);
CREATE INDEX order_events_account_time ON order_events (account, at);
CREATE INDEX order_events_symbol_time ON order_events (symbol, at);

-- One row per trade, both sides.
CREATE TABLE trades (
    trade_date      date NOT NULL,
    trade_id        bigint NOT NULL,
    seq             bigint NOT NULL,
    executed_at     timestamptz NOT NULL,
    symbol          text NOT NULL,
    price           bigint NOT NULL,
    quantity        bigint NOT NULL,
    aggressor_side  smallint,                  -- NULL in an auction uncross
    phase           text NOT NULL,             -- CONTINUOUS, or the auction it uncrossed
    buy_order_id    bigint NOT NULL,
    buy_account     text NOT NULL,
    sell_order_id   bigint NOT NULL,
    sell_account    text NOT NULL,
    PRIMARY KEY (trade_date, trade_id)
) PARTITION BY RANGE (trade_date);
CREATE INDEX trades_symbol_time ON trades (symbol, executed_at);
CREATE INDEX trades_buy_account_time ON trades (buy_account, executed_at);
CREATE INDEX trades_sell_account_time ON trades (sell_account, executed_at);

-- The cash and position movements of each trade, per account, and its fee.
CREATE TABLE settlements (
    trade_date      date NOT NULL,
    trade_id        bigint NOT NULL,
    side            smallint NOT NULL,         -- 1 the buyer's movement, 2 the seller's
    account         text NOT NULL,
    seq             bigint NOT NULL,
    settled_at      timestamptz NOT NULL,
    symbol          text NOT NULL,
    cash_delta      bigint NOT NULL,           -- fee included
    quantity_delta  bigint NOT NULL,
    fee             bigint NOT NULL,
    PRIMARY KEY (trade_date, trade_id, side)   -- a self-trade moves one account twice
) PARTITION BY RANGE (trade_date);
CREATE INDEX settlements_account_time ON settlements (account, settled_at);

-- The writer's checkpoint, written in the same transaction as each batch of rows.
CREATE TABLE writer_checkpoint (
    name  text PRIMARY KEY,
    seq   bigint NOT NULL
);

"""risk package: deterministic accounts, T+0 settlement and pre-trade risk.

* ``risk.config``   -- configuration dataclasses (``RiskConfig``, ``Limits``, ...) and
  their documented defaults (``DEFAULT_LIMITS``).
* ``risk.accounts`` -- ``Ledger``: cash, positions, reservations of open orders,
  settlement of every trade at once (fees per firm/account in basis points).
* ``risk.checks``   -- ``RiskEngine``: the matching engine's risk hook (``check``),
  ``on_event`` (feeds the ledger), account queries, kill switches, snapshots.
* ``risk.throttle`` -- ``Throttle``: a pure per-session message-rate limit.

No I/O, no clock, integers only (4 decimals for prices and cash).
"""

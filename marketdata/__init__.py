"""Market data: what the book and the trades look like from outside the core.

``book.py`` follows the core's events into price levels (pure); ``requests.py``
reads a MarketDataRequest into a subscription or a reject; ``messages.py`` writes
the FIX messages (W, X, Y); ``status.py`` and ``security_list.py`` the trading
status and the instruments; ``feed.py`` is the binary feed's wire format. The
consumers of the event stream that serve them are ``consumers/marketdata.py`` (FIX)
and ``consumers/feed.py`` (multicast).
"""

"""Applications a session hands its application messages to (``Application=`` in sessions.cfg)."""

"""The composition root: builds the FIX engine, the venue, the core and the consumers."""

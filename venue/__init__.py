"""The venue application: FIX order entry in front of the core, reports out of it."""

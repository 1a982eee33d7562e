"""Persistence: the journal (a versioned file header, framed and checksummed records,
group commit) and the sequencer that stamps commands and encodes them into it.

It sits below the venue: the record types and their schema version are parameters.
"""

"""FIX session layer, codec, dictionaries, acceptor and applications."""

"""Keyword (BM25) indexes behind one Protocol; chosen by ``keywords.type``."""

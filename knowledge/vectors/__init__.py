"""Vector stores behind one Protocol; chosen by ``vectors.type``."""

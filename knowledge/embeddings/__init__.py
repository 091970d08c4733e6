"""Text embedders behind one Protocol; chosen by ``embeddings.type``."""

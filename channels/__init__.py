"""Rasa custom input channels (run inside the Rasa 3.10 runtime: keep them on rasa's own dependencies)."""

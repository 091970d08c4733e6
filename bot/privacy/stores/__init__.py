"""Stores of personal data the core owns: Rasa's trackers, the stream's outbox, customer accounts, parked
stream records, rate-limit buckets (files: ``bot.privacy.files``). The handoff's, the archive's, the search
index's and the knowledge base's are in ``handoff.privacy``."""

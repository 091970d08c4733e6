"""The message archive (seed §2.4.5): a reader group that copies every line on the stream into ``cs_message``
(sealed with AES-256-GCM) and a PII-masked copy into the message search index. ``python -m handoff.archive``
runs it (``csbot run`` supervises it); ``reader`` opens archived conversations again."""

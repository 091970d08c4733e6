"""Shared core of the csbot platform: settings, storage, ids, security, CLI."""

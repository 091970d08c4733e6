"""The ``csbot`` command line."""

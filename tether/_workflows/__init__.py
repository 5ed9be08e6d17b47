"""Workflows: the durable decisions of an agent run. No I/O, clocks or randomness here."""

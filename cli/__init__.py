"""The `starter.py` command line, one module per concern (starter.py is the entry point)."""

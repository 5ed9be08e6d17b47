"""The `tether` command line, one module per concern (main.py parses and dispatches)."""

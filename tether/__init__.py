"""Tether: durable AI agents as Temporal workflows.

The agent loop is a Temporal workflow; every LLM call and every tool call is a retried
activity. Modules here are pure (no I/O at import) so workflows may import them.
"""

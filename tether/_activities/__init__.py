"""Activities: every effect of an agent run (LLM calls, tool calls) happens here."""

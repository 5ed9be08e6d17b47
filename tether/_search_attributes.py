"""Tether's custom search attributes, by name and Temporal type.

Dependency-free on purpose: dev.py (plain python3, before any install) registers these
with the dev server, and the workflow upserts them on every status change.
"""

AGENT_NAME = "AgentName"
AGENT_STATUS = "AgentStatus"
AGENT_TURNS = "AgentTurns"
AGENT_TOKENS = "AgentTokens"

SEARCH_ATTRIBUTES = {
    AGENT_NAME: "Keyword",
    AGENT_STATUS: "Keyword",
    AGENT_TURNS: "Int",
    AGENT_TOKENS: "Int",
}

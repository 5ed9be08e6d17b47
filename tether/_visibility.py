"""What a run shows in the Temporal web UI: summary, current details, search attributes."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

from tether._seam import RunState
from tether._search_attributes import AGENT_NAME, AGENT_STATUS, AGENT_TOKENS, AGENT_TURNS

AGENT_NAME_KEY = SearchAttributeKey.for_keyword(AGENT_NAME)
AGENT_STATUS_KEY = SearchAttributeKey.for_keyword(AGENT_STATUS)
AGENT_TURNS_KEY = SearchAttributeKey.for_int(AGENT_TURNS)
AGENT_TOKENS_KEY = SearchAttributeKey.for_int(AGENT_TOKENS)
SEARCH_KEYS: list[SearchAttributeKey[Any]] = [
    AGENT_NAME_KEY,
    AGENT_STATUS_KEY,
    AGENT_TURNS_KEY,
    AGENT_TOKENS_KEY,
]

SUMMARY_PROMPT_CHARS = 80


def run_summary(agent: str, prompt: str) -> str:
    """One line for the runs list: `support-desk: Order A-1001 arrived broken…`."""
    line = " ".join(prompt.split())
    if len(line) > SUMMARY_PROMPT_CHARS:
        line = line[: SUMMARY_PROMPT_CHARS - 1] + "…"
    return f"{agent}: {line}"


def current_details(state: RunState, max_turns: int, waiting_for: str | None) -> str:
    """Markdown for the run's page, kept current at every transition."""
    lines = [
        f"**{state.agent}** · `{state.status}`",
        f"turn {state.turn} (at most {max_turns} per message) · "
        f"{state.usage.total_tokens:,} tokens"
        + (f" · ${state.cost_usd:.4f}" if state.cost_usd is not None else "")
        + f" · model `{state.model}`",
    ]
    if waiting_for:
        lines.append(f"waiting for: {waiting_for}")
    if state.error:
        lines.append(f"error: {state.error}")
    return "\n\n".join(lines)

"""Limits that inputs, results and definitions are checked against."""

from __future__ import annotations

from tether._storage import payload_store_configured

MAX_PROMPT_CHARS = 100_000
MAX_TURNS_LIMIT = 1_000
DAY_SECONDS = 24 * 3600
DEFAULT_MAX_RESULT_BYTES = 16 * 1024
# A run's token budget unless its agent sets another (None: no limit): a run that
# loops, or a caller that asks for a long one, stops here rather than at the invoice.
DEFAULT_MAX_TOTAL_TOKENS = 1_000_000
# Temporal refuses a payload over 2 MiB (and the SDK then retries the activity until it
# gives up, failing the run). A tool result may be at most half of that, so JSON
# escaping and the codec fit; the tool activity cuts any result that still does not.
PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024
MAX_RESULT_BYTES_LIMIT = PAYLOAD_LIMIT_BYTES // 2
PAYLOAD_BUDGET_BYTES = PAYLOAD_LIMIT_BYTES - 64 * 1024
# With TETHER_PAYLOAD_STORE set, large payloads go to external storage instead.
STORED_RESULT_BYTES_LIMIT = 64 * 1024 * 1024


def result_bytes_limit() -> int:
    """The largest tool result limit allowed here: 1 MiB, or 64 MiB with a payload store
    (read where agents and tools are defined: in the worker's process, its environment)."""
    return STORED_RESULT_BYTES_LIMIT if payload_store_configured() else MAX_RESULT_BYTES_LIMIT


MAX_NAME_CHARS = 200

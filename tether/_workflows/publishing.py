"""What the web UI shows of an agent run, kept current (workflow code: no I/O).

- Current details (a query: free, no history) at every change of what they show.
- Search attributes (agent, status, turns, tokens: to filter runs) only when the status
  changes, turns and tokens riding along: each upsert is a history event and a billable
  action, so one per turn would grow every run's history. Runs that predate
  generations.UPSERT_ON_STATUS_ONLY upsert on every turn, as they were recorded. From
  generations.INPUT_GENERATION on, only when asked: at every change if the worker keeps
  statuses live (`live_status`), else from the first wait for an approval on (the web
  UI's inbox looks for it; once upserted, each later change is too, or a filter would
  find the run in a status it has left). A run that waits for no one upserts nothing.
- The memo: the model the run moved to, and every fallback so far.
Only the loop publishes what writes history (an upsert is a command): a handler that
did could record state ahead of the loop's, and that history would not replay.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether._run_io import ModelSwitch, RunState, RunStatus
    from tether._visibility import (
        AGENT_NAME_KEY,
        AGENT_STATUS_KEY,
        AGENT_TOKENS_KEY,
        AGENT_TURNS_KEY,
        current_details,
    )

from tether._workflows.run_state import Conversation, Limits, Spend

OPEN_STATUSES: tuple[RunStatus, ...] = (
    "running",
    "awaiting_approval",
    "awaiting_answer",
    "awaiting_user",
)
# The statuses someone looks for by search attribute when statuses are not kept live.
LOOKED_FOR: tuple[RunStatus, ...] = ("awaiting_approval", "awaiting_answer")


class Publisher:
    """The run's status (what it waits for, why it failed), and what the web UI was last
    shown of it. `state` is the workflow's `state` query: what is shown is what a
    query answers."""

    def __init__(
        self,
        agent: str,
        state: Callable[[], RunState],
        limits: Limits,
        conversation: Conversation,
    ) -> None:
        self.status: RunStatus = "running"
        self.error: str | None = None
        self.waiting_for: str | None = None
        self.searchable = False  # the agent's `searchable`, once its spec is known
        self.upsert_every_turn = False  # a run from before UPSERT_ON_STATUS_ONLY
        self.upsert_when_asked = False  # a run from generations.INPUT_GENERATION on
        self.live_status = False  # the agent's spec's `live_status`, once known
        self._upserted = False
        self._published: tuple[object, ...] | None = None
        self._agent = agent
        self._state = state
        self._limits = limits
        self._conversation = conversation

    @property
    def closed(self) -> bool:
        return self.status not in OPEN_STATUSES

    def set_status(self, status: RunStatus, waiting_for: str | None = None) -> None:
        self.status = status
        self.waiting_for = waiting_for
        self.publish()

    def fail(self, error: str) -> None:
        self.error = error
        self.set_status("failed")

    def publish(self) -> None:
        """Details always; search attributes when what they show has changed."""
        state = self.show_details()
        searchable: tuple[object, ...] = (state.status,)
        if self.upsert_every_turn:
            searchable = (state.status, state.turn, state.usage.total_tokens)
        if searchable == self._published:
            return
        self._published = searchable
        if not self.searchable:
            return
        asked = self.live_status or self._upserted or state.status in LOOKED_FOR
        if self.upsert_when_asked and not asked:
            return
        self._upserted = True
        workflow.upsert_search_attributes(
            [
                AGENT_NAME_KEY.value_set(self._agent),
                AGENT_STATUS_KEY.value_set(state.status),
                AGENT_TURNS_KEY.value_set(state.turn),
                AGENT_TOKENS_KEY.value_set(state.usage.total_tokens),
            ]
        )

    def spec_known(self, searchable: bool, live_status: bool) -> None:
        """The agent's spec is recorded: whether to upsert, from now on."""
        self.searchable, self.live_status = searchable, live_status
        if self.upsert_when_asked:
            self._published = None  # what was shown before was not upserted

    def show_details(self) -> RunState:
        """The web UI's current details (a query, not history), from the state now."""
        state = self._state()
        found = self._conversation.results_since_user() if state.pending_approvals else []
        workflow.set_current_details(
            current_details(
                state,
                self._limits.max_turns,
                self.waiting_for,
                workflow.info().workflow_id,
                found,
            )
        )
        return state

    def model_switched(self, model: str, switches: list[ModelSwitch]) -> None:
        """The decision goes into history (and the web UI's memo) as its own event."""
        workflow.upsert_memo({"model": model, "model_switches": [s.model_dump() for s in switches]})


def budget_detail(status: RunStatus, limits: Limits, spend: Spend) -> str | None:
    """What ran out, if a budget ended the run."""
    if status == "max_turns":
        return f"{limits.max_turns} model calls for one message"
    if status == "max_tokens":
        return f"{spend.usage.total_tokens:,} tokens of {limits.max_total_tokens:,}"
    if status == "max_cost":
        return f"${spend.cost() or 0:,.4f} of ${limits.max_cost_usd or 0:,.4f}"
    if status == "deadline_exceeded":
        return f"the deadline {limits.deadline:%Y-%m-%d %H:%M:%S} UTC passed"
    return None

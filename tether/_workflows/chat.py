"""A chat's side of an agent run (workflow code: no I/O): the messages the user sends,
the wait for the next ones, and continue-as-new between them.

A chat lives as long as its user keeps writing, but a run's history must stay small:
so between two messages (never within a turn) the run continues-as-new once it has
made `continue_as_new_turns` model calls, or Temporal suggests it. The next run gets
everything the user sees (the conversation, tokens and cost, the turn count, the
deadline, the event feed) in `AgentInput.carried`, and `restore` rebuilds the run's
state from it before any handler runs, so queries answer from the first task.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.workflow import ContinueAsNewVersioningBehavior

with workflow.unsafe.imports_passed_through():
    from tether._events import ContinuedAsNew
    from tether._limits import MAX_PROMPT_CHARS
    from tether._run_io import INPUT_GENERATION, AgentInput, Carried

from tether._workflows.carrying import fitted_carry
from tether._workflows.deadline import until
from tether._workflows.events import RunEvents
from tether._workflows.logs import log
from tether._workflows.run_state import Conversation, Inbox, Limits, Spend


class Chat:
    """The messages sent to a run (`enabled`: it is a chat), and how its conversation
    goes on in the next run. `runs` counts this conversation's runs, this one too."""

    def __init__(
        self,
        enabled: bool,
        runs: int,
        conversation: Conversation,
        spend: Spend,
        limits: Limits,
        events: RunEvents,
    ) -> None:
        self.enabled = enabled
        self.runs = runs
        self.inbox = Inbox()
        self._conversation = conversation
        self._spend = spend
        self._limits = limits
        self._events = events

    def check_message(self, text: str, *, ended: bool, status: str) -> None:
        """Refuse a message `send` cannot take (ValueError, told to the sender)."""
        if not self.enabled:
            raise ValueError("this run is not a chat; start one with `tether chat`")
        if ended or self.inbox.end_requested:
            raise ValueError(f"the conversation has ended ({status})")
        if not text.strip():
            raise ValueError("the message is empty")
        if len(text) > MAX_PROMPT_CHARS:
            raise ValueError(f"the message is longer than {MAX_PROMPT_CHARS:,} characters")

    async def next_messages(
        self, params: AgentInput, *, model: str | None, turn: int, compacted: bool
    ) -> list[str] | None:
        """The user's next messages (none yet: ask again), or None once the chat was
        ended. If continue-as-new is due first, the run continues as new instead, as
        `params` with the conversation carried over (`compacted`: the agent has a
        context policy, and only the model's view is carried).

        Raises:
            DeadlineReached: the run's deadline came first.
        """
        inbox = self.inbox
        await until(
            lambda: bool(inbox.queued) or inbox.end_requested or self._due(),
            self._limits.deadline,
        )
        if inbox.queued:
            return inbox.take()
        if inbox.end_requested:
            return None
        # Callers of `send` still wait for replies already given: let them have them
        # first. A message arriving meanwhile is answered in this run.
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() or bool(inbox.queued)
        )
        if not inbox.queued:
            # On a versioned fleet the next run starts on the current build (a run is
            # otherwise pinned to the build that started it).
            workflow.continue_as_new(
                fitted_carry(
                    self._carry_over(params, model, turn, compacted), workflow.info().run_id
                ),
                initial_versioning_behavior=ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
            )
        return []

    def _due(self) -> bool:
        return (
            self._spend.calls >= self._limits.continue_as_new_turns
            or workflow.info().is_continue_as_new_suggested()
        )

    def _carry_over(
        self, params: AgentInput, model: str | None, turn: int, compacted: bool
    ) -> AgentInput:
        conversation = self._conversation
        # With a context policy only the model's (bounded) view is carried: the payload
        # stays small however long the chat lives; this run's transcript stays here.
        earlier = []
        # (A chat without a policy has earlier runs once its carry was compacted.)
        if compacted or conversation.earlier_runs:
            earlier = [*conversation.earlier_runs, workflow.info().run_id]
        self._events.publish(ContinuedAsNew(runs=self.runs))
        carried = Carried(
            messages=conversation.messages,
            earlier_runs=earlier,
            usage=self._spend.usage,
            cost_usd=self._spend.cost(),
            turn=turn,
            deadline=self._limits.deadline,
            runs=self.runs,
            stream=self._events.carry(),
            watched_until=self._events.watched_until,
        )
        log.info("continuing as new", extra={"turn": turn, "runs": self.runs})
        return params.model_copy(
            # The next run starts on this code: it takes the newest generation.
            update={"model": model, "carried": carried, "generation": INPUT_GENERATION}
        )


def restore(carried: Carried | None) -> tuple[Conversation, Spend, Limits]:
    """The conversation, spend and deadline a chat carried into this run (with None,
    a first run's: empty)."""
    if carried is None:
        return Conversation(), Spend(), Limits()
    # With a context policy the chat carried its compacted view: this run's transcript
    # starts empty, the earlier runs' transcripts hold the rest.
    conversation = Conversation(
        messages=list(carried.messages),
        transcript=[] if carried.earlier_runs else list(carried.messages),
        earlier_runs=carried.earlier_runs,
    )
    spend = Spend(usage=carried.usage, carried_cost=carried.cost_usd)
    return conversation, spend, Limits(deadline=carried.deadline)

"""AgentWorkflow: the durable agent loop, to read top to bottom.

`run` starts the run and ends it, however it ends. `_converse` answers the prompt and,
in a `chat` run, each message sent after it (the `send` update), until the chat is
ended, cancelled or out of budget. `_respond` is the turn loop: a model call, then
every tool call the model asked for, each its own activity (concurrently, results kept
in the model's order), until a final answer. The queries come last; the handlers that
steer a run (send, interrupt, end) are steering.py's. The workflow decides; activities
act; each other concern has its own module (see the package's docstring), handed the
pieces of the run's state it needs.

A new budget is a `Limits` field that `Limits.spent` checks; a new step of a turn goes
into `_respond` where it happens. A change to the commands a run issues (an activity, a
timer, an upsert, their order) goes behind a patch (generations.py): without one, runs
recorded on the old code fail to replay (tests/durability/test_replay.py).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import (
    ActivityError,
    FailureError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from tether._events import (
        BudgetReached,
        RunEnded,
        TurnStarted,
        UserMessage,
    )
    from tether._failures import root_message
    from tether._messages import Message, ToolCall
    from tether._records import AgentSpec
    from tether._run_io import AgentInput, AgentResult, RunState, RunStatus
    from tether._transcripts import TRANSCRIPT_PAGE_QUERY, TranscriptPage, page_of
    from tether._wire import LlmReply, ToolOutcome

from tether._workflows.agent_runs import AGENT_WORKFLOW
from tether._workflows.approvals import DecidesApprovals
from tether._workflows.chat import Chat, restore
from tether._workflows.deadline import DeadlineReached, by_deadline
from tether._workflows.events import RunEvents
from tether._workflows.generations import Paths, paths
from tether._workflows.inputs import check_model, checked_input, invalid_input, parsed_input
from tether._workflows.interrupts import NO_ANSWER, Interrupts, TurnStopped, interrupted_note
from tether._workflows.llm_calls import ModelCalls, publish_reply, repair_request
from tether._workflows.logs import log
from tether._workflows.outcomes import Outcomes, continue_request
from tether._workflows.publishing import Publisher, budget_detail
from tether._workflows.questions import AnswersQuestions
from tether._workflows.spec_calls import describe_agent, first_call
from tether._workflows.steering import TakesMessages
from tether._workflows.tool_calls import RunContext, ToolCalls, awaits_approval

# What `_respond` returns when an interrupt without a message stopped a chat's turn.
NotAnswered = Literal["not answered"]
NOT_ANSWERED: NotAnswered = "not answered"
First = LlmReply | ActivityError | TurnStopped | None


@workflow.defn(name=AGENT_WORKFLOW)
class AgentWorkflow(DecidesApprovals, AnswersQuestions, TakesMessages):
    """One agent run as a workflow: started by `AgentRun.start`, `tether run` or
    `run_agent`, registered by `TetherPlugin` (a worker without it registers it itself)."""

    # The input is read here, before any handler runs: an update can arrive in the run's
    # first workflow task, and its validator must already know the run is a chat.
    @workflow.init
    def __init__(self, *args: Any) -> None:
        # Invalid input is refused by `run`; until then this instance holds defaults.
        parsed = parsed_input(AgentInput, args)
        valid = parsed if isinstance(parsed, AgentInput) else None
        self._agent = valid.agent if valid else ""
        self._generation = valid.generation if valid else None
        self.generation_paths = Paths()  # set first thing in `run`
        # What a chat carried over from the run before, there for queries from the first
        # task (`carried` on a first start is not the workflow's own: `run` refuses it).
        carried = valid.carried if valid and workflow.info().continued_run_id else None
        self._conversation, self._spend, self._limits = restore(carried)
        self._turn = carried.turn if carried else 0
        self._output: dict[str, object] | None = None
        self._events = RunEvents(  # the run's event feed, continued from the run before
            WorkflowStream(carried.stream if carried else None),
            carried.watched_until if carried else None,
        )
        self._chat = Chat(
            valid.chat if valid else False,
            valid.carried.runs + 1 if valid and valid.carried else 1,
            self._conversation,
            self._spend,
            self._limits,
            self._events,
        )
        self._shown = Publisher(self._agent, self.state, self._limits, self._conversation)
        self._tools = ToolCalls(self._events, self._shown, self._limits, self._spend)
        self._approvals = self._tools.approvals  # what `decide` decides
        self._questions = self._tools.questions  # what `answer` answers
        self._models = ModelCalls(
            self._agent, self._conversation, self._spend, self._events, self._shown
        )
        self._outcomes = Outcomes()  # cut replies and dropped tools (outcomes.py)
        self._interrupts = Interrupts()  # what `interrupt` asks of the turn (interrupts.py)
        if valid and carried:
            self._models.model = valid.model  # the model the conversation moved to

    @workflow.run
    async def run(self, *args: Any) -> AgentResult:
        """Answer the input's prompt (an `AgentInput`; a chat: every message sent)."""
        taken = self.generation_paths = paths(self._generation)
        self._shown.upsert_every_turn = not taken.upsert_on_status_only
        self._shown.upsert_when_asked = taken.from_input
        self._local_with_updates = not taken.no_local_activities_with_updates
        self._approvals.reused_call_ids = taken.reused_call_ids
        self._outcomes.enabled = taken.real_models
        bound = taken.bound_and_scoped
        params = checked_input(AgentInput, args)
        if bound:
            self._tools.context = RunContext(
                acting_for=params.acting_for,
                started_by=params.started_by,
                bound=True,
                parent_rules=tuple(params.parent_rules),
            )
            if params.carried is not None and not workflow.info().continued_run_id:
                raise invalid_input("`carried` is the workflow's own, for continue-as-new")
        try:
            result = await self._loop(params)
        except BaseException as e:
            if is_cancelled_exception(e):
                self._shown.set_status("cancelled")
            elif not self._shown.closed and isinstance(e, FailureError):
                # E.g. an agent no worker serves: `state` says so. No upsert here, as
                # runs that failed before this line replay without one.
                self._shown.status, self._shown.error = "failed", root_message(e)
                self._shown.show_details()
            # Not for a run evicted from the cache (GeneratorExit): it has not ended, and
            # outside its activation there is no workflow to publish to.
            if not isinstance(e, workflow.ContinueAsNewError | GeneratorExit):
                self._events.publish(RunEnded(status=self._shown.status, error=self._shown.error))
                self._events.close()
            raise
        self._events.close()
        # Callers of `send` learn how the run ended before it closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _loop(self, params: AgentInput) -> AgentResult:
        started = workflow.now()
        first: First = None
        if self.generation_paths.from_input and params.carried is None:
            # The spec comes with the first model call's reply (generations.INPUT_GENERATION).
            self._shown.set_status("running", "a reply from the agent's model")
            try:
                first = await self._interrupts.during(
                    "the model call of turn 1",
                    lambda: first_call(params, started, watched=self._events.watched),
                    local=False,
                )
            except TurnStopped as stopped:
                first = stopped  # taken in turn 1, once the spec is recorded below
        if isinstance(first, LlmReply) and first.spec is not None:
            spec = first.spec
            self._configure(spec, params, now=started)
            if first.declined is None:
                self._models.first_replied(spec, first)
            else:  # the model is called on the usual path (or refused); why: in history
                first = None
        else:
            # From generations.BOUND_AND_SCOPED on, a regular activity: a local one's
            # result can be recorded in the task before the run has seen it, and a cancel
            # arriving then gives a history whose replay upserts a status the run never did.
            local = self._local_allowed() and not self._tools.context.bound
            spec = await describe_agent(params.agent, local=local)
            self._configure(spec, params, now=workflow.now())
        try:
            return await self._converse(spec, params, first)
        except DeadlineReached:
            deadline = str(self._limits.deadline)
            log.info("deadline reached", extra={"deadline": deadline})
            return self._finish("deadline_exceeded", None)

    def _configure(self, spec: AgentSpec, params: AgentInput, *, now: datetime) -> None:
        self._shown.spec_known(spec.searchable, spec.live_status)
        self._models.model = params.model or spec.model
        self._tools.approval_timeout = timedelta(
            seconds=params.approval_timeout_seconds or spec.approval_timeout_seconds
        )
        bound = self._tools.context.bound
        self._limits.set_from(spec, params, bound=bound, now=now)
        self._models.priced = self._limits.max_cost_usd is not None
        if bound:
            check_model(spec, params)
        if params.carried is None:
            self._conversation.add(Message.system(spec.instructions), Message.user(params.prompt))
            self._events.publish(UserMessage(text=params.prompt))

    async def _converse(self, spec: AgentSpec, params: AgentInput, first: First) -> AgentResult:
        # A continued conversation has answered everything it was sent.
        unanswered = params.carried is None
        while True:
            if unanswered:
                self._shown.set_status("running")
                turns = self._respond(spec, first)
                first = None
                ended = await by_deadline(turns, self._limits.deadline)
                if isinstance(ended, AgentResult):
                    return ended
                if ended == NOT_ANSWERED:
                    self._chat.inbox.answered(NO_ANSWER)
                else:
                    answer = self._outcomes.answer(self._conversation.answer())
                    if not self._chat.enabled:
                        return self._finish("completed", answer, self._output)
                    self._chat.inbox.answered(answer or "")
                    if spent := self._limits.spent(self._spend):
                        return self._finish(spent, answer)
            self._shown.set_status("awaiting_user", "the user's next message")
            # Continues-as-new instead when due, carrying the conversation over.
            compacted = spec.context is not None
            messages = await self._chat.next_messages(
                params, model=self._models.model, turn=self._turn, compacted=compacted
            )
            if messages is None:
                return self._finish("completed", self._conversation.answer())
            for text in messages:
                self._conversation.add(Message.user(text))
                self._events.publish(UserMessage(text=text))
            unanswered = bool(messages)

    async def _respond(self, spec: AgentSpec, first: First) -> AgentResult | NotAnswered | None:
        """Model and tool calls until the model answers the latest user message: None
        once it has (the answer is the last message), NOT_ANSWERED if an interrupt
        without a message stopped a chat's turn, or how the run ended instead.
        `first`: the reply of the run's first call, made before the spec was known, how
        it failed, or the interrupt that stopped it."""
        self._output = None
        repairs_left = spec.llm.output_repairs
        conversation = self._conversation
        for _ in range(self._limits.max_turns):
            # The first reply's call was made before the budgets were known: it counts.
            spent = None if isinstance(first, LlmReply) else self._limits.spent(self._spend)
            if spent:
                return self._finish(spent, None)
            self._turn += 1
            self._events.publish(
                TurnStarted(turn=self._turn, model=self._models.model or spec.model)
            )
            try:
                if isinstance(first, TurnStopped):
                    raise first
                if isinstance(first, LlmReply):
                    reply, first = first, None
                    publish_reply(self._events, self._turn, reply)
                else:
                    local, failed, first = self._local_allowed(), first, None
                    reply = await self._interrupts.during(
                        f"the model call of turn {self._turn}",
                        functools.partial(
                            self._models.call, spec, self._turn, local_allowed=local, failed=failed
                        ),
                        local=spec.llm.local_activity and local,
                    )
                conversation.add(reply.message)
                step = self._outcomes.after(spec, reply)
                if step == "fail":
                    return self._finish("truncated", reply.message.content)
                if step == "continue":
                    conversation.add(continue_request())
                    continue
                calls = reply.message.tool_calls
                log.info("turn finished", extra={"turn": self._turn, "tool_calls": len(calls)})
                if calls:
                    local = self._local_allowed(awaits_approval(spec, calls))
                    try:
                        outcomes = await self._tools.run(
                            spec, calls, self._turn, local=local, interrupts=self._interrupts
                        )
                    except TurnStopped as stopped:
                        self._answer_calls(calls, stopped.outcomes)
                        raise
                    self._answer_calls(calls, outcomes)
                    continue
                if reply.output_error is None:
                    self._output = reply.output
                    # An interrupt asked as the answer came: the answer stands, and a
                    # message it brings is the next turn's.
                    if self._interrupts.requested and self._interrupted([]):
                        continue
                    return None
                if repairs_left == 0:
                    log.info("structured output still invalid after repairs")
                    return self._finish("invalid_output", reply.message.content)
                repairs_left -= 1
                conversation.add(repair_request(reply.output_error))
            except TurnStopped as stopped:
                first = None
                if not self._interrupted(stopped.abandoned):
                    if self._chat.enabled:
                        return NOT_ANSWERED
                    return self._finish("interrupted", None)
        log.info("turn limit reached", extra={"max_turns": self._limits.max_turns})
        return self._finish("max_turns", None)

    def _answer_calls(self, calls: list[ToolCall], outcomes: list[ToolOutcome]) -> None:
        for call, outcome in zip(calls, outcomes, strict=True):
            self._conversation.add(Message.tool(call.id, outcome.content))

    def _interrupted(self, abandoned: list[str]) -> bool:
        """Take the interrupts asked, which stopped the turn's `abandoned` steps: record
        them, answer their callers; True if one brought a message, now the user's next."""
        taken = self._interrupts.take(self._turn, abandoned)
        log.info("turn interrupted", extra={"turn": self._turn, "abandoned": abandoned})
        self._conversation.transcript.append(interrupted_note(self._turn, abandoned))
        self._shown.set_status("running")
        for interrupt in taken:
            self._events.publish(interrupt)
            if interrupt.message is not None:
                self._conversation.add(Message.user(interrupt.message))
                self._events.publish(UserMessage(text=interrupt.message))
        return any(interrupt.message is not None for interrupt in taken)

    def _finish(
        self, status: RunStatus, answer: str | None, output: dict[str, object] | None = None
    ) -> AgentResult:
        status = self._outcomes.status(status)
        self._shown.set_status(status)
        if budget := budget_detail(status, self._limits, self._spend):
            self._events.publish(BudgetReached(status=status, detail=budget))
        self._events.publish(RunEnded(status=status, answer=answer))
        return AgentResult(
            status=status,
            answer=answer,
            output=output,
            turns=self._turn,
            usage=self._spend.usage,
            cost_usd=self._spend.cost(),
            model=self._models.model or "",
            model_switches=self._spend.switches,
            truncated=self._outcomes.truncated,
            tools_dropped=self._outcomes.tools_dropped,
        )

    def _local_allowed(self, approvals_in_turn: bool = False) -> bool:
        """Whether `fast` tools and local model calls may run as local activities now:
        not while an update may arrive (see generations.NO_LOCAL_ACTIVITIES_WITH_UPDATES)."""
        return self._local_with_updates or not (self._chat.enabled or approvals_in_turn)

    @workflow.query
    def state(self) -> RunState:
        return RunState(
            status=self._shown.status,
            agent=self._agent,
            model=self._models.model,
            turn=self._turn,
            usage=self._spend.usage,
            cost_usd=self._spend.cost(),
            messages=len(self._conversation.transcript),
            model_switches=self._spend.switches,
            error=self._shown.error,
            chat=self._chat.enabled,
            pending_approvals=self._approvals.pending,
            pending_questions=self._questions.pending,
            decisions=self._approvals.taken,
            queued_messages=len(self._chat.inbox.queued),
            last_message=self._conversation.answer(),
            runs=self._chat.runs,
            deadline=self._limits.deadline,
            earlier_runs=self._conversation.earlier_runs,
            truncated=self._outcomes.truncated,
            tools_dropped=self._outcomes.tools_dropped,
        )

    @workflow.query
    def transcript(self) -> list[Message]:
        """Every message of the conversation so far."""
        return self._conversation.transcript

    @workflow.query(name=TRANSCRIPT_PAGE_QUERY)
    def transcript_page(self, start: int) -> TranscriptPage:
        """The transcript from message `start` on, as much as one answer holds."""
        return page_of(self._conversation.transcript, start)

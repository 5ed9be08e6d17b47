"""AgentWorkflow: the durable agent loop.

Each turn sends the conversation to the LLM activity, runs every tool call the model
asked for as its own activity (concurrently, results kept in the model's order), and
stops at a final answer. A `chat` run then waits for the next message (the `send`
update) and answers it the same way, until it is ended, cancelled or out of budget.
A long chat continues-as-new between messages, carrying the conversation along.
Budgets: model calls per message, total tokens, and a deadline for the whole run.
The workflow decides; activities act.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
    is_cancelled_exception,
)
from temporalio.workflow import ContinueAsNewVersioningBehavior

with workflow.unsafe.imports_passed_through():
    from tether._events import (
        BudgetReached,
        ContinuedAsNew,
        ModelSwitched,
        RunEnded,
        ToolCallFinished,
        ToolCallStarted,
        TurnStarted,
        UserMessage,
    )
    from tether._limits import MAX_PROMPT_CHARS
    from tether._messages import Message, ToolCall
    from tether._policies import ContextPolicy
    from tether._records import AgentSpec, ToolSpec
    from tether._run_io import AgentInput, AgentResult, Carried, ModelSwitch, RunState, RunStatus
    from tether._visibility import (
        AGENT_NAME_KEY,
        AGENT_STATUS_KEY,
        AGENT_TOKENS_KEY,
        AGENT_TURNS_KEY,
        current_details,
    )
    from tether._wire import CONVERSATION_LOST, LlmReply, LlmRequest, ToolOutcome

from tether._workflows import context
from tether._workflows.approvals import Approvals, DecidesApprovals
from tether._workflows.events import RunEvents
from tether._workflows.generations import paths
from tether._workflows.inputs import checked_input, invalid_input, parsed_input
from tether._workflows.llm_calls import describe_agent, execute_llm, repair_request
from tether._workflows.outcomes import Outcomes, continue_request
from tether._workflows.run_state import Conversation, Inbox, Limits, Publishing, Spend
from tether._workflows.subagents import run_subagent
from tether._workflows.tool_calls import RunContext, run_tool_call

T = TypeVar("T")
N = TypeVar("N", int, float)
OPEN_STATUSES: tuple[RunStatus, ...] = ("running", "awaiting_approval", "awaiting_user")


class DeadlineReached(Exception):
    """The run's deadline came; caught in the workflow, which ends the run with it."""


AGENT_WORKFLOW = "AgentWorkflow"  # the workflow type; histories name it, keep it


@workflow.defn(name=AGENT_WORKFLOW)
class AgentWorkflow(DecidesApprovals):
    # The input is read here, before any handler runs: an update can arrive in the run's
    # first workflow task, and its validator must already know the run is a chat.
    @workflow.init
    def __init__(self, *args: Any) -> None:
        # Invalid input is refused by `run`; until then this instance holds defaults.
        parsed = parsed_input(AgentInput, args)
        valid = parsed if isinstance(parsed, AgentInput) else None
        self._agent = valid.agent if valid else ""
        self._chat = valid.chat if valid else False
        self._runs = valid.carried.runs + 1 if valid and valid.carried else 1
        self._model: str | None = None
        self._status: RunStatus = "running"
        self._error: str | None = None
        self._turn = 0
        self._output: dict[str, object] | None = None
        self._tools_waiting: str | None = None
        self._policy: ContextPolicy | None = None
        # The task queue of the worker that holds this run's conversation (its last
        # model call's); the next call goes there first.
        self._worker_queue: str | None = None
        self._conversation = Conversation()
        self._spend = Spend()
        self._limits = Limits()
        self._inbox = Inbox()
        self._shown = Publishing()
        self._outcomes = Outcomes()
        # The run's event feed, continued from the run before when a chat went on
        # (`carried` on a first start is not the workflow's own: `run` refuses it).
        continued = valid.carried if valid and workflow.info().continued_run_id else None
        self._events = RunEvents(
            WorkflowStream(continued.stream if continued else None),
            continued.watched_until if continued else None,
        )
        self._approvals = Approvals(on_change=self._approvals_changed, publish=self._events.publish)
        self._context = RunContext()
        if valid and continued:
            # What the conversation carried over, there for queries from the first task.
            self._restore(continued, valid.model)

    @workflow.run
    async def run(self, *args: Any) -> AgentResult:
        """Answer the input's prompt (an `AgentInput`; a chat: every message sent)."""
        taken = paths()
        self._shown.upsert_every_turn = not taken.upsert_on_status_only
        self._local_with_updates = not taken.no_local_activities_with_updates
        self._approvals.reused_call_ids = taken.reused_call_ids
        self._outcomes.enabled = taken.real_models
        bound = taken.bound_and_scoped
        params = checked_input(AgentInput, args)
        if bound:
            self._context = RunContext(
                acting_for=params.acting_for, started_by=params.started_by, bound=True
            )
            if params.carried is not None and not workflow.info().continued_run_id:
                raise invalid_input("`carried` is the workflow's own, for continue-as-new")
        try:
            result = await self._loop(params)
        except BaseException as e:
            if is_cancelled_exception(e):
                self._set_status("cancelled")
            elif not self._closed and isinstance(e, FailureError):
                # E.g. an agent no worker serves: `state` says so. No upsert here, as
                # runs that failed before this line replay without one.
                self._status, self._error = "failed", e.message
                self._show_details()
            # Not for a run evicted from the cache (GeneratorExit): it has not ended, and
            # outside its activation there is no workflow to publish to.
            if not isinstance(e, workflow.ContinueAsNewError | GeneratorExit):
                self._events.publish(RunEnded(status=self._status, error=self._error))
                self._events.close()
            raise
        self._events.close()
        # Callers of `send` learn how the run ended before it closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _loop(self, params: AgentInput) -> AgentResult:
        # From generations.BOUND_AND_SCOPED on, a regular activity: a local one's result can be
        # recorded in the task before the run has seen it, and a cancel arriving in that
        # moment left a history whose replay upserts the status where the run did not
        # (tests/test_stress.py found it).
        local = self._local_allowed() and not self._context.bound
        spec = await describe_agent(params.agent, local=local)
        self._configure(spec, params)
        try:
            return await self._converse(spec, params)
        except DeadlineReached:
            deadline = str(self._limits.deadline)
            workflow.logger.info("deadline reached", extra={"deadline": deadline})
            return self._finish("deadline_exceeded", None)

    def _configure(self, spec: AgentSpec, params: AgentInput) -> None:
        self._shown.searchable = spec.searchable
        self._policy = spec.context
        self._model = params.model or spec.model
        limits = self._limits
        limits.max_turns = params.max_turns or spec.max_turns
        limits.max_total_tokens = params.max_total_tokens or spec.max_total_tokens
        limits.continue_as_new_turns = params.continue_as_new_turns or spec.continue_as_new_turns
        seconds = params.deadline_seconds or spec.deadline_seconds
        if self._context.bound:
            self._check_model(spec, params)
            # The input may lower the agent's budgets, never raise them.
            limits.max_turns = min(limits.max_turns, spec.max_turns)
            limits.max_total_tokens = _lower(limits.max_total_tokens, spec.max_total_tokens)
            seconds = _lower(seconds, spec.deadline_seconds)
        if params.carried is None:
            self._conversation.add(Message.system(spec.instructions), Message.user(params.prompt))
            self._events.publish(UserMessage(text=params.prompt))
            limits.deadline = workflow.now() + timedelta(seconds=seconds) if seconds else None

    def _check_model(self, spec: AgentSpec, params: AgentInput) -> None:
        """Refuse a first start that asks for a model the agent does not allow."""
        if spec.models is None or params.model is None or params.carried is not None:
            return  # a continued run's model is the one its conversation moved to
        allowed = [spec.model, *spec.llm.fallback_models, *spec.models]
        if params.model not in allowed:
            raise invalid_input(
                f"agent {spec.name!r} does not run model {params.model!r} "
                f"(allowed: {', '.join(dict.fromkeys(allowed))})"
            )

    def _restore(self, carried: Carried, model: str | None) -> None:
        self._model = model
        # With a context policy the chat carried its compacted view: this run's transcript
        # starts empty, the earlier runs' transcripts hold the rest.
        self._conversation = Conversation(
            messages=list(carried.messages),
            transcript=[] if carried.earlier_runs else list(carried.messages),
            earlier_runs=carried.earlier_runs,
        )
        self._spend.usage = carried.usage
        self._spend.carried_cost = carried.cost_usd
        self._turn = carried.turn
        self._limits.deadline = carried.deadline

    async def _converse(self, spec: AgentSpec, params: AgentInput) -> AgentResult:
        approval_timeout = timedelta(
            seconds=params.approval_timeout_seconds or spec.approval_timeout_seconds
        )
        # A continued conversation has answered everything it was sent.
        unanswered = params.carried is None
        inbox = self._inbox
        while True:
            if unanswered:
                self._set_status("running")
                ended = await self._by_deadline(self._respond(spec, approval_timeout))
                if ended is not None:
                    return ended
                answer = self._outcomes.answer(self._conversation.answer())
                if not self._chat:
                    return self._finish("completed", answer, self._output)
                self._inbox.answered(answer or "")
                if self._limits.out_of_tokens(self._spend.usage):
                    return self._finish("max_tokens", answer)
            self._set_status("awaiting_user", "the user's next message")
            await self._until(
                lambda: bool(inbox.queued) or inbox.end_requested or self._continue_as_new_due()
            )
            unanswered = bool(inbox.queued)
            if unanswered:
                for text in inbox.take():
                    self._conversation.add(Message.user(text))
                    self._events.publish(UserMessage(text=text))
            elif inbox.end_requested:
                return self._finish("completed", self._conversation.answer())
            else:
                # Callers of `send` still wait for replies already given: let them have
                # them first. A message arriving meanwhile is answered in this run.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or bool(inbox.queued)
                )
                if not inbox.queued:
                    # On a versioned fleet the next run starts on the current build
                    # (a run is otherwise pinned to the build that started it).
                    workflow.continue_as_new(
                        self._carry_over(params),
                        initial_versioning_behavior=ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
                    )

    async def _respond(self, spec: AgentSpec, approval_timeout: timedelta) -> AgentResult | None:
        """Model and tool calls until the model answers the latest user message: None
        once it has (the answer is the last message), or how the run ended instead."""
        self._output = None
        repairs_left = spec.llm.output_repairs
        conversation = self._conversation
        for _ in range(self._limits.max_turns):
            if self._limits.out_of_tokens(self._spend.usage):
                return self._finish("max_tokens", None)
            self._turn += 1
            self._events.publish(TurnStarted(turn=self._turn, model=self._model or spec.model))
            reply = await self._call_llm(spec)
            conversation.add(reply.message)
            step = self._outcomes.after(spec, reply)  # see outcomes.py
            if step == "fail":
                return self._finish("truncated", reply.message.content)
            if step == "continue":
                conversation.add(continue_request())
                continue
            calls = reply.message.tool_calls
            workflow.logger.info(
                "turn finished", extra={"turn": self._turn, "tool_calls": len(calls)}
            )
            if calls:
                self._tools_waiting = "tools: " + ", ".join(c.name for c in calls)
                self._set_status("running", self._tools_waiting)
                local = self._local_allowed(
                    any(t.needs_approval for c in calls if (t := spec.tool(c.name)))
                )
                outcomes = await asyncio.gather(
                    *(self._run_tool(spec, call, approval_timeout, local) for call in calls)
                )
                self._tools_waiting = None
                for call, outcome in zip(calls, outcomes, strict=True):
                    conversation.add(Message.tool(call.id, outcome.content))
                continue
            if reply.output_error is None:
                self._output = reply.output
                return None
            if repairs_left == 0:
                workflow.logger.info("structured output still invalid after repairs")
                return self._finish("invalid_output", reply.message.content)
            repairs_left -= 1
            conversation.add(repair_request(reply.output_error))
        workflow.logger.info("turn limit reached", extra={"max_turns": self._limits.max_turns})
        return self._finish("max_turns", None)

    @workflow.query
    def state(self) -> RunState:
        return RunState(
            status=self._status,
            agent=self._agent,
            model=self._model,
            turn=self._turn,
            usage=self._spend.usage,
            cost_usd=self._spend.cost(),
            messages=len(self._conversation.transcript),
            model_switches=self._spend.switches,
            error=self._error,
            chat=self._chat,
            pending_approvals=self._approvals.pending,
            queued_messages=len(self._inbox.queued),
            last_message=self._conversation.answer(),
            runs=self._runs,
            deadline=self._limits.deadline,
            earlier_runs=self._conversation.earlier_runs,
            truncated=self._outcomes.truncated,
            tools_dropped=self._outcomes.tools_dropped,
        )

    @workflow.query
    def transcript(self) -> list[Message]:
        """Every message of the conversation so far."""
        return self._conversation.transcript

    @workflow.update
    async def send(self, text: str) -> str:
        """Send a chat message; returns the agent's reply once it has answered."""
        seq = self._inbox.put(text)
        # Details only: a handler must not write history (an upsert is a command), or a
        # task that ran it could record state ahead of the loop's; the loop upserts.
        self._show_details()
        replies = self._inbox.replies
        await workflow.wait_condition(lambda: seq in replies or self._closed)
        if seq not in replies:
            raise ApplicationError(
                f"the run ended with status {self._status} before answering", type="RunEnded"
            )
        return replies.pop(seq)

    @send.validator
    def _check_send(self, text: str) -> None:
        if not self._chat:
            raise ValueError("this run is not a chat; start one with `tether chat`")
        if self._closed or self._inbox.end_requested:
            raise ValueError(f"the conversation has ended ({self._status})")
        if not text.strip():
            raise ValueError("the message is empty")
        if len(text) > MAX_PROMPT_CHARS:
            raise ValueError(f"the message is longer than {MAX_PROMPT_CHARS:,} characters")

    @workflow.signal
    def end(self) -> None:
        """End a chat once the messages it has received are answered."""
        self._inbox.end_requested = True

    @property
    def _closed(self) -> bool:
        return self._status not in OPEN_STATUSES

    def _continue_as_new_due(self) -> bool:
        return (
            self._spend.calls >= self._limits.continue_as_new_turns
            or workflow.info().is_continue_as_new_suggested()
        )

    def _carry_over(self, params: AgentInput) -> AgentInput:
        conversation = self._conversation
        # With a context policy only the model's (bounded) view is carried: the payload
        # stays small however long the chat lives; this run's transcript stays here.
        earlier = []
        if self._policy is not None:
            earlier = [*conversation.earlier_runs, workflow.info().run_id]
        self._events.publish(ContinuedAsNew(runs=self._runs))
        carried = Carried(
            messages=conversation.messages,
            earlier_runs=earlier,
            usage=self._spend.usage,
            cost_usd=self._spend.cost(),
            turn=self._turn,
            deadline=self._limits.deadline,
            runs=self._runs,
            stream=self._events.carry(),
            watched_until=self._events.watched_until,
        )
        workflow.logger.info("continuing as new", extra={"turn": self._turn, "runs": self._runs})
        return params.model_copy(update={"model": self._model, "carried": carried})

    async def _until(self, condition: Callable[[], bool]) -> None:
        """Wait for `condition`; raise DeadlineReached if the run's deadline comes first."""
        timeout = None
        if self._limits.deadline is not None:
            timeout = (self._limits.deadline - workflow.now()).total_seconds()
            if timeout <= 0:
                raise DeadlineReached
        deadline = self._limits.deadline
        try:
            await workflow.wait_condition(
                condition,
                timeout=timeout,
                # The timer's label in the web UI (metadata only: the same commands).
                timeout_summary=f"the run's deadline: it ends at {deadline:%Y-%m-%d %H:%M:%S} "
                "UTC unless it is done"
                if deadline
                else None,
            )
        except TimeoutError:
            raise DeadlineReached from None

    async def _by_deadline(self, work: Awaitable[T]) -> T:
        """`work`'s result; if the deadline (or a cancellation) comes first, the work is
        cancelled, and its activities stopped, before that is raised."""
        task = asyncio.ensure_future(work)
        try:
            await self._until(task.done)
        except GeneratorExit:
            raise  # closed by the garbage collector, perhaps amid another run: see Approvals
        except BaseException:
            task.cancel()
            try:
                await task
            except BaseException as e:
                if not is_cancelled_exception(e):
                    raise
            raise
        return task.result()

    async def _call_llm(self, spec: AgentSpec) -> LlmReply:
        """One model call, moving down the fallback list when a model is unavailable."""
        fallbacks = [m for m in spec.llm.fallback_models if m != self._model]
        # A local activity's input never reaches history, so a worker new to the run
        # could not rebuild the conversation from it: it is sent whole (costing no
        # history). A regular call sends only what is new, and whole again if the
        # worker could not rebuild the rest.
        whole = spec.llm.local_activity and self._local_allowed()
        await self._fit_context(spec)
        while True:
            model = self._model or spec.model
            self._shown.waiting_for = f"a reply from `{model}`"
            self._publish()
            conversation = self._conversation
            request = LlmRequest(
                agent=self._agent,
                model=model,
                messages=conversation.messages if whole else conversation.unsent(),
                turn=self._turn,
                known=0 if whole else conversation.sent,
            )
            try:
                reply = await execute_llm(
                    spec,
                    request,
                    summary=f"llm {model} · turn {self._turn}",
                    worker_queue=self._worker_queue,
                    local_allowed=self._local_allowed(),
                    events=self._events,
                )
            except ActivityError as e:
                if is_cancelled_exception(e):
                    raise  # the run was cancelled or reached its deadline: not a failure
                if _lost_conversation(e) and not whole:
                    whole = True
                    continue
                reason = _unavailable(e)
                if reason is None or not fallbacks:
                    raise self._fail(e) from e
                self._switch(model, fallbacks.pop(0), reason)
                continue
            conversation.sent = len(conversation.messages)
            self._worker_queue = reply.worker_queue
            self._spend.add_call(reply)
            self._shown.waiting_for = None
            self._publish()
            return reply

    async def _fit_context(self, spec: AgentSpec) -> None:
        """Compact what the model is sent to the agent's context policy, if it is over
        (see context.py); the transcript notes what was done."""
        policy = spec.context
        conversation = self._conversation
        if policy is None or not context.over(policy, conversation.messages):
            return
        notes = []
        view, elided = context.elide_tool_results(policy, conversation.messages)
        if elided:
            notes.append(f"{elided} older tool results elided")
        start = context.recent_start(policy, view)
        if context.over(policy, view) and start > 1:
            older = view[1:start]
            summary = await self._summarize(spec, policy, older) if policy.summarize else None
            if summary is None:
                view = [view[0], context.dropped_message(len(older)), *view[start:]]
                notes.append(f"{len(older)} older messages dropped")
            else:
                view = [view[0], context.summary_message(summary, len(older)), *view[start:]]
                notes.append(f"{len(older)} older messages summarized")
        view, cut = context.cut_to_fit(policy, view)
        if cut:
            notes.append(f"{cut} long messages cut")
        workflow.logger.info("context compacted", extra={"turn": self._turn, "notes": notes})
        conversation.compact(view, context.compaction_note(notes, self._turn))

    async def _summarize(
        self, spec: AgentSpec, policy: ContextPolicy, older: list[Message]
    ) -> str | None:
        """A model call that condenses `older` (its tokens count as the run's); None if
        it failed, and the messages are dropped instead (the transcript keeps them)."""
        model = self._model or spec.model
        request = LlmRequest(
            agent=self._agent,
            model=model,
            messages=context.summary_request(older, policy),
            turn=self._turn,
            summary=True,
        )
        try:
            reply = await execute_llm(
                spec,
                request,
                summary=f"llm {model} · summary before turn {self._turn}",
                local_allowed=self._local_allowed(),
            )
        except ActivityError as e:
            if is_cancelled_exception(e):
                raise
            workflow.logger.warning("summary failed; older messages dropped")
            return None
        self._spend.add_call(reply)
        return reply.message.content or None

    def _switch(self, from_model: str, to_model: str, reason: str) -> None:
        switch = ModelSwitch(
            turn=self._turn, from_model=from_model, to_model=to_model, reason=reason
        )
        self._spend.switches.append(switch)
        self._model = to_model
        workflow.logger.warning("falling back to another model", extra=switch.model_dump())
        self._events.publish(ModelSwitched(**switch.model_dump()))
        # The decision goes into history (and the web UI's memo) as its own event.
        workflow.upsert_memo(
            {"model": to_model, "model_switches": [s.model_dump() for s in self._spend.switches]}
        )

    def _fail(self, error: ActivityError) -> ApplicationError:
        cause = error.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        message = cause.message if isinstance(cause, FailureError) else error.message
        self._error = f"{kind}: {message}" if kind else message
        self._set_status("failed")
        return ApplicationError(message, type=kind or "LlmCallFailed", non_retryable=True)

    async def _run_tool(
        self, spec: AgentSpec, call: ToolCall, approval_timeout: timedelta, local: bool
    ) -> ToolOutcome:
        self._events.publish(ToolCallStarted.of(self._turn, call))
        outcome = await run_tool_call(
            spec,
            call,
            turn=self._turn,
            approvals=self._approvals,
            approval_timeout=approval_timeout,
            run_subagent=self._run_subagent,
            local_allowed=local,
            context=self._context,
        )
        self._events.publish(ToolCallFinished.of(self._turn, call, outcome.content, outcome.error))
        return outcome

    def _local_allowed(self, approvals_in_turn: bool = False) -> bool:
        """Whether `fast` tools and local model calls may run as local activities now:
        not while an update may arrive (see generations.NO_LOCAL_ACTIVITIES_WITH_UPDATES)."""
        return self._local_with_updates or not (self._chat or approvals_in_turn)

    async def _run_subagent(self, tool: ToolSpec, call: ToolCall) -> ToolOutcome:
        """The other agent as a child run, within what is left of this run's budgets;
        its tokens (and cost) count as this run's."""
        outcome, child = await run_subagent(
            tool,
            call,
            turn=self._turn,
            tokens_left=self._limits.tokens_left(self._spend.usage),
            deadline=self._limits.deadline,
        )
        if child is not None:
            self._spend.add_child(child)
            self._publish()
        return outcome

    def _approvals_changed(self) -> None:
        pending = self._approvals.pending
        if not pending:
            self._set_status("running", self._tools_waiting)
            return
        calls = ", ".join(f"{p.tool} (call {p.call_id})" for p in pending)
        self._set_status("awaiting_approval", f"a person to approve {calls}")

    def _set_status(self, status: RunStatus, waiting_for: str | None = None) -> None:
        self._status = status
        self._shown.waiting_for = waiting_for
        self._publish()

    def _publish(self) -> None:
        """Keep the web UI's view of the run current: details always (a query, free),
        search attributes when the status changes (each upsert is a history event, and
        one per turn was a fifth of a short run's history); turns and tokens ride along."""
        state, shown = self._show_details(), self._shown
        searchable: tuple[object, ...] = (state.status,)
        if shown.upsert_every_turn:
            searchable = (state.status, state.turn, state.usage.total_tokens)
        if searchable == shown.published:
            return
        shown.published = searchable
        if not shown.searchable:
            return
        workflow.upsert_search_attributes(
            [
                AGENT_NAME_KEY.value_set(self._agent),
                AGENT_STATUS_KEY.value_set(state.status),
                AGENT_TURNS_KEY.value_set(state.turn),
                AGENT_TOKENS_KEY.value_set(state.usage.total_tokens),
            ]
        )

    def _show_details(self) -> RunState:
        """The web UI's current details (a query, not history), from the state now."""
        state = self.state()
        found = self._conversation.results_since_user() if state.pending_approvals else []
        workflow.set_current_details(
            current_details(
                state,
                self._limits.max_turns,
                self._shown.waiting_for,
                workflow.info().workflow_id,
                found,
            )
        )
        return state

    def _budget_detail(self, status: RunStatus) -> str | None:
        """What ran out, if a budget ended the run."""
        limits = self._limits
        if status == "max_turns":
            return f"{limits.max_turns} model calls for one message"
        if status == "max_tokens":
            return f"{self._spend.usage.total_tokens:,} tokens of {limits.max_total_tokens:,}"
        if status == "deadline_exceeded":
            return f"the deadline {limits.deadline:%Y-%m-%d %H:%M:%S} UTC passed"
        return None

    def _finish(
        self, status: RunStatus, answer: str | None, output: dict[str, object] | None = None
    ) -> AgentResult:
        status = self._outcomes.status(status)
        self._set_status(status)
        if budget := self._budget_detail(status):
            self._events.publish(BudgetReached(status=status, detail=budget))
        self._events.publish(RunEnded(status=status, answer=answer))
        return AgentResult(
            status=status,
            answer=answer,
            output=output,
            turns=self._turn,
            usage=self._spend.usage,
            cost_usd=self._spend.cost(),
            model=self._model or "",
            model_switches=self._spend.switches,
            truncated=self._outcomes.truncated,
            tools_dropped=self._outcomes.tools_dropped,
        )


def _lower(asked: N | None, cap: N | None) -> N | None:
    """`asked`, but no more than `cap` (None: no limit)."""
    if cap is None:
        return asked
    return cap if asked is None else min(asked, cap)


def _lost_conversation(error: ActivityError) -> bool:
    cause = error.cause
    return isinstance(cause, ApplicationError) and cause.type == CONVERSATION_LOST


def _unavailable(error: ActivityError) -> str | None:
    """Why a model counts as unavailable (so a fallback may take over), or None."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "ModelNotFound":
        return "model not found"
    if error.retry_state in (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT):
        detail = cause.message if isinstance(cause, FailureError) else "no detail"
        return f"retries exhausted ({detail})"
    return None

"""Model calls, as activities (workflow code).

`execute_llm` is shared by AgentWorkflow's loop and the refund pipeline's LLM steps, so
both call the model through the same activity, timeouts, retries and structured-output
checks (how a run records its agent's spec, with its first call or alone, is
spec_calls.py). `ModelCalls` is the agent
run's side: which model it calls (falling back when one is unavailable), which worker
holds its conversation, and how much of the conversation each call is sent.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
    TimeoutType,
    is_cancelled_exception,
)
from temporalio.exceptions import TimeoutError as ActivityTimeout

from tether._workflows import context
from tether._workflows.activity_calls import execute
from tether._workflows.events import RunEvents
from tether._workflows.generations import real_models
from tether._workflows.logs import log
from tether._workflows.publishing import Publisher
from tether._workflows.run_state import Conversation, Spend

with workflow.unsafe.imports_passed_through():
    from tether._events import ModelSwitched, Reply, TextDelta
    from tether._messages import Message
    from tether._records import AgentSpec, LlmRecord
    from tether._run_io import ModelSwitch
    from tether._wire import (
        ATTEMPTS_RAN_OUT,
        CONVERSATION_LOST,
        LLM_ACTIVITY,
        LlmReply,
        LlmRequest,
    )


# How long a model call waits for the worker that holds the run's conversation before
# it is given to any worker instead (which reads the conversation from history).
AFFINITY_WAIT = timedelta(seconds=5)


async def execute_llm(
    spec: AgentSpec,
    request: LlmRequest,
    *,
    summary: str,
    worker_queue: str | None = None,
    local_allowed: bool = True,
    events: RunEvents | None = None,
) -> LlmReply:
    """One model call: a regular activity, or a local one if the agent's policy says so.

    A regular call goes to `worker_queue` when given (the worker that made the run's
    last call polls it, and keeps the conversation), for up to AFFINITY_WAIT; if that
    worker is gone, to the run's task queue, where any worker takes it. With `events`,
    the reply's text goes to the run's feed: as it is written if someone watches the
    run, the agent streams and the call is regular, else at once when it returns.

    A worker that limits its model calls recorded its model queue in the spec: the call
    then waits there, a regular activity, for a free slot (from generations.CURRENT on)."""
    policy = spec.llm
    model_queue = spec.llm_queue if spec.llm_queue and real_models() else None
    if model_queue is not None:
        local_allowed, worker_queue = False, model_queue
    local = policy.local_activity and local_allowed
    if spec.digest is not None:  # the activity then acts on the agent this run recorded
        request = request.model_copy(update={"digest": spec.digest})
    streams = policy.stream and not local and not request.summary
    if events is not None and events.watched and streams:
        request = request.model_copy(update={"stream": True})

    async def call(queue: str | None) -> LlmReply:
        return await llm_activity(
            request,
            policy,
            local=local,
            retry=policy.retry.to_policy(),
            summary=summary,
            task_queue=queue,
            # A model queue's calls wait as long as the calls before them take.
            schedule_to_start=AFFINITY_WAIT if queue and queue != model_queue else None,
        )

    reply = await _call_where(call, None if local else worker_queue)
    if events is not None:
        publish_reply(events, request.turn, reply)
    return reply


def publish_reply(events: RunEvents, turn: int, reply: LlmReply) -> None:
    """The reply's text to the run's feed (unless it streamed there), then the reply."""
    text = reply.message.content
    if text and not reply.streamed:
        events.publish(TextDelta(turn=turn, text=text))
    events.publish(
        Reply(
            turn=turn,
            text=text,
            truncated=reply.message.truncated,
            tools_dropped=reply.tools_dropped,
        )
    )


async def llm_activity(
    request: LlmRequest,
    policy: LlmRecord,
    *,
    local: bool,
    retry: RetryPolicy,
    summary: str,
    task_queue: str | None = None,
    schedule_to_start: timedelta | None = None,
) -> LlmReply:
    return await execute(
        LLM_ACTIVITY,
        request,
        result_type=LlmReply,
        local=local,
        start_to_close=timedelta(seconds=policy.timeout_seconds),
        heartbeat=timedelta(seconds=policy.heartbeat_timeout_seconds),
        retry=retry,
        summary=summary,
        task_queue=task_queue,
        schedule_to_start=schedule_to_start,
    )


async def _call_where(
    call: Callable[[str | None], Awaitable[LlmReply]], worker_queue: str | None
) -> LlmReply:
    """`call` on `worker_queue` first, if there is one; on the run's task queue if no
    worker took it there in time."""
    if worker_queue is None:
        return await call(None)
    try:
        return await call(worker_queue)
    except ActivityError as e:
        if not _not_started(e):
            raise
        log.info("the conversation's worker is gone", extra={"queue": worker_queue})
        return await call(None)


def _not_started(error: ActivityError) -> bool:
    cause = error.cause
    return isinstance(cause, ActivityTimeout) and cause.type == TimeoutType.SCHEDULE_TO_START


def repair_request(output_error: str) -> Message:
    """Sent back to the model when its structured answer did not validate."""
    return Message.user(
        f"Error: {output_error}. Reply again with only a JSON object that matches the schema."
    )


class ModelCalls:
    """An agent run's model calls: the model it calls now (moving down the agent's
    fallback list when one is unavailable), the worker that holds its conversation (the
    next call goes there first), and how much of the conversation the model was sent.
    A call that cannot succeed fails the run: its status through `shown`, then the error
    raised."""

    def __init__(
        self,
        agent: str,
        conversation: Conversation,
        spend: Spend,
        events: RunEvents,
        shown: Publisher,
    ) -> None:
        self.model: str | None = None
        # The run has a cost budget: a model without a price must not be called.
        self.priced = False
        # The task queue of the worker that holds this run's conversation (its last
        # model call's); the next call goes there first.
        self.worker_queue: str | None = None
        self._agent = agent
        self._conversation = conversation
        self._spend = spend
        self._events = events
        self._shown = shown

    def first_replied(self, spec: AgentSpec, reply: LlmReply) -> None:
        """The run's first call (`first_call`) replied: its request held the whole
        conversation so far (the worker sent the agent's instructions first)."""
        self.model = self.model or spec.model
        self._conversation.sent = len(self._conversation.messages)
        self.worker_queue = reply.worker_queue
        self._spend.add_call(reply)
        self._shown.waiting_for = None

    async def call(
        self,
        spec: AgentSpec,
        turn: int,
        *,
        local_allowed: bool,
        failed: ActivityError | None = None,
    ) -> LlmReply:
        """The model's reply at `turn`, the conversation first fitted to the agent's
        context policy; `local_allowed`: whether it may be a local activity now;
        `failed`: how the run's first call (`first_call`) failed, acted on first."""
        fallbacks = [m for m in spec.llm.fallback_models if m != self.model]
        # A local activity's input never reaches history, so a worker new to the run
        # could not rebuild the conversation from it: it is sent whole (costing no
        # history). A regular call sends only what is new, and whole again if the
        # worker could not rebuild the rest.
        whole = spec.llm.local_activity and local_allowed
        summarize = functools.partial(self._summarize, spec, turn, local_allowed)
        await context.fit(spec.context, self._conversation, turn, summarize)
        while True:
            model = self.model or spec.model
            self._shown.waiting_for = f"a reply from `{model}`"
            self._shown.publish()
            conversation = self._conversation
            request = LlmRequest(
                agent=self._agent,
                model=model,
                messages=conversation.messages if whole else conversation.unsent(),
                turn=turn,
                known=0 if whole else conversation.sent,
                priced=self.priced,
            )
            try:
                if failed is not None:
                    error, failed = failed, None
                    raise error
                reply = await execute_llm(
                    spec,
                    request,
                    summary=f"llm {model} · turn {turn}",
                    worker_queue=self.worker_queue,
                    local_allowed=local_allowed,
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
                self._switch(turn, model, fallbacks.pop(0), reason)
                continue
            conversation.sent = len(conversation.messages)
            self.worker_queue = reply.worker_queue
            self._spend.add_call(reply)
            self._shown.waiting_for = None
            self._shown.publish()
            return reply

    async def _summarize(
        self, spec: AgentSpec, turn: int, local_allowed: bool, messages: list[Message]
    ) -> str | None:
        """The model call of a context summary (its tokens count as the run's); None if
        it failed, and the older messages are dropped instead (the transcript keeps them)."""
        model = self.model or spec.model
        request = LlmRequest(
            agent=self._agent, model=model, messages=messages, turn=turn, summary=True
        )
        try:
            reply = await execute_llm(
                spec,
                request,
                summary=f"llm {model} · summary before turn {turn}",
                local_allowed=local_allowed,
            )
        except ActivityError as e:
            if is_cancelled_exception(e):
                raise
            log.warning("summary failed; older messages dropped")
            return None
        self._spend.add_call(reply)
        return reply.message.content or None

    def _switch(self, turn: int, from_model: str, to_model: str, reason: str) -> None:
        switch = ModelSwitch(turn=turn, from_model=from_model, to_model=to_model, reason=reason)
        self._spend.switches.append(switch)
        self.model = to_model
        log.warning("falling back to another model", extra=switch.model_dump())
        self._events.publish(ModelSwitched(**switch.model_dump()))
        self._shown.model_switched(to_model, self._spend.switches)

    def _fail(self, error: ActivityError) -> ApplicationError:
        cause = error.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        message = cause.message if isinstance(cause, FailureError) else error.message
        self._shown.fail(f"{kind}: {message}" if kind else message)
        return ApplicationError(message, type=kind or "LlmCallFailed", non_retryable=True)


def _lost_conversation(error: ActivityError) -> bool:
    cause = error.cause
    return isinstance(cause, ApplicationError) and cause.type == CONVERSATION_LOST


def _unavailable(error: ActivityError) -> str | None:
    """Why a model counts as unavailable (so a fallback may take over), or None."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "ModelNotFound":
        return "model not found"
    ran_out = isinstance(cause, ApplicationError) and tuple(cause.details[:1]) == (
        ATTEMPTS_RAN_OUT,
    )
    if ran_out or error.retry_state in (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT):
        detail = cause.message if isinstance(cause, FailureError) else "no detail"
        return f"retries exhausted ({detail})"
    return None

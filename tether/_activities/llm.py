"""One LLM call = one activity.

The openai client's own retries are off: Temporal owns retries, so every attempt is
visible in the run's history. Failures are classified (see llm_errors): retryable ones
honour the provider's Retry-After, the others stop the call at once with a clear type.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tether._activities.agents import served
from tether._activities.conversations import Conversations
from tether._activities.heartbeat import heartbeating
from tether._activities.llm_errors import classify
from tether._activities.replies import check_shape, fitted, normalized
from tether._activities.responses_api import responses_call
from tether._activities.specs import RecordedSpecs
from tether._activities.streaming import Receiving, receiving, streamed_completion
from tether._activities.timeouts import bounded, client_timeout
from tether._activities.tool_support import ToolSupport
from tether._activities.tools import stores_large_payloads
from tether._agents import AgentRegistry
from tether._logs import get_logger
from tether._messages import Message, ToolCall, Usage
from tether._pricing import PriceTable
from tether._records import ANY_MODEL, AgentSpec, RetryRecord
from tether._redaction import configured_secrets
from tether._scripted_llm.steps import AGENT_HEADER
from tether._settings import Api, LlmSettings
from tether._validation import describe
from tether._wire import (
    ATTEMPTS_RAN_OUT,
    LLM_ACTIVITY,
    LlmReply,
    LlmRequest,
)

log = get_logger("tether.llm")


def make_client(settings: LlmSettings) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key, max_retries=0)


class LlmActivities:
    def __init__(
        self,
        agents: AgentRegistry,
        client: AsyncOpenAI,
        specs: RecordedSpecs,
        prices: PriceTable | None = None,
        *,
        conversations: Conversations | None = None,
        api: Api = "chat",
        describe: Callable[[str], Awaitable[AgentSpec]] | None = None,
    ) -> None:
        self._agents = agents
        self.client = client
        self._api = api  # the wire format of agents whose policy chooses none
        self.tool_support = ToolSupport()
        self._specs = specs
        self.prices = prices or PriceTable()
        # What a provider's error must not carry into history: the key this client
        # sends, and the other secrets of the process's environment.
        self.secrets = [client.api_key, *configured_secrets()]
        self._conversations = conversations or Conversations()
        # What a run records of an agent (AgentActivities.spec_for_run), for a run's
        # first call; without it such calls are declined.
        self._describe = describe
        # Task queue -> the queue only this worker polls (see TetherPlugin.run_worker).
        self.worker_queues: dict[str, str] = {}

    @activity.defn(name=LLM_ACTIVITY)
    async def call_llm(self, request: LlmRequest) -> LlmReply:
        """Send the conversation and the agent's tool schemas, as the run recorded them;
        return one message."""
        if not request.first:
            return await self._call(request, None)
        async with heartbeating():  # listing MCP tools may start a server
            spec = await self._describe_first(request)
        declined = _declines(spec, request)
        if declined is not None:
            return LlmReply(
                message=Message(role="assistant"), usage=Usage(), spec=spec, declined=declined
            )
        request = _completed(request, spec)
        try:
            return await self._call(request, spec)
        except Exception as e:
            kept = _by_policy(e, spec.llm.retry, activity.info().attempt)
            if kept is e:
                raise
            raise kept from e

    async def _call(self, request: LlmRequest, first: AgentSpec | None) -> LlmReply:
        """The call; `first`: the spec a run's first call follows (LlmRequest.first)."""
        agent = served(self._agents, request.agent)
        info = activity.info()
        if request.priced and request.model not in self.prices.prices:
            raise ApplicationError(
                f"model {request.model!r} has no price in this worker's price table "
                "(TETHER_PRICES), so the run's cost budget cannot be kept",
                type="NoPrice",
                non_retryable=True,
            )
        try:
            async with heartbeating() as progress:
                spec = first or await self._specs.resolve(agent, request.digest)
                rebuilt = False
                if request.summary:  # a context policy's: plain text in, plain text out
                    spec = spec.model_copy(update={"tools": [], "output": None})
                    messages = request.messages
                else:
                    messages, rebuilt = await self._conversations.messages(request)
                options: dict[str, Any] = {
                    "timeout": client_timeout(spec.llm),
                    # Names the agent to gateways (and to the scripted model's scripts);
                    # a gateway that honours idempotency keys answers a retry from its
                    # first attempt.
                    "extra_headers": {
                        AGENT_HEADER: agent.name,
                        "Idempotency-Key": f"tether-{info.workflow_run_id}-{info.activity_id}",
                    },
                }
                # A local activity's signals would wait for its workflow task to end.
                to_run = request.stream and not info.is_local
                if first is not None:  # asked if someone watches; the agent's to say
                    to_run = to_run and spec.llm.stream and not spec.llm.local_activity
                interval = spec.llm.stream_interval_seconds if to_run else None
                async with (
                    receiving(progress, request.turn, interval) as got,
                    bounded(request.model, spec.llm),
                ):
                    api = spec.llm.api_for(request.model) or self._api
                    message, usage, finish_reason = await self._ask(
                        api, request.model, spec, _messages(spec, messages), got, options
                    )
                # A reply that calls none of the agent's tools: did they reach the model?
                dropped = bool(spec.tools) and not message.tool_calls
                if dropped:
                    dropped = await self.tool_support.drops(self.client, request.model, api)
        except openai.APIError as e:
            raise classify(e, model=request.model, secrets=self.secrets) from None
        message.truncated = finish_reason == "length"
        log.info(
            "model replied",
            model=request.model,
            turn=request.turn,
            tool_calls=len(message.tool_calls),
            tokens=usage.total_tokens,
            truncated=message.truncated,
        )
        reply = LlmReply(
            message=message,
            usage=usage,
            finish_reason=finish_reason,
            cost_usd=self.prices.cost(request.model, usage),
        )
        if dropped:
            reply.tools_dropped = True
        if first is not None:
            reply.spec = first
        reply = fitted(reply, stored=stores_large_payloads())
        if got.sent:  # else the workflow publishes the text at once
            reply.streamed = True
        own = self.worker_queues.get(info.task_queue)
        if own is not None and not info.is_local and (rebuilt or info.task_queue == own):
            # The call landed on a worker that did not hold the conversation (no eager
            # dispatch, or a lost worker): from now on the run's calls come to this one
            # first. Until then they go to the shared queue, where eager dispatch hands
            # them to the worker running the workflow, which holds it, at no round trip.
            reply.worker_queue = own
        # Validated with the live type: the code that reads `output` is the live code.
        if spec.output is not None and agent.output_type is not None and not message.tool_calls:
            reply.output, reply.output_error = _validate(agent.output_type, reply.message.content)
        return reply

    async def _describe_first(self, request: LlmRequest) -> AgentSpec:
        """The spec a run's first call records (LlmRequest.first)."""
        if self._describe is None:  # an LlmActivities built without AgentActivities
            raise ApplicationError(
                "this worker cannot record an agent's spec with a model call",
                type="UnknownAgent",
                non_retryable=True,
            )
        return await self._describe(request.agent)

    async def _ask(
        self,
        api: Api,
        model: str,
        spec: AgentSpec,
        messages: list[Message],
        got: Receiving,
        options: dict[str, Any],
    ) -> tuple[Message, Usage, str | None]:
        """One call in `api`'s wire format: the reply, its usage and its finish reason."""
        if api == "responses":
            reply = await responses_call(self.client, model, spec, messages, got, **options)
            return normalized(reply[0]), reply[1], reply[2]
        completion = await streamed_completion(
            self.client,
            model,
            got,
            messages=[m.to_openai() for m in messages],
            **options,
            **_options(spec, model),
        )
        return parse_completion(completion, model)


def _by_policy(error: Exception, retry: RetryRecord, attempt: int) -> Exception:
    """A run's first call runs under LlmPolicy's default retry policy (its agent was not
    known when it was scheduled): its failure as the agent's own policy has it. Past the
    agent's attempts it is non-retryable, with ATTEMPTS_RAN_OUT first in its details
    (the workflow then treats it as retries run out); a retry waits the agent's interval
    unless the provider said how long (Retry-After)."""
    if isinstance(error, ApplicationError) and error.non_retryable:
        return error
    kind = error.type if isinstance(error, ApplicationError) else type(error).__name__
    message = error.message if isinstance(error, ApplicationError) else str(error)
    if kind in retry.non_retryable:
        return ApplicationError(message, type=kind, non_retryable=True)
    if retry.max_attempts and attempt >= retry.max_attempts:
        return ApplicationError(message, ATTEMPTS_RAN_OUT, type=kind, non_retryable=True)
    if isinstance(error, ApplicationError) and error.next_retry_delay is not None:
        return error
    seconds = retry.initial_interval_seconds * retry.backoff ** (attempt - 1)
    delay = timedelta(seconds=min(seconds, retry.max_interval_seconds))
    return ApplicationError(message, type=kind, next_retry_delay=delay)


def _declines(spec: AgentSpec, request: LlmRequest) -> str | None:
    """Why a run's first call is left to the run's usual path (LlmReply.declined)."""
    if spec.llm_queue is not None:
        return "this worker limits its model calls"
    if request.model and not _runs(spec, request.model):
        return f"the agent does not run model {request.model!r}"
    return None


def _completed(request: LlmRequest, spec: AgentSpec) -> LlmRequest:
    """A run's first call as the agent's spec completes it: its instructions first, its
    model unless the run chose one, priced if the agent has a cost budget."""
    update = {
        "model": request.model or spec.model,
        "messages": [Message.system(spec.instructions), *request.messages],
        "priced": request.priced or spec.max_cost_usd is not None,
        "digest": spec.digest,
    }
    return request.model_copy(update=update)


def _runs(spec: AgentSpec, model: str) -> bool:
    """Whether a run of `spec` may choose `model` (as the workflow's check_model)."""
    if spec.models is None or ANY_MODEL in spec.models:
        return True
    return model in (spec.model, *spec.llm.fallback_models, *spec.models)


def _options(spec: AgentSpec, model: str) -> dict[str, Any]:
    """What a chat completion asks for besides the messages."""
    options: dict[str, Any] = {}
    if spec.tools:
        options["tools"] = [t.openai_schema() for t in spec.tools]
    if (cap := spec.llm.reply_cap(model)) is not None:
        # Not max_tokens: OpenAI deprecated it and its reasoning models reject it.
        options["max_completion_tokens"] = cap
    if spec.output is not None and spec.output.native:
        options["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": spec.output.name, "schema": spec.output.json_schema},
        }
    return options


def _messages(spec: AgentSpec, messages: list[Message]) -> list[Message]:
    if spec.output is None or spec.output.native:
        return messages
    # Servers without a JSON-schema response format get the schema in the prompt.
    schema = json.dumps(spec.output.json_schema)
    note = Message.system(
        "When you give your final answer, reply with only a JSON object matching this "
        f"JSON schema: {schema}"
    )
    return [*messages[:1], note, *messages[1:]]


def parse_completion(completion: object, model: str) -> tuple[Message, Usage, str | None]:
    """The reply's message and usage; a body of any other shape is retried."""
    completion = check_shape(completion, model)
    choice = completion.choices[0]
    calls = distinct_ids(
        [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
            for c in choice.message.tool_calls or []
            if c.type == "function"
        ]
    )
    content = choice.message.content
    if calls and not content:
        content = None  # a stream's "" beside tool calls: the same message as a plain call's
    message = normalized(Message(role="assistant", content=content, tool_calls=calls))
    u = completion.usage
    usage = (
        Usage(
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            total_tokens=u.total_tokens,
        )
        if u
        else Usage()
    )
    return message, usage, choice.finish_reason


def distinct_ids(calls: list[ToolCall]) -> list[ToolCall]:
    """`calls` with an id given twice in one message renamed (`call_0~2`): the workflow
    keys calls, their approvals and results by id, and two calls under one id showed a
    person one of them while the approval wedged the run. The renamed ids go back to the
    provider with the message and its results, so the conversation stays consistent."""
    taken = {c.id for c in calls}
    seen: set[str] = set()
    out = []
    for call in calls:
        if call.id in seen:
            n = 2
            while f"{call.id}~{n}" in taken:
                n += 1
            call = call.model_copy(update={"id": f"{call.id}~{n}"})
            taken.add(call.id)
        seen.add(call.id)
        out.append(call)
    return out


def _validate(
    output_type: type[BaseModel], content: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return output_type.model_validate_json(content or "").model_dump(mode="json"), None
    except ValidationError as e:
        problems = describe(e, whole="answer")
        return None, f"the answer is not a valid {output_type.__name__}: {problems}"

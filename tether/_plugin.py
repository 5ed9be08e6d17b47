"""TetherPlugin: Tether's workflows, activities and data converter in your own client
and worker.

    client = await Client.connect("localhost:7233", plugins=[TetherPlugin(REGISTRY)])
    worker = Worker(client, task_queue="tether", workflows=[MyPipeline])
    await worker.run()

On the client it sets Tether's data converter (pydantic JSON without default fields,
encrypted when TETHER_ENCRYPTION_KEYS is set), which every worker of that client then
uses too. On a worker it adds `AgentWorkflow`, the LLM, tool and agent activities for the
registry's agents, the registry's own workflows and activities, a log context for
activities, and `tether` as a sandbox pass-through module (it is deterministic at
import, and workflows import it). While the worker runs, it registers Tether's search
attributes where the namespace allows it, and, with no model configured, starts the
offline scripted model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter
from temporalio.plugin import SimplePlugin
from temporalio.worker import Worker, WorkerConfig

from tether._activities.agents import AgentActivities
from tether._activities.conversations import Conversations
from tether._activities.llm import LlmActivities, make_client
from tether._activities.mcp_sessions import McpSessions, check_servers
from tether._activities.mcp_tools import McpActivities
from tether._activities.specs import RecordedSpecs
from tether._activities.tools import ToolActivities
from tether._agents import Agent, AgentRegistry, as_registry
from tether._logs import ActivityLogContext
from tether._pricing import PriceTable
from tether._sandbox import passing_tether_through
from tether._scripted_llm.server import ScriptedLLM
from tether._scripted_llm.steps import no_script
from tether._search_registration import ensure_search_attributes
from tether._settings import ConfigurationError, LlmSettings
from tether._temporal import data_converter, with_codec
from tether._workflows.agent import AgentWorkflow

log = structlog.get_logger("tether.plugin")

PLUGIN_NAME = "tether.TetherPlugin"


class TetherPlugin(SimplePlugin):
    """Tether for a Temporal client and its workers.

    Args:
        agents: The agents to serve: an `AgentRegistry` (which may also carry your own
            workflows, activities and offline scripts), an `Agent`, or a list of them.
        llm: Where model calls go; None reads OPENAI_BASE_URL, OPENAI_API_KEY and
            TETHER_MODEL (neither of the first two set: the offline scripted model).
        prices: Per-model prices, so runs report their cost; None reads TETHER_PRICES.
        cached_conversations: Conversations the LLM activity keeps per worker, so a
            run's model calls send only their new messages (see Conversations).
        search_attributes: Keep runs' AgentName/AgentStatus/AgentTurns/AgentTokens
            search attributes (registered in the namespace where it allows); False
            saves their history events, and `tether list --status` cannot filter.
        max_concurrent_llm_calls: Model calls this worker makes at once (None: as many
            as it has activity slots). The calls of runs started meanwhile go to a task
            queue of their own (`QUEUE@models`), which the worker polls only while it
            has a free slot: the others wait in Temporal, where their timeouts do not
            run, not inside the model server. Give every worker of a task queue the same
            limit.
        check_tools: Ask the model server as the worker starts whether it passes tools
            to the models of the agents that have tools (one log line each; see
            _activities/tool_support.py). Otherwise it is asked at the first reply to
            such an agent that calls no tool.
        check_mcp_servers: Connect to every agent's MCP servers as the worker starts,
            logging one line for each that does not start or answer (the worker runs
            on). Otherwise a server is started when a run first needs it. Either way
            the worker keeps its sessions for later runs and closes them as it stops.
    """

    def __init__(
        self,
        agents: AgentRegistry | Agent | Sequence[Agent],
        *,
        llm: LlmSettings | None = None,
        prices: PriceTable | None = None,
        cached_conversations: int = 1000,
        search_attributes: bool = True,
        check_mcp_servers: bool = False,
        max_concurrent_llm_calls: int | None = None,
        check_tools: bool = False,
    ) -> None:
        self.registry = as_registry(agents)
        self._llm_slots = max_concurrent_llm_calls
        self._check_tools = check_tools
        self._search_attributes = search_attributes
        self._check_mcp_servers = check_mcp_servers
        self._mcp_sessions = McpSessions()
        self.llm = llm or LlmSettings.from_env()
        specs = RecordedSpecs(self.llm.model, max_recorded=cached_conversations)
        self._agent_activities = AgentActivities(self.registry, specs, self._mcp_sessions)
        self._llm_activities = LlmActivities(
            self.registry,
            make_client(self.llm),
            specs,
            prices if prices is not None else PriceTable.from_env(),
            conversations=Conversations(cached_conversations),
            api=self.llm.api,
        )
        tool_activities = ToolActivities(self.registry, specs)
        mcp_activities = McpActivities(self.registry, specs, self._mcp_sessions)
        super().__init__(
            PLUGIN_NAME,
            data_converter=_with_tether_payloads,
            workflows=[AgentWorkflow, *self.registry.workflows],
            activities=[
                self._agent_activities.describe_agent,
                self._llm_activities.call_llm,
                tool_activities.run_tool,
                mcp_activities.call_mcp_tool,
                *self.registry.activities,
            ],
            interceptors=[ActivityLogContext()],
            workflow_runner=passing_tether_through,
        )

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """See base class. Refuses a client without Tether's data converter: the worker
        would fail to decode every run."""
        client = config.get("client")
        converter = client.data_converter if client is not None else None
        if converter is None or not issubclass(
            converter.payload_converter_class, PydanticPayloadConverter
        ):
            raise ConfigurationError(
                "this worker's client does not use Tether's data converter: add "
                "TetherPlugin to Client.connect(..., plugins=[...]) (a plugin given to the "
                "client applies to its workers too) rather than to Worker(...) alone"
            )
        return super().configure_worker(config)

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        """See base class. Registers the search attributes, runs the offline model
        while the worker runs if no model is configured, and closes the MCP sessions
        once it has stopped."""
        async with self._running(worker):
            await next(worker)

    @asynccontextmanager
    async def _running(self, worker: Worker) -> AsyncIterator[None]:
        self._agent_activities.searchable = self._search_attributes and (
            await ensure_search_attributes(worker.client)
        )
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self._conversation_queue(worker))
            if self._llm_slots is not None:
                await stack.enter_async_context(self._model_queue(worker, self._llm_slots))
            stack.push_async_callback(self._mcp_sessions.close)
            if self._check_mcp_servers:
                servers = [server for agent in self.registry for server in agent.mcp]
                check = asyncio.create_task(check_servers(servers, self._mcp_sessions))
                stack.callback(check.cancel)
            if self._check_tools and not self.llm.offline:
                check_tools = asyncio.create_task(self._ask_about_tools())
                stack.callback(check_tools.cancel)
            if self.llm.offline:
                scripted = stack.enter_context(
                    ScriptedLLM(scripts=self.registry.scripts, unscripted=no_script)
                )
                self._llm_activities.client = make_client(
                    dataclasses.replace(self.llm, base_url=scripted.base_url)
                )
                unscripted = sorted(set(self.registry.names) - set(self.registry.scripts))
                log.warning(
                    "no model configured: using the offline scripted model; set "
                    "OPENAI_API_KEY or OPENAI_BASE_URL for a real one",
                    llm=scripted.base_url,
                    agents_without_script=unscripted,
                )
            yield

    async def _ask_about_tools(self) -> None:
        """Whether the model server passes tools, for each model of an agent with tools."""
        models = [
            (model, agent.llm.api_for(model) or self.llm.api)
            for agent in self.registry
            if agent.tools or agent.mcp
            for model in [agent.model or self.llm.model, *agent.llm.fallback_models]
        ]
        activities = self._llm_activities
        await activities.tool_support.check(activities.client, models)

    @asynccontextmanager
    async def _conversation_queue(self, worker: Worker) -> AsyncIterator[None]:
        """A task queue only this worker polls, for the model calls of the runs whose
        conversation it holds once a call of theirs landed elsewhere (a fleet without
        eager dispatch): a fleet's workers then read a conversation back from history at
        most once per run and lost worker, not on every call. It runs the LLM activity
        alone, with the worker's own activity slots."""
        shared = worker.task_queue
        own = f"{shared}@{uuid.uuid4().hex[:12]}"
        config = worker.config(active_config=True)
        # One poll at a time: a hung (not dead) worker keeps its polls open, and each
        # would take a call (and its retry) that then waits out a timeout.
        calls = self._llm_worker(worker, own, config.get("max_concurrent_activities"), polls=1)
        self._llm_activities.worker_queues.update({shared: own, own: own})
        async with calls:
            try:
                yield
            finally:
                self._llm_activities.worker_queues.pop(shared, None)

    @asynccontextmanager
    async def _model_queue(self, worker: Worker, slots: int) -> AsyncIterator[None]:
        """The task queue the model calls of runs described here wait on, polled with
        `slots` activity slots: the worker asks for a call only when one is free."""
        queue = f"{worker.task_queue}@models"
        self._agent_activities.llm_queue = queue
        async with self._llm_worker(worker, queue, slots, polls=min(slots, 2)):
            log.info("model calls limited", queue=queue, max_concurrent_llm_calls=slots)
            yield

    def _llm_worker(self, worker: Worker, queue: str, slots: int | None, *, polls: int) -> Worker:
        """A worker beside `worker` that runs the LLM activity alone, from `queue`."""
        config = worker.config(active_config=True)
        # The client without its plugins, or this plugin would configure (and run) a
        # whole Tether worker again inside this one.
        active = worker.client.config(active_config=True)
        client = Client(
            active["service_client"],
            namespace=active["namespace"],
            data_converter=active["data_converter"],
            interceptors=active["interceptors"],
        )
        return Worker(
            client,
            task_queue=queue,
            activities=[self._llm_activities.call_llm],
            max_concurrent_activities=slots,
            max_concurrent_activity_task_polls=polls,
            interceptors=config.get("interceptors", []),
            # Unversioned even on a versioned worker: the queue is this process's (or
            # the limit's), not its build's. Were it the build's, the next build (which
            # cannot poll it) could not become current while this worker lives.
        )


def _with_tether_payloads(existing: DataConverter | None) -> DataConverter:
    """Tether's payload converter, keeping a codec and an external store the client
    already has (yours, or Tether's from TETHER_ENCRYPTION_KEYS / TETHER_PAYLOAD_STORE)."""
    ours = data_converter()
    if existing is not None and existing.external_storage is not None:
        ours = dataclasses.replace(ours, external_storage=existing.external_storage)
    if existing is None or existing.payload_codec is None:
        return ours
    return with_codec(ours, existing.payload_codec)

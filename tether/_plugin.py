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
attributes where the namespace allows it, and, when asked to run offline
(`LlmSettings.scripted()`), starts the offline scripted model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter
from temporalio.plugin import SimplePlugin
from temporalio.worker import Worker, WorkerConfig

from tether._activities.agents import AgentActivities
from tether._activities.conversations import Conversations
from tether._activities.judge import JudgeActivities
from tether._activities.llm import LlmActivities, make_client
from tether._activities.mcp_sessions import McpSessions, check_servers
from tether._activities.mcp_tools import McpActivities
from tether._activities.specs import RecordedSpecs
from tether._activities.tools import ToolActivities
from tether._agents import Agent, AgentRegistry, as_registry
from tether._logs import ActivityLogContext, get_logger
from tether._lost_payloads import ending_runs_with_lost_payloads, stop_ending
from tether._pricing import PriceTable
from tether._sandbox import passing_tether_through
from tether._scripted_llm.server import ScriptedLLM
from tether._scripted_llm.steps import no_script
from tether._search_registration import ensure_search_attributes
from tether._settings import ConfigurationError, LlmSettings
from tether._temporal import data_converter, with_codec
from tether._trust import ApproverKeys
from tether._workflows.agent import AgentWorkflow

log = get_logger("tether.plugin")

PLUGIN_NAME = "tether.TetherPlugin"


class TetherPlugin(SimplePlugin):
    """Tether for a Temporal client and its workers.

    Args:
        agents: The agents to serve: an `AgentRegistry` (which may also carry your own
            workflows and activities), an `Agent`, or a list of them.
        llm: Where model calls go; None reads OPENAI_API_KEY, OPENAI_BASE_URL and
            TETHER_MODEL when a worker starts (with none of them set, the worker refuses
            to start; `LlmSettings.scripted()` runs the offline scripted model).
        prices: Per-model prices, so runs report their cost; None reads TETHER_PRICES.
        cached_conversations: Conversations the LLM activity keeps per worker, so a
            run's model calls send only their new messages (see Conversations).
        search_attributes: Keep runs' AgentName/AgentStatus/AgentTurns/AgentTokens
            search attributes (registered in the namespace where it allows); False
            saves their history events, and `tether list --status` cannot filter.
        live_status: Upsert those search attributes at every change of a run's status
            (a history event and a billable action each), so that visibility filters
            see running, waiting and ended runs apart. Otherwise a run upserts them only
            once it waits for an approval (the web UI's inbox finds it), and at every
            change from then on; `tether list --status` tells the others apart by
            their execution status.
        check_mcp_servers: Connect to every agent's MCP servers as the worker starts,
            logging one line for each that does not start or answer (the worker runs
            on). Otherwise a server is started when a run first needs it. Either way
            the worker keeps its sessions for later runs and closes them as it stops.
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
        approver_keys: The keys whose signed decisions runs of agents that name none
            accept (see `ApproverKeys`); None reads TETHER_APPROVER_KEYS (a file, or
            `unsigned`). With neither, such runs refuse every decision.
    """

    def __init__(
        self,
        agents: AgentRegistry | Agent | Sequence[Agent],
        *,
        llm: LlmSettings | None = None,
        prices: PriceTable | None = None,
        cached_conversations: int = 1000,
        search_attributes: bool = True,
        live_status: bool = False,
        check_mcp_servers: bool = False,
        max_concurrent_llm_calls: int | None = None,
        check_tools: bool = False,
        approver_keys: ApproverKeys | None = None,
    ) -> None:
        self.registry = as_registry(agents)
        self._llm_slots = max_concurrent_llm_calls
        self._check_tools = check_tools
        self._llm = llm
        self._prices = prices
        self._cached_conversations = cached_conversations
        self._search_attributes = search_attributes
        self._live_status = live_status
        self._check_mcp_servers = check_mcp_servers
        self._mcp_sessions = McpSessions()
        self._approver_keys = approver_keys
        self._served: _Activities | None = None
        super().__init__(
            PLUGIN_NAME,
            data_converter=_with_tether_payloads,
            workflows=[AgentWorkflow, *self.registry.workflows],
            activities=self._with_activities,
            interceptors=[ActivityLogContext()],
            workflow_runner=passing_tether_through,
        )

    @property
    def llm(self) -> LlmSettings:
        """Where this plugin's workers send model calls (read from the environment the
        first time a worker needs it, if not given)."""
        return self._activities().llm

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """See base class. Refuses a client without Tether's data converter (the worker
        would fail to decode every run), and a worker with no model configured."""
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

    def _activities(self) -> _Activities:
        """The activities this plugin's workers run, made once, when the first worker
        is configured: a client-only process needs no model settings."""
        if self._served is None:
            llm = self._llm or LlmSettings.from_env()
            keys = self._approver_keys
            if keys is None:
                keys = ApproverKeys.from_env()
            warn_undecidable(self.registry, keys)
            specs = RecordedSpecs(llm.model, self._cached_conversations, keys)
            prices = self._prices if self._prices is not None else PriceTable.from_env()
            agents = AgentActivities(self.registry, specs, self._mcp_sessions)
            self._served = _Activities(
                llm=llm,
                agents=agents,
                llm_calls=LlmActivities(
                    self.registry,
                    make_client(llm),
                    specs,
                    prices,
                    conversations=Conversations(self._cached_conversations),
                    api=llm.api,
                    describe=agents.spec_for_run,
                ),
                tools=ToolActivities(self.registry, specs),
                mcp_tools=McpActivities(self.registry, specs, self._mcp_sessions),
            )
        return self._served

    def _with_activities(self, existing: Sequence[Callable[..., Any]] | None) -> list[Any]:
        served = self._activities()
        return [
            *(existing or []),
            served.agents.describe_agent,
            served.llm_calls.call_llm,
            JudgeActivities(served.llm_calls).judge,
            served.tools.run_tool,
            served.tools.run_check,
            served.mcp_tools.call_mcp_tool,
            *self.registry.activities,
        ]

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        """See base class. Registers the search attributes, runs the offline scripted
        model while the worker runs if asked to, and closes the MCP sessions once it
        has stopped."""
        async with self._running(worker):
            await next(worker)

    @asynccontextmanager
    async def _running(self, worker: Worker) -> AsyncIterator[None]:
        served = self._activities()
        served.agents.searchable = self._search_attributes and (
            await ensure_search_attributes(worker.client)
        )
        served.agents.live_status = self._live_status
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self._conversation_queue(worker))
            if self._llm_slots is not None:
                await stack.enter_async_context(self._model_queue(worker, self._llm_slots))
            stack.callback(stop_ending, ending_runs_with_lost_payloads(worker.client))
            stack.push_async_callback(self._mcp_sessions.close)
            if self._check_mcp_servers:
                servers = [server for agent in self.registry for server in agent.mcp]
                check = asyncio.create_task(check_servers(servers, self._mcp_sessions))
                stack.callback(check.cancel)
            if self._check_tools and not served.llm.offline:
                check_tools = asyncio.create_task(self._ask_about_tools())
                stack.callback(check_tools.cancel)
            if served.llm.offline:
                scripts = served.llm.scripts
                if scripts is None:
                    scripts = self.registry.scripts  # deprecated: AgentRegistry(scripts=)
                scripted = stack.enter_context(ScriptedLLM(scripts=scripts, unscripted=no_script))
                served.llm_calls.client = make_client(
                    dataclasses.replace(served.llm, base_url=scripted.base_url)
                )
                unscripted = sorted(set(self.registry.names) - set(scripts))
                log.info(
                    "offline: the scripted model plays the agents",
                    llm=scripted.base_url,
                    agents_without_script=unscripted,
                )
            yield

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
        served = self._activities()
        served.llm_calls.worker_queues.update({shared: own, own: own})
        async with calls:
            try:
                yield
            finally:
                served.llm_calls.worker_queues.pop(shared, None)

    @asynccontextmanager
    async def _model_queue(self, worker: Worker, slots: int) -> AsyncIterator[None]:
        """The task queue the model calls of runs described here wait on, polled with
        `slots` activity slots: the worker asks for a call only when one is free."""
        queue = f"{worker.task_queue}@models"
        self._activities().agents.llm_queue = queue
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
            activities=[self._activities().llm_calls.call_llm],
            max_concurrent_activities=slots,
            max_concurrent_activity_task_polls=polls,
            interceptors=config.get("interceptors", []),
            # Unversioned even on a versioned worker: the queue is this process's (or
            # the limit's), not its build's. Were it the build's, the next build (which
            # cannot poll it) could not become current while this worker lives.
        )

    async def _ask_about_tools(self) -> None:
        """Whether the model server passes tools, for each model of an agent with tools."""
        served = self._activities()
        models = [
            (model, agent.llm.api_for(model) or served.llm.api)
            for agent in self.registry
            if agent.tools or agent.mcp
            for model in [agent.model or served.llm.model, *agent.llm.fallback_models]
        ]
        await served.llm_calls.tool_support.check(served.llm_calls.client, models)


def warn_undecidable(registry: AgentRegistry, worker_keys: ApproverKeys | None) -> None:
    """Log each agent whose calls wait for a person but whose runs could accept no
    decision (no key trusted, unsigned decisions not allowed)."""
    for agent in registry:
        keys = agent.approver_keys or worker_keys or ApproverKeys()
        if keys.keys or keys.unsigned or not any(t.spec.gated for t in agent.tools):
            continue
        log.warning(
            "this agent's calls wait for a person, but it trusts no approver keys: every "
            "decision will be refused; set TETHER_APPROVER_KEYS to an allowed-signers file "
            "(or to `unsigned`), or give the agent approver_keys",
            agent=agent.name,
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


@dataclass
class _Activities:
    """What a plugin's workers run, and the model settings they run with."""

    llm: LlmSettings
    agents: AgentActivities
    llm_calls: LlmActivities
    tools: ToolActivities
    mcp_tools: McpActivities

"""The Tether worker: runs agent workflows and their LLM and tool activities.

    python worker.py

Temporal from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / profiles, task queue from
TETHER_TASK_QUEUE (default `tether`), capacity from TETHER_MAX_CONCURRENT_ACTIVITIES,
TETHER_MAX_CONCURRENT_WORKFLOW_TASKS and TETHER_MAX_CACHED_WORKFLOWS, the model from
OPENAI_BASE_URL, OPENAI_API_KEY and TETHER_MODEL. With neither OPENAI_* variable set, the
worker starts the offline scripted model on loopback, so the demo runs without any LLM API.
Metrics and traces are opt-in: TETHER_PROMETHEUS_ADDRESS and TETHER_TRACING
(tether/telemetry.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from contextlib import ExitStack
from dataclasses import dataclass

import structlog
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker

from activities.agents import AgentActivities
from activities.conversations import Conversations
from activities.llm import LlmActivities, make_client
from activities.tools import ToolActivities
from agents import REGISTRY
from agents.pipeline_script import offline_responder
from tether import logs
from tether.agents import AgentRegistry
from tether.logs import ActivityLogContext
from tether.pricing import PriceTable
from tether.process import exit_now
from tether.scripted_llm import ScriptedLLM
from tether.search_registration import ensure_search_attributes
from tether.settings import (
    SDK_DEFAULTS,
    LlmSettings,
    SettingsError,
    WorkerTuning,
    task_queue,
)
from tether.telemetry import NO_TELEMETRY, Telemetry
from tether.temporal import TemporalUnreachable, connect, data_converter
from workflows.registered import WORKFLOWS

log = structlog.get_logger("tether.worker")


def create_worker(
    client: Client,
    llm: LlmSettings,
    *,
    queue: str | None = None,
    agents: AgentRegistry = REGISTRY,
    prices: PriceTable | None = None,
    searchable: bool = False,
    tuning: WorkerTuning = SDK_DEFAULTS,
    telemetry: Telemetry = NO_TELEMETRY,
) -> Worker:
    """The worker with every workflow and activity registered; used by tests too."""
    llm_activities = LlmActivities(
        agents,
        make_client(llm),
        prices,
        # As many conversations as runs cached, so a cached run seldom rebuilds its own.
        conversations=Conversations(max(tuning.max_cached_workflows, 1)),
    )
    tool_activities = ToolActivities(agents)
    agent_activities = AgentActivities(agents, llm.model, searchable=searchable)
    return Worker(
        client,
        task_queue=queue or task_queue(),
        workflows=WORKFLOWS,
        activities=[
            agent_activities.describe_agent,
            llm_activities.call_llm,
            tool_activities.run_tool,
        ],
        max_concurrent_activities=tuning.max_concurrent_activities,
        max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
        max_cached_workflows=tuning.max_cached_workflows,
        interceptors=[ActivityLogContext(), *telemetry.interceptors()],
    )


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker reads from its environment, checked before it connects."""

    llm: LlmSettings
    prices: PriceTable
    tuning: WorkerTuning
    telemetry: Telemetry
    converter: DataConverter

    @classmethod
    def from_env(cls) -> WorkerConfig:
        return cls(
            llm=LlmSettings.from_env(),
            prices=PriceTable.from_env(),
            tuning=WorkerTuning.from_env(),
            telemetry=Telemetry.from_env(),
            converter=data_converter(),
        )


async def serve(config: WorkerConfig) -> None:
    client = await connect(config.converter, runtime=config.telemetry.runtime())
    searchable = await ensure_search_attributes(client)
    worker = create_worker(
        client,
        config.llm,
        prices=config.prices,
        searchable=searchable,
        tuning=config.tuning,
        telemetry=config.telemetry,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info(
            "worker started",
            task_queue=worker.task_queue,
            namespace=client.namespace,
            model=config.llm.model,
            llm=config.llm.base_url,
            tuning=config.tuning,
        )
        await stop.wait()
        log.info("worker stopping: finishing in-flight tasks")
    log.info("worker stopped")


def main() -> int:
    logs.configure()
    try:
        config = WorkerConfig.from_env()
    except SettingsError as e:
        print(f"worker: {e}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        stack.enter_context(config.telemetry.exporting())
        if config.llm.offline:
            scripted = stack.enter_context(ScriptedLLM(offline_responder))
            offline = LlmSettings(
                base_url=scripted.base_url, api_key="offline", model=config.llm.model, offline=True
            )
            config = dataclasses.replace(config, llm=offline)
            log.info(
                "using the offline scripted model; set OPENAI_API_KEY or OPENAI_BASE_URL "
                "for a real one",
                llm=scripted.base_url,
            )
        try:
            asyncio.run(serve(config))
        except TemporalUnreachable as e:
            print(f"worker: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    exit_now(main())

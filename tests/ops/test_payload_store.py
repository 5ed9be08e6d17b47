"""Payloads bigger than a history should hold go to an external store (TETHER_PAYLOAD_STORE),
a reference stays in history: a 5 MB tool result completes its run whole, through the
embedded file store and through the SDK's S3 driver against an S3-compatible server on
loopback (moto's), and the model is shown what the agent's context policy allows.
Time-skipping server, scripted model over HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import (
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)
from temporalio.testing import WorkflowEnvironment

from tests.support.processes import cli_in_background, process_env, target
from tests.support.waiting import closed, status_becomes
from tether import Agent, AgentRegistry, AgentRun, ContextPolicy, tool
from tether._limits import MAX_RESULT_BYTES_LIMIT
from tether._lost_payloads import PayloadLost
from tether._storage import S3_EXTRA, FileStore, external_storage_from_env
from tether.codec_server import make_server
from tether.testing import ScriptedLLM, call_tools, say, worker
from tether.worker import data_converter

FIVE_MB = 5 * 1024 * 1024
BUDGET = 20_000  # tokens
REFERENCE = b"temporal.api.sdk.v1.ExternalStorageReference"  # what a stored payload leaves


def document(megabytes: float) -> str:
    """Return the document, `megabytes` long."""
    return "".join(f"line {i:08d} of the document\n" for i in range(int(megabytes * 2**20) // 31))


@pytest.fixture
def file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    where = tmp_path / "payloads"
    monkeypatch.setenv("TETHER_PAYLOAD_STORE", str(where))
    yield where


@pytest.fixture
def s3_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on moto's S3-compatible server, on a loopback port of its own; without
    the s3 extra (the SDK's driver needs aioboto3) or moto, the test is skipped."""
    pytest.importorskip("aioboto3", reason=f"the s3 extra is not installed ({S3_EXTRA})")
    moto = pytest.importorskip("moto.server", reason="moto (the dev extra) is not installed")
    server = moto.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "tether-test",
        "AWS_SECRET_ACCESS_KEY": "tether-test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"tether-{uuid.uuid4().hex[:8]}"
    # moto checks no signatures: a plain PUT makes the bucket.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"), timeout=10)
    monkeypatch.setenv("TETHER_PAYLOAD_STORE", f"s3://{bucket}")
    try:
        yield bucket
    finally:
        server.stop()


def with_store(env: WorkflowEnvironment) -> Client:
    """The test server's client with Tether's converter as the environment sets it."""
    return Client(
        env.client.service_client, namespace=env.client.namespace, data_converter=data_converter()
    )


def reader(megabytes: float, *, policy: ContextPolicy | None = None) -> Agent:
    @tool(max_result_bytes=int(megabytes * 2**20) + 1024)
    def fetch(part: int) -> str:
        """Fetch one part of the document."""
        return document(megabytes)

    return Agent(name="reader", instructions="Read it.", tools=[fetch], context=policy)


def reads(count: int) -> Any:
    def script(messages: list[dict[str, Any]]) -> Any:
        done = sum(m["role"] == "tool" for m in messages)
        return call_tools(("fetch", {"part": done})) if done < count else say("read")

    return script


async def history_of(run: AgentRun) -> list[Any]:
    return [e async for e in run.handle.fetch_history_events()]


def history_bytes(history: list[Any]) -> int:
    return sum(e.ByteSize() for e in history)


async def run_reader(client: Client, agent: Agent, count: int) -> tuple[AgentRun, Any, ScriptedLLM]:
    with ScriptedLLM(reads(count)) as llm:
        async with worker(client, AgentRegistry([agent]), llm) as w:
            run = await AgentRun.start(client, "reader", "go", task_queue=w.task_queue)
            result = await asyncio.wait_for(run.result(), 120)
            transcript = await run.transcript()
    assert result.status == "completed", result
    return run, transcript, llm


@pytest.mark.parametrize("store", ["file_store", "s3_store"])
async def test_a_five_megabyte_tool_result_is_stored_and_the_history_holds_a_reference(
    ts_env: WorkflowEnvironment, store: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(store)
    client = with_store(ts_env)
    agent = reader(5, policy=ContextPolicy(max_tokens=BUDGET))
    run, transcript, llm = await run_reader(client, agent, 1)
    history = await history_of(run)
    # The run has the whole result: the transcript returns all five megabytes.
    (result,) = [m.content for m in transcript if m.role == "tool"]
    assert result == document(5)
    # History holds references, not the bytes: the tool's completion is a reference.
    completions = [
        e.activity_task_completed_event_attributes.result.payloads[0]
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    assert any(p.metadata.get("messageType") == REFERENCE for p in completions)
    assert max(p.ByteSize() for p in completions) < 10_000
    assert history_bytes(history) < 200_000
    # The model was shown what the policy allows: the result cut to fit the budget.
    seen = next(m["content"] for m in llm.requests[-1].messages if m["role"] == "tool")
    assert f"[Cut: this message is {len(document(5)):,} characters" in seen
    assert len(seen) < BUDGET * 4
    # The web UI, through the codec server, shows the result the reference stands for.
    (shown,) = decoded([p for p in completions if p.metadata.get("messageType") == REFERENCE])
    assert json.loads(shown.data)["content"] == document(5)


def decoded(payloads: list[Payload]) -> list[Payload]:
    """`payloads` through the codec server's /decode, as the web UI posts them."""
    token = "a-codec-token-for-the-test"
    server = make_server(
        None, token=token, storage=external_storage_from_env(), ui_origin="http://ui"
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.server_port}/decode",
            data=json_format.MessageToJson(Payloads(payloads=payloads)).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return list(json_format.Parse(response.read(), Payloads()).payloads)
    finally:
        server.shutdown()
        server.server_close()


def test_a_stored_payload_is_checked_when_read_back(file_store: Path, tmp_path: Path) -> None:
    store = FileStore(file_store)
    (claim,) = store._store([Payload(data=b"x" * 1000)])
    path = file_store / claim.claim_data["sha256"]
    assert path.stat().st_mode & 0o777 == 0o600
    # Another directory than the one it was written to: a setting to fix, retried.
    with pytest.raises(FileNotFoundError, match="must share TETHER_PAYLOAD_STORE"):
        FileStore(tmp_path / "elsewhere")._retrieve([claim])
    path.write_bytes(b"altered")
    with pytest.raises(PayloadLost, match="was altered"):
        store._retrieve([claim])
    path.unlink()
    with pytest.raises(PayloadLost, match="is gone from the payload store") as lost:
        store._retrieve([claim])
    assert lost.value.non_retryable


async def test_a_lost_payload_ends_its_run_saying_why(
    dev_env: WorkflowEnvironment,
    file_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The probe deleted a stored payload: a worker that had to read the run's history
    back failed its workflow task on every attempt, forever, telling to share the store.
    Now the run ends within seconds, its reason naming the lost payload."""
    monkeypatch.setenv("TETHER_PAYLOAD_STORE_THRESHOLD", "4096")
    client = with_store(dev_env)
    registry = AgentRegistry([reader(0.01)])
    with ScriptedLLM(reads(1)) as llm:
        async with worker(client, registry, llm) as w:
            run = await AgentRun.start(client, "reader", "go", task_queue=w.task_queue, chat=True)

            await status_becomes(run.handle, "awaiting_user", within=60)  # answered its prompt
        for stored in await asyncio.to_thread(lambda: list(file_store.iterdir())):
            if not stored.name.startswith("."):
                stored.unlink()
        # A new worker has the run in no cache: it reads the history back.
        async with worker(client, registry, llm, queue=w.task_queue):
            await run.end()

            await closed(run.handle, within=60)
    described = await run.handle.describe()
    assert described.status == WorkflowExecutionStatus.TERMINATED
    last = [e async for e in run.handle.fetch_history_events()][-1]
    reason = last.workflow_execution_terminated_event_attributes.reason
    assert reason.startswith("PayloadLost: payload ") and "is gone from the payload store" in reason
    # Reading the run says so in one line, no traceback (exit status 2).
    env = process_env(target(dev_env), w.task_queue, tmp_path / "ledger.db")
    for command in ("status", "transcript"):
        shown = await cli_in_background(env, command, run.id)
        assert "Traceback" not in shown.stderr, shown.stderr
        assert shown.returncode == 2 and len(shown.stderr.strip().splitlines()) == 1
        assert "cannot read a payload of its history (PayloadLost: payload" in shown.stderr


async def test_a_store_keeps_megabyte_results_out_of_history(
    ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three 1 MB tool results: the history without a store holds them (a few MB), with
    the file store it holds references (kilobytes). bench/payload_store.py prints both."""
    assert MAX_RESULT_BYTES_LIMIT >= 2**20
    without, _, _ = await run_reader(ts_env.client, reader(0.99), 3)
    bare = history_bytes(await history_of(without))
    monkeypatch.setenv("TETHER_PAYLOAD_STORE", str(tmp_path / "payloads"))
    stored, _, _ = await run_reader(with_store(ts_env), reader(0.99), 3)
    kept = history_bytes(await history_of(stored))
    assert bare > 3 * 2**20 * 0.99
    assert kept < bare / 20


async def test_s3_references_are_read_from_the_stores_bucket_and_namespaces_only(
    s3_store: str,
) -> None:
    # A reference in history may name any bucket the worker's credentials reach, and
    # any namespace's objects: the codec server shows only its own namespaces' payloads.
    storage = external_storage_from_env()
    assert storage is not None
    (driver,) = storage.drivers
    stored = {}
    for namespace in ("default", "other"):
        target = StorageDriverWorkflowInfo(namespace=namespace, id="wf", run_id="r", type="t")
        (claim,) = await driver.store(
            StorageDriverStoreContext(target=target), [Payload(data=namespace.encode())]
        )
        ref = ExternalStorageReference(driver_name=driver.name(), claim_data=claim.claim_data)
        stored[namespace] = Payload(
            metadata={"encoding": b"json/protobuf", "messageType": REFERENCE},
            data=json_format.MessageToJson(ref).encode(),
        )
    shown = decoded([stored["default"], stored["other"]])
    assert [p.data for p in shown] == [b"default", stored["other"].data]
    elsewhere = dict(claim.claim_data, bucket="another-bucket")
    with pytest.raises(ValueError, match="another bucket than TETHER_PAYLOAD_STORE's"):
        await driver.retrieve(StorageDriverRetrieveContext(), [StorageDriverClaim(elsewhere)])

"""Limits at their boundary: a tool result of exactly its limit reaches the model whole
and one byte more is cut (never inside a character); with an external payload store the
result limit still holds (a store keeps history small, it does not let a model be sent
megabytes) and may be set above 1 MiB; TETHER_PAYLOAD_STORE_THRESHOLD decides which
payloads go to the store. Time-skipping server, scripted model over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tether import Agent, AgentRegistry, AgentRun, tool
from tether._limits import MAX_RESULT_BYTES_LIMIT, STORED_RESULT_BYTES_LIMIT
from tether._settings import ConfigurationError
from tether._storage import DEFAULT_THRESHOLD, FileStore, external_storage_from_env
from tether._tools import truncate
from tether.testing import ScriptedLLM, call_tools, say, worker
from tether.worker import data_converter

LIMIT = 1000  # bytes
REFERENCE = b"temporal.api.sdk.v1.ExternalStorageReference"  # what a stored payload leaves


@tool(max_result_bytes=LIMIT)
def produce(size: int, char: str) -> str:
    """Produce `size` characters."""
    return char * size


def truncated(text: str) -> bool:
    return "[Truncated: this result was" in text


def test_truncate_keeps_exactly_the_limit_and_cuts_one_byte_more() -> None:
    assert truncate("x" * LIMIT, LIMIT) == "x" * LIMIT
    cut = truncate("x" * (LIMIT + 1), LIMIT)
    assert cut.startswith("x" * LIMIT + "\n") and truncated(cut)
    assert not cut.startswith("x" * (LIMIT + 1))
    # "é" is two bytes: 500 fit exactly; with one byte more, the cut never splits one.
    assert truncate("é" * (LIMIT // 2), LIMIT) == "é" * (LIMIT // 2)
    odd = truncate("x" + "é" * (LIMIT // 2), LIMIT)
    assert odd.startswith("x" + "é" * (LIMIT // 2 - 1) + "\n") and truncated(odd)


async def tool_results(client: Client, agent: Agent, *calls: dict[str, Any]) -> list[str]:
    """What the model is shown of each call of `produce` (made in one message)."""
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(*(("produce", c) for c in calls)), say("done"))
        async with worker(
            client, AgentRegistry([agent]), llm, queue=f"lim-{uuid.uuid4().hex[:8]}"
        ) as w:
            run = await AgentRun.start(client, agent.name, "go", task_queue=w.task_queue)
            assert (await asyncio.wait_for(run.result(), 120)).status == "completed"
    return [str(m["content"]) for m in llm.requests[1].messages if m["role"] == "tool"]


async def test_a_result_of_exactly_the_limit_reaches_the_model_whole(
    ts_env: WorkflowEnvironment,
) -> None:
    agent = Agent(name="producer", instructions="Produce.", tools=[produce])
    exact, over, exact_wide, over_wide = await tool_results(
        ts_env.client,
        agent,
        {"size": LIMIT, "char": "x"},
        {"size": LIMIT + 1, "char": "x"},
        {"size": LIMIT // 2, "char": "é"},
        {"size": LIMIT // 2 + 1, "char": "é"},
    )
    assert exact == "x" * LIMIT
    assert exact_wide == "é" * (LIMIT // 2)
    assert truncated(over) and over.startswith("x" * LIMIT + "\n")
    assert truncated(over_wide) and over_wide.startswith("é" * (LIMIT // 2) + "\n")


def stored_client(env: WorkflowEnvironment) -> Client:
    c = env.client
    return Client(c.service_client, namespace=c.namespace, data_converter=data_converter())


async def test_with_a_payload_store_the_result_limit_still_holds(
    ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_PAYLOAD_STORE", str(tmp_path / "payloads"))
    # The agent's default limit (16 KiB) and a tool's own, for a 1 MiB result.
    agent = Agent(name="stored", instructions="Produce.", tools=[tool(produce.fn)])
    [default_limit] = await tool_results(stored_client(ts_env), agent, {"size": 2**20, "char": "x"})
    assert truncated(default_limit)
    assert len(default_limit.encode()) <= agent.max_tool_result_bytes + 200
    limited = Agent(name="limited", instructions="Produce.", tools=[produce])
    [own_limit] = await tool_results(stored_client(ts_env), limited, {"size": 2**20, "char": "x"})
    assert truncated(own_limit) and len(own_limit.encode()) <= LIMIT + 200


def test_a_result_limit_over_one_mebibyte_needs_a_payload_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = 8 * 2**20
    with pytest.raises(ValueError, match="max_result_bytes"):
        tool(max_result_bytes=big)(produce.fn)
    assert tool(max_result_bytes=MAX_RESULT_BYTES_LIMIT)(produce.fn).max_result_bytes
    monkeypatch.setenv("TETHER_PAYLOAD_STORE", str(tmp_path))
    assert tool(max_result_bytes=big)(produce.fn).max_result_bytes == big
    assert tool(max_result_bytes=STORED_RESULT_BYTES_LIMIT)(produce.fn).max_result_bytes
    with pytest.raises(ValueError, match="max_result_bytes"):
        tool(max_result_bytes=STORED_RESULT_BYTES_LIMIT + 1)(produce.fn)


def test_the_threshold_variable_is_read_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_PAYLOAD_STORE", str(tmp_path))
    storage = external_storage_from_env()
    assert storage is not None and storage.payload_size_threshold == DEFAULT_THRESHOLD
    monkeypatch.setenv("TETHER_PAYLOAD_STORE_THRESHOLD", "50000")
    storage = external_storage_from_env()
    assert storage is not None and storage.payload_size_threshold == 50_000
    for bad in ("50k", "-1", "1.5"):
        monkeypatch.setenv("TETHER_PAYLOAD_STORE_THRESHOLD", bad)
        with pytest.raises(ConfigurationError):
            external_storage_from_env()


async def stored_completions(client: Client, size: int) -> list[bool]:
    """For each activity completion of a run whose tool returns `size` bytes: whether
    history holds a reference to the store instead of the payload."""
    agent = Agent(
        name="threshold", instructions="Produce.", tools=[tool(max_result_bytes=size)(produce.fn)]
    )
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("produce", {"size": size, "char": "x"})), say("done"))
        async with worker(
            client, AgentRegistry([agent]), llm, queue=f"thr-{uuid.uuid4().hex[:8]}"
        ) as w:
            run = await AgentRun.start(client, "threshold", "go", task_queue=w.task_queue)
            assert (await asyncio.wait_for(run.result(), 120)).status == "completed"
            history = [e async for e in run.handle.fetch_history_events()]
    return [
        e.activity_task_completed_event_attributes.result.payloads[0].metadata.get("messageType")
        == REFERENCE
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]


async def test_payloads_over_the_threshold_variable_go_to_the_store(
    ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "var" / "tether" / "payloads"  # made with its parents
    monkeypatch.setenv("TETHER_PAYLOAD_STORE", str(store))
    size = 100_000  # under the default threshold (256 KiB), over the one set below
    assert not any(await stored_completions(stored_client(ts_env), size))
    monkeypatch.setenv("TETHER_PAYLOAD_STORE_THRESHOLD", "50000")
    assert any(await stored_completions(stored_client(ts_env), size))
    assert list(store.iterdir())


def test_the_file_store_keeps_a_payload_of_exactly_its_limit(tmp_path: Path) -> None:
    payload = Payload(data=b"x" * 1000)
    size = len(payload.SerializeToString())
    (claim,) = FileStore(tmp_path, max_bytes=size)._store([payload])
    assert FileStore(tmp_path, max_bytes=size)._retrieve([claim]) == [payload]
    with pytest.raises(ValueError, match="over the store's"):
        FileStore(tmp_path / "smaller", max_bytes=size - 1)._store([payload])

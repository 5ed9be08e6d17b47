"""Key rotation as the README documents it, through the environment a worker and a
client read (TETHER_ENCRYPTION_KEYS, TETHER_ENCRYPTION_KEY_ID): new payloads are sealed
with the key named active (by default the last listed), payloads sealed before still
open, and a chat whose worker is restarted with a new key goes on where it was, its
history sealed under the old key up to the rotation and under the new one after (a dev
server). Then what `dev.py mutate` found unguarded in the codec and the store: a payload
sealed for its workflow, mixed batches read whole, the SDK's threshold by default."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    ActivitySerializationContext,
    ExternalStorage,
    WorkflowSerializationContext,
)
from temporalio.testing import WorkflowEnvironment

from tests.support.waiting import until
from tether import Agent, AgentRegistry, AgentRun
from tether._codec import KEY_ID, EncryptionCodec, UnknownKeyError
from tether._storage import DEFAULT_THRESHOLD, FileStore, resolve_references
from tether.testing import ScriptedLLM, say, worker
from tether.worker import data_converter

KEYS = {name: os.urandom(32) for name in ("2026-10", "2026-11", "2026-12")}


def keys(*names: str) -> str:
    return ",".join(f"{n}={base64.b64encode(KEYS[n]).decode()}" for n in names)


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def from_env(monkeypatch: pytest.MonkeyPatch, listed: str, active: str | None) -> EncryptionCodec:
    monkeypatch.setenv("TETHER_ENCRYPTION_KEYS", listed)
    if active is None:
        monkeypatch.delenv("TETHER_ENCRYPTION_KEY_ID", raising=False)
    else:
        monkeypatch.setenv("TETHER_ENCRYPTION_KEY_ID", active)
    codec = EncryptionCodec.from_env()
    assert codec is not None
    return codec


@pytest.mark.parametrize(
    ("listed", "active", "sealed_with"),
    [
        (("2026-10",), None, "2026-10"),
        (("2026-10", "2026-11"), None, "2026-11"),  # the last listed
        (("2026-11", "2026-10"), None, "2026-10"),  # listed order, not name order
        (("2026-10", "2026-11", "2026-12"), None, "2026-12"),
        (("2026-10", "2026-11", "2026-12"), "2026-11", "2026-11"),  # named active
        (("2026-10", "2026-11"), "2026-10", "2026-10"),
    ],
)
async def test_new_payloads_are_sealed_with_the_active_key(
    monkeypatch: pytest.MonkeyPatch, listed: tuple[str, ...], active: str | None, sealed_with: str
) -> None:
    codec = from_env(monkeypatch, keys(*listed), active)
    [sealed] = await codec.encode([plain('"refund A-1001"')])
    assert sealed.metadata[KEY_ID].decode() == sealed_with
    # Only that key opens it.
    assert await EncryptionCodec({sealed_with: KEYS[sealed_with]}, sealed_with).decode([sealed])
    for other in set(KEYS) - {sealed_with}:
        with pytest.raises(UnknownKeyError):
            await EncryptionCodec({other: KEYS[other]}, other).decode([sealed])


async def test_each_step_of_a_rotation_reads_what_the_step_before_wrote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 1. One key. 2. The new key added and made active. 3. The old key dropped.
    before = from_env(monkeypatch, keys("2026-10"), None)
    during = from_env(monkeypatch, keys("2026-10", "2026-11"), None)
    after = from_env(monkeypatch, keys("2026-11"), None)
    old = await before.encode([plain('"old"')])
    new = await during.encode([plain('"new"')])
    assert [p.metadata[KEY_ID] for p in old + new] == [b"2026-10", b"2026-11"]
    assert [p.data for p in await during.decode(old + new)] == [b'"old"', b'"new"']
    assert [p.data for p in await after.decode(new)] == [b'"new"']
    # Dropped too early: a history that still needs the old key says which.
    with pytest.raises(UnknownKeyError, match="2026-10"):
        await after.decode(old)


async def test_a_chat_goes_on_across_a_rotation_and_its_history_shows_where(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dev server: the time-skipping one does not hand a run whose worker stopped to
    # the next worker before an update to it times out.
    agent = Agent(name="rotated", instructions="Echo.")
    registry = AgentRegistry([agent])

    def client_with(listed: str) -> Client:
        monkeypatch.setenv("TETHER_ENCRYPTION_KEYS", listed)
        monkeypatch.delenv("TETHER_ENCRYPTION_KEY_ID", raising=False)
        c = dev_env.client
        return Client(c.service_client, namespace=c.namespace, data_converter=data_converter())

    queue = f"rotation-{uuid.uuid4().hex[:8]}"
    old_client = client_with(keys("2026-10"))
    with ScriptedLLM(lambda messages: say(f"echo {len(messages)}")) as llm:
        async with worker(old_client, registry, llm, queue=queue):
            run = await AgentRun.start(old_client, "rotated", "before", chat=True, task_queue=queue)
            handle = run.handle

            async def answered() -> bool:
                return (await run.state()).status == "awaiting_user"

            await until(answered, "the chat never answered its first message")
        rotated = client_with(keys("2026-10", "2026-11"))
        async with worker(rotated, registry, llm, queue=queue):
            run = AgentRun.attach(rotated, handle.id)
            assert await run.send("after") == "echo 4"
            await run.end()
            result = await run.result()
            transcript = await run.transcript()
    assert result.status == "completed"
    assert [m.content for m in transcript if m.role == "user"] == ["before", "after"]
    key_ids = [
        p.metadata.get(KEY_ID, b"").decode()
        async for e in handle.fetch_history_events()
        for p in payloads_of(e)
    ]
    rotation = key_ids.index("2026-11")
    assert key_ids[:rotation] and set(key_ids[:rotation]) == {"2026-10"}
    assert set(key_ids[rotation:]) == {"2026-11"}


def payloads_of(event: object) -> list[Payload]:
    """Every payload an event carries (its input, result, update, signal...)."""
    found: list[Payload] = []

    def walk(message: object) -> None:
        for field, value in message.ListFields():  # type: ignore[attr-defined]
            if field.message_type is None:
                continue
            items = value if field.is_repeated else [value]
            for item in items:
                if isinstance(item, Payload):
                    found.append(item)
                elif hasattr(item, "ListFields"):
                    walk(item)

    walk(event)
    return found


# Survivors of `dev.py mutate` on the codec and the store, each a behaviour of its own.
def workflow_context(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


def activity_context(workflow_id: str | None) -> ActivitySerializationContext:
    return ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="tether.tool",
        activity_task_queue="q",
        workflow_id=workflow_id,
        workflow_type="AgentWorkflow" if workflow_id else None,
        is_local=False,
    )


async def test_a_payload_is_sealed_for_its_workflow_and_opens_only_there() -> None:
    codec = EncryptionCodec({"k": KEYS["2026-10"]}, "k")
    [sealed] = await codec.with_context(workflow_context("wf-a")).encode([plain('"a"')])
    assert await codec.with_context(activity_context("wf-a")).decode([sealed])
    with pytest.raises(ValueError, match="wf-a"):
        await codec.with_context(workflow_context("wf-b")).decode([sealed])
    # An activity of no workflow seals for none: any process with the key opens it.
    [free] = await codec.with_context(activity_context(None)).encode([plain('"free"')])
    assert [p.data for p in await codec.decode([free])] == [b'"free"']
    [free] = await codec.with_context(activity_context("")).encode([plain('"free"')])
    assert [p.data for p in await codec.with_context(workflow_context("wf-b")).decode([free])]


async def test_a_lenient_codec_reads_every_payload_of_a_mixed_batch() -> None:
    lenient = EncryptionCodec({"k": KEYS["2026-10"]}, "k", strict=False)
    [sealed] = await lenient.encode([plain('"sealed"')])
    batch = [plain('"old"'), plain('"older"'), sealed]
    assert [p.data for p in await lenient.decode(batch)] == [b'"old"', b'"older"', b'"sealed"']


async def test_the_codec_server_returns_every_payload_it_is_given(tmp_path: Path) -> None:
    storage = ExternalStorage(drivers=[FileStore(tmp_path)])
    batch = [plain('"one"'), plain('"two"'), plain('"three"')]
    assert await resolve_references(storage, batch, namespaces=["default"]) == batch


def test_the_default_threshold_is_the_sdks(tmp_path: Path) -> None:
    sdk = ExternalStorage(drivers=[FileStore(tmp_path)])
    assert sdk.payload_size_threshold == DEFAULT_THRESHOLD

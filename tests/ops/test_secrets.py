"""Secrets stay out of history; payloads can be encrypted end to end (AES-GCM), and the
codec server decrypts them for the web UI."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import threading
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads, SearchAttributes
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.client import (
    Client,
    WorkflowHistory,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.testing import WorkflowEnvironment

from tests.support.approvals import approval
from tests.support.history_reading import task_failed
from tests.support.ledger import CUSTOMER, count_rows
from tests.support.order_desk import REGISTRY, UNATTENDED, order_desk_script
from tests.support.processes import cli, process_env, target, worker_process
from tests.support.waiting import until
from tether import AgentRun, ConfigurationError, LlmSettings
from tether._codec import (
    ENCODING,
    KEY_ID,
    VERSION,
    EncryptionCodec,
    PlaintextPayloadError,
    UnknownKeyError,
)
from tether._temporal import TETHER_CONVERTER, with_codec
from tether.codec_server import make_server
from tether.testing import OFFLINE_MODEL, ScriptedLLM, wait_for_approvals, worker
from tether.workflow import AgentWorkflow

PROMPT = "Order A-1001 arrived broken, I want my money back."
KEY_1, KEY_2 = os.urandom(32), os.urandom(32)


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_and_key_rotation() -> None:
    old = EncryptionCodec({"k1": KEY_1}, "k1")
    sealed = await old.encode([payload('"hello"')])
    assert sealed[0].metadata["encoding"] == ENCODING
    assert sealed[0].metadata["encryption-key-id"] == b"k1"
    assert b"hello" not in sealed[0].data
    # Rotation: the new active key encrypts, the old one still decrypts old payloads.
    rotated = EncryptionCodec({"k1": KEY_1, "k2": KEY_2}, "k2")
    assert (await rotated.decode(sealed))[0].data == b'"hello"'
    fresh = await rotated.encode([payload('"again"')])
    assert fresh[0].metadata["encryption-key-id"] == b"k2"
    with pytest.raises(UnknownKeyError, match="key 'k2', which is not in TETHER_ENCRYPTION_KEYS"):
        await old.decode(fresh)


async def test_a_strict_codec_refuses_plaintext_and_a_lenient_one_reads_it() -> None:
    plain = payload('"not encrypted"')
    with pytest.raises(PlaintextPayloadError, match="not encrypted"):
        await EncryptionCodec({"k1": KEY_1}, "k1").decode([plain])
    assert await EncryptionCodec({"k1": KEY_1}, "k1", strict=False).decode([plain]) == [plain]


@pytest.mark.parametrize(
    ("allow", "strict"), [(None, True), ("0", True), ("1", False), ("true", False)]
)
def test_keys_make_the_codec_strict_unless_plaintext_is_allowed(
    monkeypatch: pytest.MonkeyPatch, allow: str | None, strict: bool
) -> None:
    monkeypatch.setenv("TETHER_ENCRYPTION_KEYS", f"k1={base64.b64encode(KEY_1).decode()}")
    if allow is not None:
        monkeypatch.setenv("TETHER_ENCRYPTION_ALLOW_PLAINTEXT", allow)
    codec = EncryptionCodec.from_env()
    assert codec is not None and codec.strict is strict


async def test_ciphertexts_are_bound_to_their_metadata_and_old_ones_still_open() -> None:
    codec = EncryptionCodec({"k1": KEY_1, "k2": KEY_1}, "k1")
    sealed = (await codec.encode([payload('"pay 10"')]))[0]
    assert sealed.metadata[VERSION] == b"2"
    # The same key under another id, or the version dropped: the tag no longer matches.
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"k2"}, data=sealed.data)
    downgraded = Payload(
        metadata={k: v for k, v in sealed.metadata.items() if k != VERSION}, data=sealed.data
    )
    for forged in (relabelled, downgraded):
        with pytest.raises(ValueError, match="failed authentication"):
            await codec.decode([forged])
    # A payload sealed before the binding (version 1: no version, no associated data).
    nonce = os.urandom(12)
    old = AESGCM(KEY_1).encrypt(nonce, payload('"old"').SerializeToString(), None)
    v1 = Payload(metadata={"encoding": ENCODING, KEY_ID: b"k1"}, data=nonce + old)
    assert (await codec.decode([v1]))[0].data == b'"old"'


async def test_tampering_is_detected() -> None:
    codec = EncryptionCodec({"k1": KEY_1}, "k1")
    sealed = (await codec.encode([payload('"pay 10"')]))[0]
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode([sealed])


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("k1", "comma-separated key-id=base64-key"),
        ("k1=***", "not valid base64"),
        (f"k1={base64.b64encode(b'short').decode()}", "5 bytes; AES needs 16, 24 or 32"),
    ],
)
def test_bad_key_settings_say_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, keys: str, message: str
) -> None:
    monkeypatch.setenv("TETHER_ENCRYPTION_KEYS", keys)
    with pytest.raises(ConfigurationError, match=message):
        EncryptionCodec.from_env()


CODEC_TOKEN = uuid.uuid4().hex


@pytest.fixture
def codec_server() -> Iterator[str]:
    codec = EncryptionCodec({"k1": KEY_1}, "k1")
    server = make_server(
        codec, token=CODEC_TOKEN, ui_origin="http://localhost:8233", allow_encode=True
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def post(url: str, payloads: list[Payload]) -> list[Payload]:
    body = json_format.MessageToJson(Payloads(payloads=payloads)).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "Origin": "http://localhost:8233",
            "Authorization": f"Bearer {CODEC_TOKEN}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
        return list(json_format.Parse(response.read(), Payloads()).payloads)


async def test_history_is_ciphertext_and_the_codec_server_reads_it(
    dev_env: WorkflowEnvironment, codec_server: str
) -> None:
    encrypted = dataclasses.replace(
        TETHER_CONVERTER, payload_codec=EncryptionCodec({"k1": KEY_1}, "k1")
    )
    client = await Client.connect(target(dev_env), data_converter=encrypted)
    with ScriptedLLM(order_desk_script) as llm:
        async with worker(client, UNATTENDED, llm) as w:
            handle = (
                await AgentRun.start(
                    client, "order-desk", PROMPT, id=f"sealed-{uuid.uuid4()}",
                    task_queue=w.task_queue, acting_for=CUSTOMER,
                )
            ).handle  # fmt: skip
            result = await handle.result()
    assert result.status == "completed"  # the encrypting client reads its own results

    history = await dev_env.client.get_workflow_handle(handle.id).fetch_history()
    assert_sealed(history)
    started = history.events[0].workflow_execution_started_event_attributes
    sealed = list(started.input.payloads)
    assert sealed[0].metadata["encoding"] == ENCODING

    decoded = post(f"{codec_server}/decode", sealed)
    assert json.loads(decoded[0].data)["prompt"] == PROMPT
    resealed = post(f"{codec_server}/encode", decoded)
    assert resealed[0].metadata["encoding"] == ENCODING


async def test_worker_and_starter_encrypt_with_the_keys_in_their_environment(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # The path users take: both processes build their client from TETHER_ENCRYPTION_KEYS.
    keys = f"k1={base64.b64encode(KEY_1).decode()}"
    queue = f"sealed-{uuid.uuid4().hex[:8]}"
    env = process_env(target(dev_env), queue, tmp_path / "ledger.db", TETHER_ENCRYPTION_KEYS=keys)
    with worker_process(env, tmp_path / "worker.log"):
        done = cli(env, "run", PROMPT, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "completed"  # the starter read what the worker sealed

    # Read back raw, by a client without the key.
    assert_sealed(await dev_env.client.get_workflow_handle(out["workflow_id"]).fetch_history())


def assert_sealed(history: WorkflowHistory) -> None:
    """Every payload of an order-desk run's history is ciphertext under key k1."""
    sealed = [p for event in history.events for p in payloads_in(event)]
    assert len(sealed) > 10  # input, every model and tool call, the result
    assert {p.metadata["encoding"] for p in sealed} == {ENCODING}
    assert {p.metadata["encryption-key-id"] for p in sealed} == {b"k1"}
    raw = history.to_json()
    for secret in ("A-1001", "ada@example.com", "arrived broken", "refund_id"):
        assert secret not in raw


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every payload of Tether's inside a history event. Not search attributes (plain,
    for the server to index them) nor the SDK's bookkeeping in markers (patch ids,
    local-activity timings); a local activity's result is Tether's."""
    if isinstance(message, SearchAttributes):
        return
    if isinstance(message, MarkerRecordedEventAttributes):
        if "result" in message.details:
            yield from message.details["result"].payloads
        return
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        for inner in _messages(field, value):
            yield from payloads_in(inner)


def _messages(field: FieldDescriptor, value: Any) -> Iterable[Message]:
    """The messages a field holds: itself, a repeated field's items, a map's values."""
    entry = field.message_type
    if entry is None:  # a scalar
        return []
    if entry.GetOptions().map_entry:
        held = entry.fields_by_name["value"].message_type is not None
        return list(value.values()) if held else []
    return list(value) if field.is_repeated else [value]


async def test_the_api_key_never_enters_history(ts_env: WorkflowEnvironment) -> None:
    canary = "sk-tether-canary-" + uuid.uuid4().hex
    with ScriptedLLM(order_desk_script) as llm:
        settings = LlmSettings(
            base_url=llm.base_url, api_key=canary, model=OFFLINE_MODEL, offline=False
        )
        async with worker(ts_env.client, UNATTENDED, settings) as w:
            handle = (
                await AgentRun.start(
                    ts_env.client, "order-desk", PROMPT, id=f"canary-{uuid.uuid4()}",
                    task_queue=w.task_queue, acting_for=CUSTOMER,
                )
            ).handle  # fmt: skip
            await handle.result()
    # The key was really used on every call...
    assert {r.authorization for r in llm.requests} == {f"Bearer {canary}"}
    # ...and appears nowhere in what Temporal stored.
    history = await handle.fetch_history()
    assert canary not in history.to_json()
    assert canary.encode() not in b"".join(e.SerializeToString() for e in history.events)


async def test_a_strict_worker_runs_nothing_a_client_without_the_keys_sends(
    dev_env: WorkflowEnvironment, ledger: Path
) -> None:
    # The review's case: a client without the key started and approved a refund
    # against the encrypted worker. Now neither its start nor its decision is read.
    sealed = with_codec(TETHER_CONVERTER, EncryptionCodec({"k1": KEY_1}, "k1"))
    client = await Client.connect(target(dev_env), data_converter=sealed)
    plain = dev_env.client
    with ScriptedLLM(order_desk_script) as llm:
        async with worker(client, REGISTRY, llm) as w:
            forged = (
                await AgentRun.start(
                    plain, "order-desk", PROMPT, id=f"plain-{uuid.uuid4()}",
                    task_queue=w.task_queue, acting_for=CUSTOMER,
                )
            ).handle  # fmt: skip

            await until(
                lambda: task_failed(forged), "the worker did not refuse the plaintext start"
            )
            assert llm.request_count == 0  # its prompt never reached the model

            run = (
                await AgentRun.start(
                    client, "order-desk", PROMPT, id=f"sealed-{uuid.uuid4()}",
                    task_queue=w.task_queue, acting_for=CUSTOMER,
                )
            ).handle  # fmt: skip
            (call,) = await wait_for_approvals(run)
            plain_run = plain.get_workflow_handle_for(AgentWorkflow.run, run.id)
            # Its update cannot be read: the worker fails the task that holds it, and the
            # update is never accepted (the client gives up waiting).
            with pytest.raises(WorkflowUpdateRPCTimeoutOrCancelledError):
                await plain_run.execute_update(
                    AgentWorkflow.decide, approval(run, call), rpc_timeout=timedelta(seconds=5)
                )
            assert count_rows(ledger, "refunds") == 0
            await forged.terminate("done")
            await run.terminate("done")
    decisions = [
        e
        async for e in run.fetch_history_events()
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert decisions == []

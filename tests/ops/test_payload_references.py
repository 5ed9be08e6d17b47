"""A payload-store reference comes from history, which any client may write to: it is
a name in the store (a SHA-256 digest), never a path. `../`, absolute paths, links,
FIFOs, devices and oversized files are refused without being read, by the worker and
by the codec server, and the refusal says what is wrong."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.converter import ExternalStorage, StorageDriverClaim
from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import task_failed
from tests.support.order_desk import REGISTRY
from tests.support.waiting import until
from tether import AgentRun
from tether._storage import FILE_DRIVER, FileStore
from tether.codec_server import make_server
from tether.testing import ScriptedLLM, say, worker
from tether.worker import data_converter

SECRET = "the worker's secret"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The store's directory, beside a secret file a reference must never reach, and
    holding entries named like payloads that are no regular files."""
    where = tmp_path / "payloads"
    where.mkdir()
    (tmp_path / "secret").write_text(SECRET)
    monkeypatch.setenv("TETHER_PAYLOAD_STORE", str(where))
    yield where


def named(store: Path, make: str) -> str:
    """A digest-named entry of the store that is not a payload: a FIFO, a link, a
    directory or an oversized file."""
    digest = hashlib.sha256(make.encode()).hexdigest()
    path = store / digest
    if make == "fifo":
        os.mkfifo(path)
    elif make == "link":
        path.symlink_to(store.parent / "secret")
    elif make == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"x" * 2048)
    return digest


def claims(store: Path) -> dict[str, str]:
    return {
        "parent": "../secret",
        "absolute": str(store.parent / "secret"),
        "dev-zero": "/dev/zero",
        "fifo": named(store, "fifo"),
        "link": named(store, "link"),
        "directory": named(store, "directory"),
        "oversized": named(store, "oversized"),
    }


def reference(claim: str) -> Payload:
    """What history holds in a stored payload's place, naming `claim`."""
    ref = ExternalStorageReference(driver_name=FILE_DRIVER, claim_data={"sha256": claim})
    return Payload(
        metadata={
            "encoding": b"json/protobuf",
            "messageType": ExternalStorageReference.DESCRIPTOR.full_name.encode(),
        },
        data=json_format.MessageToJson(ref).encode(),
    )


def test_the_file_store_reads_only_regular_files_it_names_and_no_more_than_its_limit(
    store: Path,
) -> None:
    files = FileStore(store, max_bytes=1024)
    refused = {}
    for case, claim in claims(store).items():
        # Before: a FIFO blocked, /dev/zero never ended, `../secret` was read.
        with pytest.raises((ValueError, OSError)) as error:
            files._retrieve([StorageDriverClaim(claim_data={"sha256": claim})])
        refused[case] = str(error.value)
    for case in ("parent", "absolute", "dev-zero"):
        assert refused[case].startswith("refused a payload reference that names no stored"), case
    for case in ("fifo", "link", "directory"):
        assert refused[case].endswith("is not a regular file"), case
    assert refused["oversized"].endswith("is over the store's 1,024 bytes")
    assert not any(SECRET in text for text in refused.values())


def decode_at_codec_server(payloads: list[Payload]) -> tuple[int, bytes]:
    token = uuid.uuid4().hex
    storage = ExternalStorage(drivers=[FileStore(Path(os.environ["TETHER_PAYLOAD_STORE"]), 1024)])
    server = make_server(None, token=token, storage=storage, ui_origin="http://ui")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.server_port}/decode",
        data=json_format.MessageToJson(Payloads(payloads=payloads)).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    finally:
        server.shutdown()
        server.server_close()


def test_the_codec_server_refuses_such_references_in_one_line(store: Path) -> None:
    for case, claim in claims(store).items():
        status, body = decode_at_codec_server([reference(claim)])
        assert status == 400, case
        error = json.loads(body)["error"]
        assert "\n" not in error and SECRET not in error, case


async def test_a_worker_refuses_a_reference_a_client_names_and_serves_on(
    ts_env: WorkflowEnvironment, store: Path
) -> None:
    # The review's case: a client without the store's settings named a path for every
    # worker to open (a FIFO hung the worker, which then ignored SIGTERM).
    client = Client(
        ts_env.client.service_client, namespace="default", data_converter=data_converter()
    )
    fifo = claims(store)["fifo"]
    with ScriptedLLM() as llm:
        async with worker(client, REGISTRY, llm) as w:
            for claim in ("../secret", fifo):
                # A raw start: its input is a payload reference any client may write.
                forged = await ts_env.client.start_workflow(
                    "AgentWorkflow",
                    RawValue(reference(claim)),
                    id=f"forged-{uuid.uuid4().hex[:8]}",
                    task_queue=w.task_queue,
                )

                refused = functools.partial(task_failed, forged)
                await until(refused, f"the worker did not refuse the reference {claim!r}")
                history = await forged.fetch_history()
                failed = next(
                    e.workflow_task_failed_event_attributes.failure.message
                    for e in history.events
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
                )
                assert "names no stored payload" in failed or "not a regular file" in failed
                assert SECRET not in history.to_json()
                await forged.terminate("done")
            # Nothing hung: the same worker still serves a run.
            llm.enqueue(say("Hello."))
            run = await AgentRun.start(
                client, "order-desk", "Hi.", task_queue=w.task_queue, acting_for="C-1"
            )
            answer = await run.result()
    assert answer.status == "completed"

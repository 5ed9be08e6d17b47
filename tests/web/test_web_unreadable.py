"""A run `tether web` cannot read (its input sealed with a key the app lacks) is shown to
nobody, and the pages that list runs still answer: one run of another deployment in the
namespace must not take the inbox down for everyone."""

from __future__ import annotations

import base64
import uuid

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.support.waiting import until
from tests.support.web import USERS, served, signed_in
from tether.web import WebConfig, create_app
from tether.worker import data_converter

KEY = base64.b64encode(bytes(range(32))).decode()


async def test_a_run_sealed_with_another_key_is_listed_for_nobody(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_ENCRYPTION_KEYS", f"elsewhere={KEY}")
    c = dev_env.client
    sealing = Client(c.service_client, namespace=c.namespace, data_converter=data_converter())
    monkeypatch.delenv("TETHER_ENCRYPTION_KEYS")
    run_id = f"sealed-{uuid.uuid4().hex[:8]}"
    # Started on a queue no worker polls: the run only has to exist, with a sealed input.
    handle = await sealing.start_workflow(
        "AgentWorkflow",
        {"agent": "order-desk", "prompt": "a secret", "acting_for": "C-1"},
        id=run_id,
        task_queue=f"nobody-{run_id}",
    )
    try:

        async def listed() -> bool:
            return [r async for r in c.list_workflows(f"WorkflowId = '{run_id}'")] != []

        await until(listed, f"{run_id} never listed")
        app = create_app(WebConfig(users=USERS, signer=None), client=c)
        async with served(app) as base, signed_in(base) as http:
            runs = await http.get("/runs")
            assert runs.status_code == 200 and run_id not in runs.text
            assert (await http.get("/")).status_code == 200
            assert (await http.get(f"/runs/{run_id}")).status_code == 404
    finally:
        await handle.terminate("test over")

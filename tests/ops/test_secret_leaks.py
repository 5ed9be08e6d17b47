"""No plaintext secret or customer data leaves a worker: a provider's 401 that echoes
the API key is redacted from failures and logs, and a tool's exception quoting a
customer reaches neither the model (told only its type) nor, with encryption on,
history or the log in plaintext.

A real `tether worker` process, a real dev server, the history read back raw (the
bytes Temporal stores) and every line the worker logged."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from tests.support.leak_agents import CUSTOMER
from tests.support.processes import process_env, target, tether_worker, wait_for_pollers
from tether import AgentRun
from tether._codec import EncryptionCodec
from tether._temporal import TETHER_CONVERTER, with_codec
from tether.testing import Fail, ScriptedLLM, call_tools, say

API_KEY = "sk-canary-" + uuid.uuid4().hex
KEY = os.urandom(32)


def echoing_401() -> Fail:
    return Fail(401, f"Incorrect API key provided: {API_KEY}.", "invalid_api_key")


async def fail_runs(client: Client, queue: str, llm: ScriptedLLM) -> list[AgentRun]:
    """A run failed by the provider's 401, and one whose tool's exception ran out of
    retries (the model is told the tool is unavailable, and answers)."""
    llm.enqueue(
        echoing_401(),
        call_tools(("crm_lookup", {"email": "the customer's"})),
        say("I could not look that up."),
    )
    runs = [
        await AgentRun.start(client, "plain", "hi", task_queue=queue),
    ]
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(runs[0].result(), 60)
    runs.append(await AgentRun.start(client, "crm", "Who is my customer?", task_queue=queue))
    assert (await asyncio.wait_for(runs[1].result(), 60)).status == "completed"
    return runs


async def stored(env: WorkflowEnvironment, run: AgentRun) -> bytes:
    """The run's history as the server keeps it: protobuf, payloads as they were sent."""
    history = await env.client.get_workflow_handle(run.id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "encrypted"])
async def test_no_secret_or_customer_data_is_left_in_history_or_logs(
    dev_env: WorkflowEnvironment, tmp_path: Path, encrypted: bool
) -> None:
    queue = f"leaks-{uuid.uuid4().hex[:8]}"
    keys = {"TETHER_ENCRYPTION_KEYS": f"k1={base64.b64encode(KEY).decode()}"} if encrypted else {}
    client = dev_env.client
    if encrypted:
        codec = EncryptionCodec({"k1": KEY}, "k1")
        client = await Client.connect(
            target(dev_env), data_converter=with_codec(TETHER_CONVERTER, codec)
        )
    log = tmp_path / "worker.log"
    with ScriptedLLM() as llm:
        env = process_env(
            target(dev_env),
            queue,
            tmp_path / "ledger.db",
            OPENAI_BASE_URL=llm.base_url,
            OPENAI_API_KEY=API_KEY,
            TETHER_MODEL="tether-scripted",
            **keys,
        )
        with tether_worker(env, log, "tests.support.leak_agents:REGISTRY") as worker:
            await wait_for_pollers(dev_env.client, queue, [worker])
            runs = await fail_runs(client, queue, llm)
    # The key reached the provider, and the failures name what went wrong.
    assert llm.requests[0].authorization == f"Bearer {API_KEY}"
    failure = await failure_of(client, runs[0])
    assert "AuthenticationFailed" in failure and API_KEY not in failure
    # The model was told the tool's error type, never the message quoting the customer.
    told = [str(m["content"]) for m in llm.requests[-1].messages if m["role"] == "tool"]
    assert told and "(RuntimeError)" in told[0]
    assert not any(CUSTOMER in str(r.body) for r in llm.requests)
    if encrypted:
        assert CUSTOMER in await tool_failure_of(client, runs[1])  # readable with the key ...
    for run in runs:
        history = await stored(dev_env, run)
        assert API_KEY.encode() not in history
        if encrypted:
            assert CUSTOMER.encode() not in history  # ... and only with it
    logged = log.read_text()
    assert "crm_lookup" in logged  # the worker did log the failures
    assert API_KEY not in logged
    if encrypted:
        assert CUSTOMER not in logged


async def tool_failure_of(client: Client, run: AgentRun) -> str:
    """The message of the run's failed tool attempt, decoded by `client`."""
    async for event in client.get_workflow_handle(run.id).fetch_history_events():
        if event.HasField("activity_task_failed_event_attributes"):
            failure = event.activity_task_failed_event_attributes.failure
            return str(await client.data_converter.decode_failure(failure))
    raise AssertionError(f"run {run.id} had no failed tool attempt")


async def failure_of(client: Client, run: AgentRun) -> str:
    """The run's failure chain, decoded by `client`, as one string."""
    try:
        await client.get_workflow_handle(run.id).result()
    except WorkflowFailureError as e:
        parts = []
        cause: BaseException | None = e
        while cause is not None:
            parts.append(f"{type(cause).__name__}: {cause}")
            cause = cause.__cause__
        return " | ".join(parts)
    raise AssertionError(f"run {run.id} did not fail")

"""Tether's public surface and the seams a deploy crosses: one source for the tool
options, documented public names, the offline model's answer to an agent it has no
script for, and a run that keeps acting on the agent it recorded when the worker's
agent changes (or disappears) under it (on the dev server: a replaced worker's sticky
queue moves to the new one there)."""

from __future__ import annotations

import uuid

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tether import Agent, AgentRegistry, AgentRun, tool
from tether._records import ToolOptionsSpec, ToolSpec
from tether._tool_options import ToolOptions
from tether.testing import (
    SIGNER,
    ScriptedLLM,
    call_tools,
    no_script,
    say,
    wait_for_approvals,
    worker,
)


def test_the_tool_options_are_the_recorded_specs_fields() -> None:
    """Each option is recorded under its name, or in seconds for a duration."""
    recorded = set(ToolOptionsSpec.model_fields)
    for option in ToolOptions.__annotations__:
        assert option in recorded or f"{option}_seconds" in recorded, option
    assert recorded <= set(ToolSpec.model_fields)


def test_importing_tether_loads_only_what_is_used() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tether; print(sorted(m for m in sys.modules if m.startswith('tether')))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "['tether']", done.stderr


async def test_the_offline_model_says_it_has_no_script_for_an_agent() -> None:
    with ScriptedLLM(scripts={"known": lambda _: say("scripted")}, unscripted=no_script) as llm:
        client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="x", max_retries=0)
        asked: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
        unknown = await client.chat.completions.create(
            model="m",
            messages=asked,
            extra_headers={"X-Tether-Agent": "issue-triage"},
        )
        known = await client.chat.completions.create(
            model="m",
            messages=asked,
            extra_headers={"X-Tether-Agent": "known"},
        )
    text = unknown.choices[0].message.content or ""
    assert "no offline script for agent 'issue-triage'" in text
    assert known.choices[0].message.content == "scripted"
    assert [r.agent for r in llm.requests] == ["issue-triage", "known"]


def lookup_v1(ref: str) -> str:
    """Look a record up by its reference."""
    return f"record {ref}"


def lookup_v2(key: int, verbose: bool) -> str:
    """Find a record by its numeric key (version 2)."""
    return f"record {key}"


def approve_first(note: str) -> str:
    """Note something once a person approved it."""
    return f"noted: {note}"


def agent_with(lookup: object, *, limit: int) -> Agent:
    return Agent(
        name="deployed",
        instructions="Look records up.",
        tools=[tool(name="lookup")(lookup), tool(needs_approval=True)(approve_first)],  # type: ignore[arg-type]
        max_tool_result_bytes=limit,
    )


async def test_a_run_keeps_the_agent_it_recorded_across_a_deploy(
    dev_env: WorkflowEnvironment,
) -> None:
    """The run starts on a worker with agent v1 and pauses for approval; the worker is
    replaced by one with v2 (other tool schema, description and limits): the run's next
    model call still shows the model v1's tools, while a new run gets v2's."""
    queue = f"deploy-{uuid.uuid4().hex[:8]}"
    v1, v2 = agent_with(lookup_v1, limit=4096), agent_with(lookup_v2, limit=8)
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("approve_first", {"note": "a long note to be cut"})))
        async with worker(dev_env.client, AgentRegistry([v1]), llm, queue=queue):
            run = await AgentRun.start(dev_env.client, "deployed", "go", task_queue=queue)
            [call] = await run.wait_for_approval()
        llm.enqueue(say("done"), say("new run"))
        async with worker(dev_env.client, AgentRegistry([v2]), llm, queue=queue):
            await run.approve(call, signer=SIGNER)
            assert (await run.result()).status == "completed"
            fresh = await AgentRun.start(dev_env.client, "deployed", "again", task_queue=queue)
            await fresh.result()
    first, after_deploy, new_run = (r.body["tools"] for r in llm.requests)
    assert after_deploy == first
    assert first[0]["function"]["description"] == "Look a record up by its reference."
    assert list(first[0]["function"]["parameters"]["properties"]) == ["ref"]
    assert list(new_run[0]["function"]["parameters"]["properties"]) == ["key", "verbose"]
    # The tool result was cut to the recorded limit (4 KiB), not v2's 8 bytes.
    tool_result = next(m for m in llm.requests[1].messages if m["role"] == "tool")
    assert tool_result["content"] == "noted: a long note to be cut"


async def test_a_worker_that_no_longer_serves_the_agent_fails_the_run_at_once(
    dev_env: WorkflowEnvironment,
) -> None:
    queue = f"gone-{uuid.uuid4().hex[:8]}"
    agent = agent_with(lookup_v1, limit=4096)
    other = Agent(name="other", instructions="Something else.")
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("approve_first", {"note": "x"})))
        async with worker(dev_env.client, AgentRegistry([agent]), llm, queue=queue):
            run = await AgentRun.start(dev_env.client, "deployed", "go", task_queue=queue)
            [call] = await run.wait_for_approval()
        async with worker(dev_env.client, AgentRegistry([other]), llm, queue=queue):
            await run.approve(call, signer=SIGNER)
            with pytest.raises(WorkflowFailureError) as failed:
                await run.result()
    cause: BaseException = failed.value
    while cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError) and cause.type == "UnknownAgent"
    assert cause.message == "no agent 'deployed' here (this worker serves: other)"
    # The tool call failed on its first attempt: no retries on a worker that cannot help.
    history = [e async for e in run.handle.fetch_history_events()]
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    failed_calls = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
    # The model call (which records the agent's spec), then the tool's.
    assert attempts == [1, 1] and len(failed_calls) == 1


async def test_waiting_for_an_approval_ends_at_its_bound_when_no_worker_answers(
    dev_env: WorkflowEnvironment,
) -> None:
    """The bound covers the whole wait, also a `state` query that no worker answers."""
    queue = f"unserved-{uuid.uuid4().hex[:8]}"  # nobody polls it
    run = await AgentRun.start(dev_env.client, "deployed", "go", task_queue=queue)
    # Not the query's own RPC timeout (an RPCError), whenever that comes.
    with pytest.raises(TimeoutError, match=f"no call of run {run.id} waited for approval in 2 s"):
        await run.wait_for_approval(within=2)
    await run.handle.terminate("the test is over")


async def test_waiting_for_approvals_says_in_one_line_that_none_came(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    """A test that waits for a call nobody asks about fails at its bound, saying which run
    and how long, not after the whole test's timeout with a bare TimeoutError."""
    llm.enqueue(say("Hello."))
    async with worker(ts_env.client, AgentRegistry([Agent("greeter", "Greet.")]), llm) as w:
        run = await AgentRun.start(
            ts_env.client, "greeter", "hi", task_queue=w.task_queue, chat=True
        )
        with pytest.raises(TimeoutError) as raised:
            await wait_for_approvals(run, within=0.5, interval=0.1)
        # The chat answered and waits for its user: for a person, never.
        assert (await run.state()).status == "awaiting_user"
        await run.end()
        assert (await run.result()).status == "completed"
    assert str(raised.value) == (f"run {run.id} had 0 of 1 calls waiting for approval after 0.5 s")

"""A long chat whose state outgrows Temporal's payload limit: 300 messages, tool results
of 300 KB, without a context policy, on a real dev server (the time-skipping server
enforces no payload limit). The probe's chat wedged at its continue-as-new (2,163,663 B
against 2,097,152), and its transcript (3.4 MB) was more than a query may answer."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from temporalio.testing import WorkflowEnvironment

from tests.support.processes import cli_in_background, process_env, target
from tether import Agent, AgentRegistry, AgentRun, Budgets, Message, tool
from tether.testing import ScriptedLLM, Step, call_tools, say, worker

SENDS = 75  # with the prompt, 76 user messages: 1 + 76 * 4 = 305 messages
BIG = 300_000
# Two model calls a message: after the 70th at the latest (the server may suggest it first).
CALLS_BEFORE_CONTINUING = 140


@tool(max_result_bytes=BIG + 1_000)
def fetch(n: int) -> str:
    """Fetch document n."""
    return "x" * BIG if n % 8 == 0 else f"document {n}"


AGENT = Agent(
    name="archivist",
    instructions="Fetch what is asked.",
    tools=[fetch],
    continue_as_new_turns=CALLS_BEFORE_CONTINUING,
    # The scripted model counts each big result at every call: far past the default.
    budgets=Budgets(max_total_tokens=10**12),
)


def script(messages: list[dict[str, Any]]) -> Step:
    """Fetch document N for "message N", then say it is noted."""
    asked = int(next(m for m in reversed(messages) if m["role"] == "user")["content"].split()[1])
    if messages[-1]["role"] == "user":
        return call_tools(("fetch", {"n": asked}))
    return say(f"noted {asked}")


async def test_a_chat_over_the_payload_limit_goes_on_and_keeps_its_transcript(
    dev_env: WorkflowEnvironment, tmp_path: Any
) -> None:
    client = dev_env.client
    with ScriptedLLM(script) as llm:
        async with worker(client, AgentRegistry([AGENT]), llm) as w:
            run = await AgentRun.start(
                client,
                "archivist",
                "message 0",
                task_queue=w.task_queue,
                chat=True,
                id=f"archivist-{uuid.uuid4().hex[:8]}",
            )
            for i in range(1, SENDS + 1):
                reply = await asyncio.wait_for(run.send(f"message {i}"), 60)
                assert reply == f"noted {i}"
            state = await run.state()
            transcript = await asyncio.wait_for(run.transcript(), 60)
            shown = await cli_in_background(
                process_env(target(dev_env), w.task_queue, tmp_path / "ledger.db"),
                "transcript",
                run.id,
                "--json",
            )
    # It continued-as-new once, carrying what fits, and went on answering.
    assert state.runs == 2 and state.status == "awaiting_user"
    assert len(state.earlier_runs) == 1
    # The model was told what it no longer sees.
    after = llm.requests[-1].messages
    assert any("earlier messages are not shown here" in str(m["content"]) for m in after)
    # The transcript is whole: every message, the big results in full, in order.
    users = [m.content for m in transcript if m.role == "user"]
    assert users == [f"message {i}" for i in range(SENDS + 1)]
    assert len(transcript) == 1 + (SENDS + 1) * 4
    big = [m for m in transcript if m.role == "tool" and len(m.content or "") >= BIG]
    assert len(big) == len([i for i in range(SENDS + 1) if i % 8 == 0])
    # More than one query may answer (2 MiB).
    assert sum(len(m.model_dump_json()) for m in transcript) > 2.5 * 1024 * 1024
    # The CLI prints the same messages.
    assert shown.returncode == 0, shown.stderr
    printed = [Message.model_validate(m) for m in json.loads(shown.stdout)]
    assert printed == transcript

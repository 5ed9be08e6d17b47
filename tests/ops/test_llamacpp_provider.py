"""Tether against a real non-OpenAI server: llama.cpp's, serving SmolLM2-135M.

The model is tiny and unreliable (it rarely makes a correct tool call and rambles), so
these tests assert what must hold whatever it says: runs end with a defined status,
usage comes from the server, every reply becomes a Message, every tool call gets a
result, the JSON-schema response format constrains the answer, and llama.cpp's errors
are classified.
"""

from __future__ import annotations

import json
import select
import shlex
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import model_replies
from tests.support.processes import free_port
from tether import (
    Agent,
    AgentRegistry,
    AgentResult,
    AgentRun,
    Budgets,
    LlmPolicy,
    LlmSettings,
    Message,
    tool,
)
from tether._llamacpp import CONTEXT_TOKENS
from tether.testing import MODEL_ALIAS, llama_server, worker
from tether.workflow import AgentWorkflow, LlmReply

REPLY_CAP = 48  # tokens per reply: keeps a rambling 135M model to ~1 s a call


@tool
def lookup_order(order_id: str) -> str:
    """Look up where an order is, by its id (like A-1003)."""
    return f"order {order_id} has shipped and arrives tomorrow"


class Ticket(BaseModel):
    category: Literal["refund", "shipping", "other"]
    summary: str = Field(max_length=40)  # bounded, so the reply cannot be cut off mid-JSON


CHAT = Agent(
    name="llama-chat",
    instructions="You answer questions about orders. Call lookup_order to find an order.",
    tools=[lookup_order],
    budgets=Budgets(max_turns=3),
    llm=LlmPolicy(max_tokens=REPLY_CAP),
)
STORY = Agent(
    name="llama-story", instructions="You are a storyteller.", llm=LlmPolicy(max_tokens=16)
)
TRIAGE = Agent(
    name="llama-triage",
    instructions="Classify the support ticket and summarise it in a few words.",
    output_type=Ticket,
)
RESPONSES = Agent(
    name="llama-responses",
    instructions="You are a storyteller.",
    llm=LlmPolicy(api="responses", max_tokens=16),
)
AGENTS = AgentRegistry([CHAT, STORY, TRIAGE, RESPONSES])


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmSettings]:
    """Settings for Tether's worker, pointing at a running llama.cpp server."""
    log = tmp_path_factory.mktemp("llamacpp") / "server.log"
    with llama_server(log) as url:
        # llama.cpp checks no key; the openai client insists on one.
        yield LlmSettings(base_url=f"{url}/v1", api_key="unused", model=MODEL_ALIAS, offline=False)


async def run(
    env: WorkflowEnvironment, llama: LlmSettings, agent: str, prompt: str
) -> tuple[AgentResult, list[Message], list[LlmReply]]:
    async with worker(env.client, AGENTS, llama) as w:
        run = await AgentRun.start(
            env.client, agent, prompt, id=f"llama-{uuid.uuid4()}", task_queue=w.task_queue
        )
        handle = run.handle
        result = await handle.result()
        return result, await handle.query(AgentWorkflow.transcript), await model_replies(handle)


async def test_an_agent_run_ends_whatever_the_model_says(
    ts_env: WorkflowEnvironment, llama: LlmSettings
) -> None:
    result, transcript, calls = await run(ts_env, llama, "llama-chat", "Where is my order A-1003?")

    # SmolLM2's chat template has no tools: llama.cpp drops them, the worker finds out,
    # and the run does not claim to have completed.
    assert result.status == "tools_dropped" and result.tools_dropped
    assert result.model == MODEL_ALIAS
    replies = [m for m in transcript if m.role == "assistant"]
    assert len(replies) == result.turns == len(calls)
    assert all(m.content or m.tool_calls for m in replies)
    # Usage is what llama.cpp counted, call by call, within the cap.
    assert all(c.usage.prompt_tokens > 0 for c in calls)
    assert all(0 < c.usage.completion_tokens <= REPLY_CAP for c in calls)
    assert result.usage.total_tokens == sum(c.usage.total_tokens for c in calls)
    # Each call the model made, however malformed, was answered (maybe with an error).
    answered = {m.tool_call_id: m.content for m in transcript if m.role == "tool"}
    for call in (c for m in replies for c in m.tool_calls):
        assert answered.get(call.id), f"no result for {call}"


async def test_max_tokens_caps_each_reply(ts_env: WorkflowEnvironment, llama: LlmSettings) -> None:
    result, transcript, calls = await run(
        ts_env, llama, "llama-story", "Tell me a long story about a dragon."
    )
    assert result.status == "completed"
    assert [c.usage.completion_tokens for c in calls] == [16]
    # Cut at the cap, and said so.
    assert [c.finish_reason for c in calls] == ["length"]
    assert result.truncated and transcript[-1].truncated


async def test_the_responses_api_streams_a_capped_reply(
    ts_env: WorkflowEnvironment, llama: LlmSettings
) -> None:
    result, transcript, calls = await run(
        ts_env, llama, "llama-responses", "Tell me a long story about a dragon."
    )
    assert result.status == "completed" and result.answer == transcript[-1].content
    assert [c.usage.completion_tokens for c in calls] == [16]
    # llama.cpp calls the response `completed`: a reply that used its whole cap was cut.
    assert [c.finish_reason for c in calls] == ["length"] and result.truncated


async def test_json_schema_response_format_constrains_the_answer(
    ts_env: WorkflowEnvironment, llama: LlmSettings
) -> None:
    result, _, _ = await run(
        ts_env, llama, "llama-triage", "Order A-1001 arrived broken, refund me."
    )

    assert result.status == "completed"
    assert result.turns == 1  # valid the first time: decoding followed the schema
    assert result.output is not None
    assert Ticket.model_validate(result.output) == Ticket.model_validate_json(result.answer or "")


async def test_a_prompt_longer_than_the_context_fails_at_once(
    ts_env: WorkflowEnvironment, llama: LlmSettings
) -> None:
    too_long = "word " * (CONTEXT_TOKENS + 500)
    with pytest.raises(WorkflowFailureError) as failure:
        await run(ts_env, llama, "llama-story", too_long)

    error = failure.value.cause
    assert isinstance(error, ApplicationError)
    assert error.type == "ContextLengthExceeded"
    assert "exceeds the available context size" in error.message
    # Not retried: the activity's first failure was final.
    activity_error = error.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.retry_state == RetryState.NON_RETRYABLE_FAILURE


def test_the_docs_command_serves_the_bundled_model(tmp_path: Path) -> None:
    """The command of docs/guides/providers.md (on a free port instead of 8080), as a
    person runs it: it serves the bundled model under the name its worker line asks for."""
    page = (Path(__file__).resolve().parents[2] / "docs/guides/providers.md").read_text()
    [serve] = [ln for ln in page.splitlines() if ln.startswith("tether model serve")]
    [use] = [
        ln for ln in page.splitlines() if ln.startswith("OPENAI_BASE_URL=http://127.0.0.1:8080")
    ]
    assert f"TETHER_MODEL={MODEL_ALIAS} " in use
    command = shlex.split(serve, comments=True)
    port = free_port()
    command[0] = str(Path(sys.executable).parent / "tether")
    command[command.index("8080")] = str(port)
    command += ["--log", str(tmp_path / "server.log")]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, (tmp_path / "server.log").read_text()[-2000:]
        line = proc.stdout.readline().decode()
        assert line.startswith(f"serving {MODEL_ALIAS} at http://127.0.0.1:{port}/v1 ")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30) as r:
            served = [m["id"] for m in json.load(r)["data"]]
        assert MODEL_ALIAS in served
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=30)
    assert proc.returncode == 0

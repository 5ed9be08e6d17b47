"""Runs say when their answer is less than it looks: a reply cut at its length limit is
marked (and the agent's policy keeps it, continues it or fails the run), and a model
server that drops the agent's tools is found out and the run does not end `completed`.
Each is checked where a person or a program looks: the result, the events, the
transcript and `tether status`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.processes import model_env, process_env, target, tether_worker
from tests.support.waiting import until
from tether import Agent, AgentRegistry, AgentResult, AgentRun, LlmPolicy, Message, tool
from tether._cli.views import look_at, status_text
from tether._workflows.outcomes import continue_request
from tether.events import Reply, RunEnded, RunEvent
from tether.testing import Cut, ScriptedLLM, say, worker

WITHIN = 60.0


@tool
def lookup_order(order_id: str) -> str:
    """Where an order is."""
    return f"{order_id} has shipped"


STORY = Agent(name="story", instructions="Tell stories.")
STRICT = Agent(name="strict", instructions="Tell stories.", llm=LlmPolicy(on_truncated="fail"))
GOES_ON = Agent(
    name="goes-on", instructions="Tell stories.", llm=LlmPolicy(on_truncated="continue")
)
ORDERS = Agent(name="orders", instructions="Look orders up.", tools=[lookup_order])
AGENTS = AgentRegistry([STORY, STRICT, GOES_ON, ORDERS])


class Seen:
    """A run as a person or a program sees it once it has ended."""

    def __init__(
        self, result: AgentResult, events: list[RunEvent], transcript: list[Message], status: str
    ) -> None:
        self.result, self.events, self.transcript, self.status = result, events, transcript, status

    @property
    def replies(self) -> list[Reply]:
        return [e for e in self.events if isinstance(e, Reply)]

    @property
    def ended(self) -> RunEnded:
        [ended] = [e for e in self.events if isinstance(e, RunEnded)]
        return ended


async def seen(env: WorkflowEnvironment, llm: ScriptedLLM, agent: str) -> Seen:
    async with worker(env.client, AGENTS, llm) as w:
        run = await AgentRun.start(
            env.client, agent, "Where is A-1003?", task_queue=w.task_queue, watch=True
        )
        events: list[RunEvent] = []
        async with asyncio.timeout(WITHIN):
            async for event in run.events():
                events.append(event)
        result = await run.result()
        status = status_text(run.id, await look_at(env.client, run.handle))
        return Seen(result, events, await run.transcript(), status)


async def test_a_cut_reply_is_kept_and_marked_everywhere(dev_env: WorkflowEnvironment) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(Cut("Once upon a"))
        run = await seen(dev_env, llm, "story")
    assert (run.result.status, run.result.answer) == ("completed", "Once upon a")
    assert run.result.truncated
    assert [r.truncated for r in run.replies] == [True]
    assert run.transcript[-1].truncated
    assert "truncated: a reply was cut" in run.status


async def test_a_cut_reply_fails_the_run_when_the_policy_says_so(
    dev_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(Cut("Once upon a"))
        run = await seen(dev_env, llm, "strict")
    assert run.result.status == "truncated"
    assert run.ended.status == "truncated"
    assert run.status.splitlines()[0].endswith("· truncated")


async def test_a_cut_reply_is_continued_and_joined(dev_env: WorkflowEnvironment) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(Cut("Once upon "), Cut("a time "), say("there was a lamp."))
        run = await seen(dev_env, llm, "goes-on")
    assert run.result.status == "completed" and not run.result.truncated
    assert run.result.answer == "Once upon a time there was a lamp."
    assert [r.truncated for r in run.replies] == [True, True, False]
    # The model was asked to go on, each time after its cut reply.
    last = llm.requests[-1].messages
    assert [m["content"] for m in last[-4:] if m["role"] == "user"] == [
        continue_request().content
    ] * 2


async def test_continuations_are_bounded_and_then_the_cut_reply_is_kept(
    dev_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(Cut("a "), Cut("b "), Cut("c"))  # max_continuations is 2
        run = await seen(dev_env, llm, "goes-on")
    assert (run.result.status, run.result.answer, run.result.truncated) == (
        "completed",
        "a b c",
        True,
    )
    assert llm.request_count == 3


async def test_a_server_that_drops_tools_does_not_complete_the_run(
    dev_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(drops_tools=True) as llm:
        llm.enqueue(say("A-1003 is on its way, I think."))
        run = await seen(dev_env, llm, "orders")
    assert run.result.status == "tools_dropped" and run.result.tools_dropped
    assert run.result.answer == "A-1003 is on its way, I think."
    assert [r.tools_dropped for r in run.replies] == [True]
    assert run.ended.status == "tools_dropped"
    assert "tools dropped: the model server left the agent's tools out" in run.status
    assert len(llm.probes) == 1  # asked at the first reply that called no tool


async def test_a_server_that_passes_tools_is_asked_once_and_trusted(
    dev_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(say("I need an order id."))
        first = await seen(dev_env, llm, "orders")
    assert first.result.status == "completed" and not first.result.tools_dropped
    assert len(llm.probes) == 1


async def test_the_worker_reports_a_server_that_drops_tools_as_it_starts(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with ScriptedLLM(drops_tools=True) as llm:
        env = process_env(target(dev_env), "drops-tools", tmp_path / "ledger.db", **model_env(llm))

        async def reported() -> bool:
            return "the model server drops tools" in log.read_text()

        with tether_worker(env, log, "tests.engine.test_truthful_outcomes:AGENTS"):
            await until(reported, "the worker never reported the dropped tools", within=WITHIN)
        assert len(llm.probes) == 1 and llm.request_count == 0  # no run asked
    [line] = [ln for ln in log.read_text().splitlines() if "drops tools" in ln]
    assert '"model": "tether-scripted"' in line

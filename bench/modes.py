"""How the benchmark runs one agent run in each mode: plain asyncio, the floor
workflow (with or without Tether's extras), or Tether itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.client import Client

from bench.agents import BENCH, BENCH_BOTH, BENCH_FAST_TOOL, BENCH_LOCAL_LLM, prompt
from bench.calls import complete, model_client, run_tool
from bench.floor_workflow import FloorInput, FloorOptions, FloorWorkflow
from bench.loop import Message, agent_loop, answer
from tether import AgentResult
from tether._run_io import INPUT_GENERATION, AgentInput
from tether.workflow import AgentWorkflow

TOOLS = [t.name for t in BENCH.tools]


@dataclass(frozen=True)
class Mode:
    """One way of running the bench agent.

    Attributes:
        name: As it appears in the report.
        kind: `plain` (no durability), `floor` (FloorWorkflow) or `tether`.
        agent: The Tether agent to run (`tether` only).
        options: The floor's extras (`floor` only).
        worker: The worker process (`bench.worker` KIND) that runs it; none for plain.
    """

    name: str
    kind: str
    agent: str = BENCH.name
    options: FloorOptions = field(default_factory=FloorOptions)
    worker: str = ""

    @property
    def process(self) -> str | None:
        return None if self.kind == "plain" else self.worker or self.kind


PLAIN = Mode("plain asyncio", "plain")
FLOOR = Mode("floor", "floor")  # one regular activity per model call and per tool call
TETHER = Mode("tether", "tether")  # the default configuration
MAIN_MODES = [PLAIN, FLOOR, TETHER]


def _floor(name: str, **extras: object) -> Mode:
    return Mode(name, "floor", options=FloorOptions(**extras))  # type: ignore[arg-type]


LOCAL_LLM = Mode("tether, LLM as local activity", "tether", agent=BENCH_LOCAL_LLM.name)
# Levers: Tether's extras priced one at a time on the floor, Tether's own opt-ins.
VARIANTS = [
    _floor("floor + spec local activity", spec=True),
    _floor("floor + summaries", summaries=True),
    _floor("floor + current details", details=True),
    _floor("floor + search-attribute upserts", upserts=True),
    _floor("floor + tool as local activity", local_tools=TOOLS),
    _floor("floor + LLM as local activity", local_llm=True),
    Mode("floor without the workflow sandbox", "floor", worker="floor-unsandboxed"),
    Mode("tether, no search attributes", "tether", worker="tether-nosearch"),
    Mode("tether, tool `fast`", "tether", agent=BENCH_FAST_TOOL.name),
    LOCAL_LLM,
    Mode("tether, both", "tether", agent=BENCH_BOTH.name),
]


class Runner:
    """Runs one agent run in a mode; returns whether it completed as scripted.

    Args:
        client: Temporal client of the durable modes.
        llm_url: The scripted model server (the plain mode's client talks to it).
        queues: Task queue per worker process kind.
    """

    def __init__(self, client: Client, llm_url: str, queues: dict[str, str]) -> None:
        self.client = client
        self.queues = queues
        # One client for all plain runs, as a worker has one for all its activities.
        self._model = model_client(llm_url)

    async def close(self) -> None:
        await self._model.close()

    async def run(self, mode: Mode, turns: int, run_id: str, latency_ms: int = 0) -> bool:
        """One run; the model answers each call after `latency_ms`."""
        text = prompt(turns, latency_ms)
        if mode.kind == "plain":
            return answer(await self._loop(text, turns)).startswith("done")
        if mode.kind == "floor":
            reply = await self.client.execute_workflow(
                FloorWorkflow.run,
                FloorInput(BENCH.name, BENCH.instructions, text, turns, mode.options),
                id=run_id,
                task_queue=self.queues[mode.worker or mode.kind],
            )
            return reply.startswith("done")
        result: AgentResult = await self.client.execute_workflow(
            AgentWorkflow.run,
            AgentInput(agent=mode.agent, prompt=text, max_turns=turns, generation=INPUT_GENERATION),
            id=run_id,
            task_queue=self.queues[mode.worker or mode.kind],
        )
        return result.status == "completed" and (result.answer or "").startswith("done")

    async def conversation(self, turns: int) -> list[Message]:
        """One plain run's whole conversation (to size the messages each turn adds)."""
        return await self._loop(prompt(turns), turns)

    async def _loop(self, text: str, turns: int) -> list[Message]:
        async def call_llm(messages: list[Message], turn: int) -> Message:
            return await complete(self._model, BENCH, messages)

        async def call_tool(call: Message, turn: int) -> str:
            function = call["function"]
            key = f"plain:{turn}:{call['id']}"
            return await run_tool(BENCH, function["name"], function["arguments"], key)

        return await agent_loop(BENCH.instructions, text, turns, call_llm, call_tool)

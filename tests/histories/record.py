"""Record the histories the replay gate checks: representative runs, one JSON file each.

    .venv/bin/python -m tests.histories.record

Refresh them on purpose only: after a workflow change that is guarded by
`workflow.patched` (old histories must still replay, so keep the old files and add new
ones), or when the change is deliberately incompatible and no old runs are in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agents.support_script import support_desk_responder
from tests.conftest import UNATTENDED, binary, running_worker
from tests.llm_agents import TRIAGE, WITH_FALLBACK
from tether.agents import AgentRegistry
from tether.scripted_llm import Fail, ScriptedLLM, call_tools, say
from tether.seam import AgentInput
from tether.temporal import TETHER_CONVERTER
from workflows.agent import AgentWorkflow

HERE = Path(__file__).parent
# Runs that must end without a person: the support desk's refunds need no approval here.
AGENTS = AgentRegistry([UNATTENDED.get("support-desk"), TRIAGE, WITH_FALLBACK])


def multi_tool(llm: ScriptedLLM) -> AgentInput:
    llm.responder = support_desk_responder
    return AgentInput(agent="support-desk", prompt="Order A-1001 arrived broken, refund it.")


def parallel_and_bad_calls(llm: ScriptedLLM) -> AgentInput:
    llm.enqueue(
        call_tools(
            ("lookup_order", {"order_id": "A-1003"}),
            ("get_refund_policy", {}),
            ("cancel_order", {"order_id": "A-1003"}),
            ("lookup_order", "{not json"),
        ),
        say("Your lamp has shipped."),
    )
    return AgentInput(agent="support-desk", prompt="Where is A-1003? Cancel it.")


def structured_output_repaired(llm: ScriptedLLM) -> AgentInput:
    llm.enqueue(say('{"category": "complaint"}'), say('{"category": "refund", "order_id": "A-1"}'))
    return AgentInput(agent="triage", prompt="A-1 is broken")


def fallback_after_errors(llm: ScriptedLLM) -> AgentInput:
    llm.enqueue(*[Fail(503)] * 5, say("The backup answered."))
    return AgentInput(agent="with-fallback", prompt="hello")


def max_turns(llm: ScriptedLLM) -> AgentInput:
    llm.responder = lambda _: call_tools(("get_refund_policy", {}))
    return AgentInput(agent="support-desk", prompt="loop", max_turns=2)


SCENARIOS: dict[str, Callable[[ScriptedLLM], AgentInput]] = {
    "multi-tool": multi_tool,
    "parallel-and-bad-calls": parallel_and_bad_calls,
    "structured-output-repaired": structured_output_repaired,
    "fallback-after-errors": fallback_after_errors,
    "max-turns": max_turns,
}


async def record(client: Client, name: str, scenario: Callable[[ScriptedLLM], AgentInput]) -> None:
    with ScriptedLLM() as llm:
        params = scenario(llm)
        async with running_worker(client, llm, agents=AGENTS) as worker:
            handle = await client.start_workflow(
                AgentWorkflow.run, params, id=name, task_queue=worker.task_queue
            )
            await handle.result()
            history = await handle.fetch_history()
    path = HERE / f"{name}.json"
    path.write_text(json.dumps(history.to_json_dict(), indent=1) + "\n")
    print(f"recorded {path.relative_to(HERE.parent.parent)} ({len(history.events)} events)")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TETHER_SHOP_DB"] = str(Path(tmp) / "shop.db")
        async with await WorkflowEnvironment.start_time_skipping(
            data_converter=TETHER_CONVERTER,
            test_server_existing_path=binary("temporal-test-server"),
        ) as env:
            for name, scenario in SCENARIOS.items():
                await record(env.client, name, scenario)


if __name__ == "__main__":
    asyncio.run(main())

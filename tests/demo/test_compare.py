"""The agent-or-pipeline comparison at its CI size: six tickets, one of each outcome,
through both paths on the offline scripted model; its numbers checked against what the
scripted server itself recorded."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.compare import compare, markdown, summarise
from bench.run import machine
from bench.tickets import TICKETS
from support_desk.agents import SUPPORT_DESK
from support_desk.pipeline_agents import TRIAGE, WRITER
from support_desk.scripts import SCRIPTS
from tether import LlmSettings
from tether.testing import OFFLINE_MODEL, ScriptedLLM

PATH_OF = {
    SUPPORT_DESK.instructions: "agent",
    TRIAGE.instructions: "pipeline",
    WRITER.instructions: "pipeline",
}


async def test_both_paths_reach_every_expected_outcome_and_count_what_they_used(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    tickets = TICKETS[:6]
    assert {t.expect for t in tickets} == {"refunded", "refused", "rejected", "missing_order"}
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        settings = LlmSettings(
            base_url=llm.base_url, api_key="sk-test", model=OFFLINE_MODEL, offline=False
        )
        runs = await compare(dev_env.client, settings, tickets, tmp_path)

    agent, pipeline = summarise(runs)
    assert [r.got for r in runs if r.path == "pipeline"] == [t.expect for t in tickets]
    assert {r.got for r in runs if r.path == "agent"} == {"completed"}
    assert (agent.correct, pipeline.correct) == (6, 6), (agent.wrong, pipeline.wrong)

    # What the harness reports is what the model server saw, path by path.
    calls: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for request in llm.requests:
        path = PATH_OF[request.messages[0]["content"]]
        calls[path] += 1
        tokens[path] += request.total_tokens
    assert (agent.llm_calls, pipeline.llm_calls) == (calls["agent"], calls["pipeline"])
    assert (agent.tokens, pipeline.tokens) == (tokens["agent"], tokens["pipeline"])
    assert pipeline.llm_calls == 2 * len(tickets)  # read the ticket, write the reply
    # The agent asks before each refund it tries (four tickets name a delivered order
    # and want a refund); the pipeline only above $100, after its policy said yes.
    assert (agent.approvals, pipeline.approvals) == (4, 2)

    table = markdown([agent, pipeline], OFFLINE_MODEL, machine())
    assert "| agent | 6/6 |" in table and "| pipeline | 6/6 |" in table

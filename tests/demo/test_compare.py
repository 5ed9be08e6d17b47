"""The agent-or-pipeline comparison at its CI size: `tether eval` on six tickets, one of
each outcome, through both targets on the offline scripted model, each on a `tether
worker` and shop of its own; its report checked against what the scripted server
itself recorded."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.compare import compare
from bench.tickets import dataset
from support_desk.agents import SUPPORT_DESK
from support_desk.pipeline_agents import TRIAGE, WRITER
from support_desk.scripts import SCRIPTS
from tests.support.processes import model_env, target
from tether.testing import ScriptedLLM

AGENT, PIPELINE = "support-desk", "RefundPipelineWorkflow"
PATH_OF = {
    SUPPORT_DESK.instructions: AGENT,
    TRIAGE.instructions: PIPELINE,
    WRITER.instructions: PIPELINE,
}


async def test_both_targets_reach_every_expected_outcome_and_count_what_they_used(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    cases = dataset(6)["cases"]
    assert {c["expected_output"]["outcome"] for c in cases} == {
        "refunded", "refused", "rejected", "missing_order"
    }  # fmt: skip
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        done = compare(target(dev_env), model_env(llm), tmp_path, tickets=6, eval_args=["--json"])
    assert done.returncode == 0
    report = json.loads(done.stdout)
    agent, pipeline = report["targets"]
    assert (agent["target"], pipeline["target"]) == (AGENT, PIPELINE)
    assert (agent["correct"], pipeline["correct"]) == (6, 6), report["verdict"]
    outcomes = [r["facts"]["status"] for r in report["results"] if r["target"] == PIPELINE]
    assert outcomes == [c["expected_output"]["outcome"] for c in cases]
    assert {r["facts"]["status"] for r in report["results"] if r["target"] == AGENT} == {
        "completed"
    }

    # What the report says each target used is what the model server saw, target by target.
    calls: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for request in llm.requests:
        path = PATH_OF[request.messages[0]["content"]]
        calls[path] += 1
        tokens[path] += request.total_tokens
    assert (agent["llm_calls"], pipeline["llm_calls"]) == (calls[AGENT], calls[PIPELINE])
    assert (agent["tokens"], pipeline["tokens"]) == (tokens[AGENT], tokens[PIPELINE])
    assert pipeline["llm_calls"] == 2 * len(cases)  # read the ticket, write the reply
    # The agent asks before each refund it tries (four tickets name a delivered order
    # and want a refund); the pipeline only above $100, after its policy said yes. Each
    # ticket's policy answers: the one that expects a rejection is rejected.
    assert (agent["approvals"], pipeline["approvals"]) == (4, 2)
    assert agent["approvals_by_decision"] == {"approved": 3, "rejected": 1}
    assert pipeline["approvals_by_decision"] == {"approved": 1, "rejected": 1}
    assert report["verdict"][0].startswith(f"{PIPELINE} is as correct as {AGENT}")

"""The evaluation as a Temporal workflow: one child run per case and target, a few at a
time, each scored once it ends (workflow code: deterministic, no I/O).

Durable by construction: a child's id is the evaluation's id, the target and the
case's number, so a resumed evaluation (its worker restarted, its history replayed)
finds the runs it started instead of starting them again; every model call of a run,
of a judge, and every score is an activity result in a history, so none is made twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError
from temporalio.workflow import ActivityHandle, ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from tether._evals.activities import ApproveRequest, ScoreRequest
    from tether._evals.judge import JUDGE_AGENT, verdict_score
    from tether._evals.model import (
        APPROVE_ACTIVITY,
        DECISION_REFUSED,
        EVAL_WORKFLOW,
        SCORE_ACTIVITY,
        CaseResult,
        EvalCase,
        EvalInput,
        EvalProgress,
        JudgeAsk,
        RunFacts,
        Score,
        Scored,
        Target,
    )
    from tether._limits import MAX_NAME_CHARS
    from tether._records import AgentSpec
    from tether._run_io import INPUT_GENERATION, AgentInput
    from tether._visibility import agent_memo
    from tether._wire import LlmRequest
    from tether._workflows.agent_runs import AGENT_WORKFLOW

from tether._workflows.llm_calls import execute_llm
from tether._workflows.spec_calls import describe_agent

# Both activities heartbeat: a crashed worker's attempt is retried after this long (the
# approver polls its run until the run ends; scoring reads histories and runs the
# evaluators, which may take their time).
HEARTBEAT = timedelta(seconds=10)
SCORE_TIMEOUT = timedelta(minutes=10)
# Runs per `progress` answer: a follower that starts late (a resumed one) asks for the
# rest on its next look, and no answer nears a query's 2 MB limit.
PROGRESS_PAGE = 100


@workflow.defn(name=EVAL_WORKFLOW)
class EvalWorkflow:
    """Run every case through every target and score each run."""

    def __init__(self) -> None:
        self._results: list[CaseResult] = []
        self._running = 0
        self._total = 0
        self._targets: list[str] = []
        self._judge_spec: AgentSpec | None = None

    @workflow.run
    async def run(self, params: EvalInput) -> list[CaseResult]:
        self._total = len(params.cases) * len(params.targets)
        self._targets = [t.name for t in params.targets]
        slots = asyncio.Semaphore(params.concurrency)
        # Case by case, each through every target: the targets advance side by side.
        runs = [
            self._one(params, slots, i, case, t, target)
            for i, case in enumerate(params.cases)
            for t, target in enumerate(params.targets)
        ]
        await asyncio.gather(*runs)
        self._results.sort(key=lambda r: (r.case_index, self._targets.index(r.target)))
        return self._results

    @workflow.query
    def progress(self, since: int = 0) -> EvalProgress:
        """The runs finished so far (those from `since` on) and how many run now."""
        return EvalProgress(
            total=self._total,
            done=len(self._results),
            running=self._running,
            targets=self._targets,
            finished=self._results[since : since + PROGRESS_PAGE],
            since=since,
        )

    async def _one(
        self,
        params: EvalInput,
        slots: asyncio.Semaphore,
        index: int,
        case: EvalCase,
        t: int,
        target: Target,
    ) -> None:
        async with slots:
            self._running += 1
            workflow_id = f"{workflow.info().workflow_id}.{target.name}.{index + 1}"
            child = await workflow.start_child_workflow(
                AGENT_WORKFLOW if target.kind == "agent" else target.name,
                _start_input(case, target, started_by=f"eval {workflow.info().workflow_id}"),
                id=workflow_id,
                task_queue=target.task_queue,
                parent_close_policy=ParentClosePolicy.TERMINATE,
                static_summary=f"eval case {case.name} · {target.name}",
                memo=agent_memo(target.name) if target.kind == "agent" else None,
            )
            approver = workflow.start_activity(
                APPROVE_ACTIVITY,
                ApproveRequest(workflow_id=workflow_id, policy=case.approvals),
                result_type=int,
                start_to_close_timeout=timedelta(days=7),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
                summary=f"answer approvals: {case.approvals}",
            )
            refused = await _until_ended(child, approver)
            scored = await self._score(params, index, t, target, workflow_id)
            if refused:
                scored.facts = scored.facts.model_copy(update={"failure": DECISION_REFUSED})
            for ask in scored.judge:
                scored.scores.append(await self._judge(ask, params))
            self._results.append(
                CaseResult(
                    case=case.name,
                    case_index=index,
                    target=target.name,
                    workflow_id=workflow_id,
                    facts=scored.facts,
                    scores=scored.scores,
                    output=scored.output,
                )
            )
            self._running -= 1

    async def _score(
        self, params: EvalInput, index: int, t: int, target: Target, workflow_id: str
    ) -> Scored:
        try:
            scored: Scored = await workflow.execute_activity(
                SCORE_ACTIVITY,
                ScoreRequest(
                    case=index,
                    target=target.name,
                    workflow_id=workflow_id,
                ),
                result_type=Scored,
                start_to_close_timeout=SCORE_TIMEOUT,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=RetryPolicy(maximum_attempts=5),
                summary=f"score {params.cases[index].name} · {target.name}",
            )
        except ActivityError as e:
            facts = RunFacts(status="unscored", failure="scoring_failed")
            workflow.logger.warning("scoring %s failed: %s", workflow_id, e.cause)
            return Scored(facts=facts)
        return scored

    async def _judge(self, ask: JudgeAsk, params: EvalInput) -> Score:
        if self._judge_spec is None:
            self._judge_spec = await describe_agent(JUDGE_AGENT)
        spec = self._judge_spec
        model = ask.model or params.judge_model or spec.model
        request = LlmRequest(agent=JUDGE_AGENT, model=model, messages=ask.messages, turn=1)
        try:
            reply = await execute_llm(spec, request, summary=f"judge {model} · {ask.evaluator}")
        except ActivityError as e:
            return Score(evaluator=ask.evaluator, value=None, error=f"judge failed: {e.cause}")
        return verdict_score(ask, reply)


async def _until_ended(child: ChildWorkflowHandle[Any, Any], approver: ActivityHandle[int]) -> bool:
    """Wait for the run to end; whether the approver failed first (a decision the run
    refused), in which case the run is cancelled rather than left waiting for a person."""
    await workflow.wait([child, approver], return_when=asyncio.FIRST_COMPLETED)
    refused = approver.done() and approver.exception() is not None
    if refused:
        child.cancel()
    with contextlib.suppress(ChildWorkflowError, asyncio.CancelledError):
        await child  # a failure is in its history, which scoring reads
    with contextlib.suppress(ActivityError):
        await approver  # ended with the run (a refusal once it ended changes nothing)
    return refused


def _start_input(case: EvalCase, target: Target, *, started_by: str) -> Any:
    """What a target's run starts with: an agent's `AgentInput`, a workflow's
    `PipelineInput` fields. The evaluation starts it (never an approver of its calls:
    its decisions are signed as EVAL_APPROVER)."""
    started_by = started_by[:MAX_NAME_CHARS]
    if target.kind == "agent":
        return AgentInput(
            agent=target.name,
            prompt=case.prompt,
            acting_for=case.acting_for,
            started_by=started_by,
            generation=INPUT_GENERATION,
        )
    fields = {"text": case.prompt, "acting_for": case.acting_for, "started_by": started_by}
    return {k: v for k, v in fields.items() if v is not None}

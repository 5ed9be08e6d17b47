"""The evaluation's activities: score a finished run, and answer the calls of a running
one that wait for a person, as its case says.

They run in the evaluation's own worker (`tether eval`), which holds the dataset's
evaluators and the signing key: neither ever enters a workflow's input or history.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from tether._activities.heartbeat import heartbeating
from tether._evals.dataset import CaseRun, LoadedDataset
from tether._evals.history import read_run
from tether._evals.judge import is_judge, judge_ask
from tether._evals.model import (
    APPROVE_ACTIVITY,
    DECISION_REFUSED,
    EVAL_APPROVER,
    SCORE_ACTIVITY,
    Approvals,
    RunFacts,
    Score,
    Scored,
)
from tether._messages import Message
from tether._run_handles import first_run_id
from tether._run_io import ApprovalDecision, PendingApproval
from tether._signing import Signer

POLL_SECONDS = 0.3
ENDED_WITHOUT_RESULT = ("failed", "timed_out", "cancelled", "terminated")
# How much of a run's output, and of each tool call, the evaluation's result keeps (the
# whole of each is in the run's own history).
MAX_OUTPUT_CHARS = 2000
MAX_TOOL_CHARS = 500


class ScoreRequest(BaseModel):
    case: int
    target: str
    workflow_id: str


class ApproveRequest(BaseModel):
    workflow_id: str
    policy: Approvals


@dataclass
class EvalActivities:
    """The activities of one evaluation's worker: `dataset` is the one the evaluation
    recorded, `signer` signs its decisions (None: they go unsigned)."""

    dataset: LoadedDataset
    signer: Signer | None
    approver: str = EVAL_APPROVER

    @activity.defn(name=SCORE_ACTIVITY)
    async def score(self, request: ScoreRequest) -> Scored:
        """The run's facts from its history, and its scores by the case's evaluators
        (a judge's question is handed back for the workflow to ask)."""
        async with heartbeating():
            return await self._score(activity.client(), request)

    async def _score(self, client: Client, request: ScoreRequest) -> Scored:
        facts, result = await read_run(client, request.workflow_id)
        output = _output(result)
        case = self.dataset.dataset.cases[request.case]
        run = CaseRun(
            case=self.dataset.cases[request.case].name,
            inputs=case.inputs,
            expected_output=case.expected_output,
            metadata=case.metadata if isinstance(case.metadata, dict) else {},
            target=request.target,
            output=output,
            status=facts.status,
            transcript=await _transcript(client, request.workflow_id),
            tool_calls=facts.tool_calls,
            approvals=facts.approvals,
            seconds=facts.seconds,
        )
        scores, judge = [], []
        for evaluator in [*self.dataset.dataset.evaluators, *case.evaluators]:
            if is_judge(evaluator) and facts.status in ENDED_WITHOUT_RESULT:
                # Nothing to judge, and a model call to save.
                name = evaluator.get_default_evaluation_name()
                scores.append(Score(evaluator=name, value=None, error=f"the run {facts.status}"))
            elif is_judge(evaluator):
                judge.append(judge_ask(evaluator, run))
            else:
                scores += await _evaluate(evaluator, run, facts)
        return Scored(facts=_compact(facts), output=_shortened(output), scores=scores, judge=judge)

    @activity.defn(name=APPROVE_ACTIVITY)
    async def approve(self, request: ApproveRequest) -> int:
        """Answer each call of the run that waits for a person by `policy`, signed,
        until the run ends; how many it answered. Retried after a crash, it answers
        what still waits (a decided call waits no more)."""
        client = activity.client()
        handle = client.get_workflow_handle(request.workflow_id)
        answered: set[str] = set()
        while True:
            activity.heartbeat(len(answered))
            try:
                described = await handle.describe()
            except RPCError:
                described = None  # not started yet
            if (
                described is not None
                and described.raw_description.workflow_execution_info.status
                != (WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING)
            ):
                return len(answered)
            for call in await _pending(client, request.workflow_id):
                if call.call_id not in answered:
                    await self._decide(client, request, call)
                    answered.add(call.call_id)
            await asyncio.sleep(POLL_SECONDS)

    async def _decide(self, client: Client, request: ApproveRequest, call: PendingApproval) -> None:
        handle = client.get_workflow_handle(request.workflow_id)
        approve = request.policy == "approve"
        decision = ApprovalDecision(
            call_id=call.call_id,
            approve=approve,
            digest=call.digest,
            approver=self.approver,
            reason=None if approve else "rejected by the evaluation's policy",
        )
        if self.signer is not None:
            decision = self.signer.sign(
                decision,
                call=call,
                namespace=client.namespace,
                workflow_id=request.workflow_id,
                first_run_id=await first_run_id(handle),
            )
        try:
            await handle.execute_update("decide", decision, result_type=PendingApproval)
        except WorkflowUpdateFailedError as e:
            if call.call_id not in {p.call_id for p in await _pending(client, handle.id)}:
                return  # decided already, by an earlier attempt of this activity
            # Refused (a key the run does not trust, an approver it does not list): the
            # run would wait for a person, and the evaluation with it. It ends instead.
            raise ApplicationError(
                f"{handle.id} refused the evaluation's decision on {call.tool}: {e.cause}",
                type=DECISION_REFUSED,
                non_retryable=True,
            ) from None


async def _pending(client: Client, workflow_id: str) -> list[PendingApproval]:
    """What waits for a person in the run (an agent's or a pipeline's `state`)."""
    try:
        state = await client.get_workflow_handle(workflow_id).query("state")
    except RPCError:
        return []  # no state query, or no worker has taken its first task yet
    except Exception:  # a query the workflow does not have fails its task's query only
        return []
    pending = state.get("pending_approvals", []) if isinstance(state, dict) else []
    return [PendingApproval.model_validate(p) for p in pending]


async def _transcript(client: Client, workflow_id: str) -> list[Message]:
    """The run's messages, if it answers the `transcript` query (agents and pipelines)."""
    try:
        messages: list[Message] = await client.get_workflow_handle(workflow_id).query(
            "transcript", result_type=list[Message]
        )
        return messages
    except Exception:  # any workflow may be evaluated; one without the query has none
        return []


async def _evaluate(evaluator: Any, run: CaseRun, facts: RunFacts) -> list[Score]:
    """What one pydantic-evals evaluator says of the run: a score per result, or why it
    failed (an evaluator's exception fails its score, never the evaluation)."""
    from pydantic_evals.evaluators import EvaluationReason, EvaluatorContext
    from pydantic_evals.otel._errors import SpanTreeRecordingError

    name = evaluator.get_default_evaluation_name()
    ctx = EvaluatorContext[Any, Any, Any](
        name=run.case,
        inputs=run.inputs,
        metadata=run.metadata,
        expected_output=run.expected_output,
        output=run.output,
        duration=run.seconds,
        _span_tree=SpanTreeRecordingError("a Tether evaluation reads the run's history"),
        attributes={"tether_run": run},
        metrics={"llm_calls": facts.llm_calls, "tokens": facts.usage.total_tokens},
    )
    try:
        out = await evaluator.evaluate_async(ctx)
    except Exception as e:
        return [Score(evaluator=name, value=None, error=f"{type(e).__name__}: {e}"[:500])]
    results = out if isinstance(out, dict) else {name: out}
    scores = []
    for key, value in results.items():
        reason = value.reason if isinstance(value, EvaluationReason) else None
        if isinstance(value, EvaluationReason):
            value = value.value
        if not isinstance(value, bool | int | float | str):
            scores.append(
                Score(evaluator=key, value=None, error=f"returned {type(value).__name__}")
            )
        else:
            scores.append(Score(evaluator=key, value=value, reason=reason))
    return scores


def _output(result: Any) -> Any:
    """An agent's answer (its structured output, else its text); another workflow's
    result as it returned it."""
    if isinstance(result, dict) and "turns" in result and "status" in result:
        return result.get("output") if result.get("output") is not None else result.get("answer")
    return result


def _compact(facts: RunFacts) -> RunFacts:
    """The facts as the evaluation keeps them, in its history and result: each tool
    call's arguments and answer shortened (the evaluators saw them whole)."""
    calls = [
        call.model_copy(
            update={
                "arguments": _cut(call.arguments, MAX_TOOL_CHARS),
                "content": _cut(call.content, MAX_TOOL_CHARS),
            }
        )
        for call in facts.tool_calls
    ]
    return facts.model_copy(update={"tool_calls": calls})


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def _shortened(output: Any) -> Any:
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    return output if len(text) <= MAX_OUTPUT_CHARS else _cut(text, MAX_OUTPUT_CHARS)

"""What an evaluation is started with, what it records per case and target, and how it
reports its progress: pure data, shared by the evaluation workflow, its activities and
the client that starts it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tether._limits import MAX_NAME_CHARS, MAX_PROMPT_CHARS
from tether._messages import Message, Usage

TargetKind = Literal["agent", "workflow"]
Approvals = Literal["approve", "reject"]
# The workflow type of an evaluation: histories and `tether eval status` name it.
EVAL_WORKFLOW = "TetherEvaluation"
SCORE_ACTIVITY = "tether.eval.score"
APPROVE_ACTIVITY = "tether.eval.approve"
# A run refused the evaluation's decision on one of its calls: the evaluation cancels it.
DECISION_REFUSED = "DecisionRefused"
# The approver name of the decisions an evaluation makes on its cases' calls.
EVAL_APPROVER = "tether-eval"
# Runs per evaluation (cases times targets): an evaluation's history grows by about 15
# events per run, and its result by a case's record; this keeps both far below
# Temporal's limits (50,000 events, 2 MB per payload).
MAX_RUNS = 1000


class Target(BaseModel):
    """What a case runs through: an agent by name, or a workflow type that takes a
    `PipelineInput` (`text`, `acting_for`, `started_by`), on a task queue."""

    kind: TargetKind
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    task_queue: str | None = Field(
        default=None, description="Where its workers poll; default the evaluation's own."
    )

    @classmethod
    def parse(cls, text: str) -> Target:
        """`NAME` (an agent), `workflow:TYPE`, either with `@QUEUE`."""
        spec, _, queue = text.partition("@")
        kind, _, name = spec.rpartition(":")
        if kind not in ("", "agent", "workflow") or not name:
            raise ValueError(
                f"a target is NAME, agent:NAME or workflow:TYPE (@QUEUE), not {text!r}"
            )
        return cls(
            kind="workflow" if kind == "workflow" else "agent", name=name, task_queue=queue or None
        )


class EvalCase(BaseModel):
    """One case as the workflow runs it: its prompt, who it acts for, and how its calls
    that wait for a person are answered."""

    name: str = Field(max_length=MAX_NAME_CHARS)
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    acting_for: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    approvals: Approvals = "approve"


class EvalInput(BaseModel):
    """What an evaluation is started with. The dataset's text is recorded too, so the
    evaluation scores every case with the evaluators it started with, also when resumed
    after its file changed."""

    dataset: str = Field(description="The dataset's name.")
    dataset_text: str = Field(description="The dataset file as it was read.")
    dataset_format: Literal["yaml", "json"] = "yaml"
    evaluators_module: str | None = Field(
        default=None, description="The module whose evaluators the dataset names."
    )
    cases: list[EvalCase] = Field(min_length=1)
    targets: list[Target] = Field(min_length=1)
    concurrency: int = Field(default=4, ge=1, le=100)
    judge_model: str | None = Field(
        default=None, description="The model an `LLMJudge` without its own model asks."
    )


class RunKey(BaseModel):
    """One run of an evaluation: case `case` (its index) through target `target`."""

    case: int = Field(ge=0)
    target: int = Field(ge=0)
    workflow_id: str


class ToolEffect(BaseModel):
    """One tool call of a run, as its history holds it."""

    name: str
    arguments: str = Field(description="JSON, as the call ran.")
    content: str = Field(description="What the tool answered (or why it did not run).")
    error: str | None = Field(default=None, description="Why it did not run, if it did not.")


class ApprovalRecord(BaseModel):
    """A decision on a call of a run that waited for a person."""

    call_id: str
    approve: bool
    approver: str | None = None
    signed: bool = False


class RunFacts(BaseModel):
    """What a run did and cost, read from its history (and its children's)."""

    status: str = Field(description="The run's status, an agent's or a pipeline's.")
    failure: str | None = Field(default=None, description="The kind of failure, if it failed.")
    llm_calls: int = 0
    usage: Usage = Field(default_factory=Usage)
    models: dict[str, Usage] = Field(default_factory=dict, description="Usage per model.")
    worker_cost_usd: float | None = Field(
        default=None, description="The cost the worker's price table gave each call."
    )
    tool_calls: list[ToolEffect] = Field(default_factory=list)
    approvals: list[ApprovalRecord] = Field(default_factory=list)
    actions: int = Field(default=0, description="Temporal billable actions, estimated.")
    history_events: int = 0
    history_bytes: int = 0
    seconds: float = 0.0
    workflows: int = Field(default=1, description="Workflow runs: the run and its children.")


class Score(BaseModel):
    """One evaluator's verdict on one run."""

    evaluator: str
    value: bool | float | str | None
    reason: str | None = None
    error: str | None = Field(default=None, description="The evaluator failed: why.")

    @property
    def passed(self) -> bool | None:
        """True/False for an assertion, None for a score or a label."""
        if self.error is not None:
            return False
        return self.value if isinstance(self.value, bool) else None


class JudgeAsk(BaseModel):
    """A judge model's question on one run, which the workflow asks through Tether's
    LLM activity (durable, recorded in its history)."""

    evaluator: str
    model: str | None
    messages: list[Message]


class Scored(BaseModel):
    """What the scoring activity hands back: the run's facts, its scores, and the
    judges' questions still to ask."""

    facts: RunFacts
    output: Any = None
    scores: list[Score] = Field(default_factory=list)
    judge: list[JudgeAsk] = Field(default_factory=list)


class CaseResult(BaseModel):
    """One run of an evaluation, scored."""

    case: str
    case_index: int
    target: str
    workflow_id: str
    facts: RunFacts
    scores: list[Score] = Field(default_factory=list)
    output: Any = Field(default=None, description="The run's answer, shortened.")

    @property
    def passed(self) -> bool:
        """Every assertion held and the run did not fail."""
        if self.facts.failure is not None:
            return False
        return all(s.passed is not False for s in self.scores)


class EvalProgress(BaseModel):
    """An evaluation's progress, as its `progress` query reports it: the runs finished
    from `since` on (a client that follows it asks for those it has not seen)."""

    total: int
    done: int
    running: int
    targets: list[str]
    finished: list[CaseResult] = Field(default_factory=list)
    since: int = 0

"""Approval policies: which calls of a tool run, are refused, or wait for a person or a
judge model (pure data; workflow code evaluates it).

A policy is ordered rules over a call's validated arguments and its run's context. It is
data, not code, because a run records it with its agent's spec and keeps it to the end:
a worker deployed meanwhile with another policy cannot change what a running run decides,
and a replay decides each call again exactly as it was decided. A Python predicate
cannot be recorded (a replay would run whatever code the worker has now), so a rule
names one (`check("is_vip")`), the agent registers it (`Agent(approval_checks=...)`),
and the run asks it in an activity whose answer history keeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tether._limits import MAX_NAME_CHARS

Action = Literal["allow", "deny", "ask_person", "ask_judge"]
"""What a rule does with a call it matches: run it, refuse it (the model is told the
rule's reason), let it wait for a person, or ask the policy's judge model first."""

# The name a decision records when no rule matched.
OTHERWISE = "otherwise"

Operator = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in"]

DEFAULT_JUDGE_INSTRUCTIONS = (
    "You review a tool call an AI agent wants to make, before it runs. Approve it only "
    "if it is clearly reasonable for the context given; refuse it if it is not; say "
    "unsure if you cannot tell. A person reviews every call you do not approve."
)


class Condition(BaseModel):
    """One test of a rule: the value at `path` compared with `value`. Build it with
    `arg("amount") < 50` or `context("acting_for").equals("C-1")`.

    A value that is missing, or of another kind than `value` (a string compared with a
    number), does not satisfy the condition: a rule whose conditions cannot be checked
    does not match, and the next rule is tried.
    """

    model_config = ConfigDict(frozen=True)

    path: str = Field(
        pattern=r"^((arguments|context)(\.[A-Za-z0-9_-]+)+|checks\.[A-Za-z0-9_-]+)$",
        description="`arguments.NAME[.NAME...]` (the call's validated arguments), "
        "`context.NAME` (the run: tool, acting_for, started_by, turn, and the facts a "
        "pipeline passes) or `checks.NAME` (what the agent's check NAME answered).",
    )
    op: Operator
    value: Any

    @model_validator(mode="after")
    def _listed(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"{self.op!r} compares with a list of values")
        return self

    @property
    def check(self) -> str | None:
        """The name of the agent's check this condition asks, if it asks one."""
        kind, _, name = self.path.partition(".")
        return name if kind == "checks" else None

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition holds for `values` ({"arguments": ..., "context": ...})."""
        found: Any = values
        for part in self.path.split("."):
            if not isinstance(found, Mapping) or part not in found:
                return False
            found = found[part]
        if self.op in ("in", "not_in"):
            among = [v for v in self.value if _comparable(found, v)]
            return (found in among) == (self.op == "in")
        if not _comparable(found, self.value):
            return False
        match self.op:
            case "eq":
                return bool(found == self.value)
            case "ne":
                return bool(found != self.value)
            case "lt":
                return bool(found < self.value)
            case "le":
                return bool(found <= self.value)
            case "gt":
                return bool(found > self.value)
            case _:
                return bool(found >= self.value)


def _comparable(a: Any, b: Any) -> bool:
    """Both numbers (not booleans), both strings, or both booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (
        isinstance(a, str) and isinstance(b, str)
    )


class Value:
    """A value a rule tests, named by `arg(...)` or `context(...)`; comparing it builds
    a `Condition`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __lt__(self, value: float) -> Condition:
        return Condition(path=self.path, op="lt", value=value)

    def __le__(self, value: float) -> Condition:
        return Condition(path=self.path, op="le", value=value)

    def __gt__(self, value: float) -> Condition:
        return Condition(path=self.path, op="gt", value=value)

    def __ge__(self, value: float) -> Condition:
        return Condition(path=self.path, op="ge", value=value)

    def equals(self, value: str | float | bool) -> Condition:
        """The value is `value`."""
        return Condition(path=self.path, op="eq", value=value)

    def differs(self, value: str | float | bool) -> Condition:
        """The value is present and is not `value`."""
        return Condition(path=self.path, op="ne", value=value)

    def among(self, values: Sequence[str | float | bool]) -> Condition:
        """The value is one of `values`."""
        return Condition(path=self.path, op="in", value=list(values))

    def not_among(self, values: Sequence[str | float | bool]) -> Condition:
        """The value is present and none of `values`."""
        return Condition(path=self.path, op="not_in", value=list(values))


def arg(name: str) -> Value:
    """An argument of the call, as the tool's schema validated it (`"a.b"` for a nested
    field): `arg("amount") < 50`."""
    return Value(f"arguments.{name}")


def check(name: str) -> Condition:
    """The agent's approval check `name` answers yes for the call: a Python function the
    agent registers (`Agent(approval_checks={name: fn})`), run in an activity when a rule
    needs it, its answer recorded."""
    return Condition(path=f"checks.{name}", op="eq", value=True)


class CallUnderReview(BaseModel):
    """What an approval check is given: the call and its run's context."""

    tool: str
    arguments: dict[str, Any]
    context: dict[str, Any] = Field(
        description="tool, acting_for, started_by, turn, and the facts a pipeline passes."
    )


ApprovalCheck = Callable[[CallUnderReview], bool | Awaitable[bool]]
"""A Python predicate a rule asks by name (`check(NAME)`): sync (run in a thread) or
async, true when the call is what its name says."""


def context(name: str) -> Value:
    """A fact of the run: `tool`, `acting_for`, `started_by`, `turn`, or one a pipeline
    passes with `Pipeline.approval(..., facts=...)`: `context("amount") > 500`."""
    return Value(f"context.{name}")


class Rule(BaseModel):
    """One rule of an `ApprovalPolicy`: if every condition holds (none: always), `then`.

    Build one with `Rule.allow`, `Rule.deny`, `Rule.ask_person` or `Rule.ask_judge`.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    then: Action
    when: list[Condition] = Field(default_factory=list)
    tools: list[str] | None = Field(
        default=None, description="Only calls of these tools (an agent's policy); None: any."
    )
    reason: str | None = Field(
        default=None, max_length=2_000, description="Told to the model when it denies."
    )

    @classmethod
    def allow(cls, name: str, *when: Condition, tools: Sequence[str] | None = None) -> Rule:
        """Run the calls it matches, with nobody asked."""
        return cls._of(name, "allow", when, tools)

    @classmethod
    def deny(
        cls, name: str, *when: Condition, reason: str, tools: Sequence[str] | None = None
    ) -> Rule:
        """Refuse the calls it matches; the model is told `reason`."""
        return cls._of(name, "deny", when, tools, reason)

    @classmethod
    def ask_person(cls, name: str, *when: Condition, tools: Sequence[str] | None = None) -> Rule:
        """Let the calls it matches wait for a person's decision."""
        return cls._of(name, "ask_person", when, tools)

    @classmethod
    def ask_judge(cls, name: str, *when: Condition, tools: Sequence[str] | None = None) -> Rule:
        """Ask the policy's judge model; a call it does not approve waits for a person."""
        return cls._of(name, "ask_judge", when, tools)

    @classmethod
    def _of(
        cls,
        name: str,
        then: Action,
        when: Sequence[Condition],
        tools: Sequence[str] | None,
        reason: str | None = None,
    ) -> Rule:
        listed = list(tools) if tools is not None else None
        return cls(name=name, then=then, when=list(when), tools=listed, reason=reason)

    def matches(self, tool: str, values: Mapping[str, Any]) -> bool | str:
        """Whether the rule applies to a call of `tool` with these `values`, or the name
        of the check it needs asked first (one `values["checks"]` lacks)."""
        if self.tools is not None and tool not in self.tools:
            return False
        for condition in self.when:
            asked = condition.check
            if asked is not None and asked not in values.get("checks", {}):
                return asked
            if not condition.holds(values):
                return False
        return True


class NeedsCheck(NamedTuple):
    """A rule that cannot tell whether it matches before the agent's check is asked."""

    rule: str
    check: str


class Judge(BaseModel):
    """The model an `ask_judge` rule asks. It is sent the call (tool, description,
    arguments), the run's context and the rule, and answers approve, refuse or unsure
    with its reasoning; only an approval lets the call run without a person.

    Args:
        name: Names its calls: the model call's summary in the web UI, and the agent
            name the worker sends the model server (`X-Tether-Agent`).
        model: The model to ask; None: the agent's.
        instructions: What the judge is told it is doing (its system prompt).
        timeout: How long one attempt may take.
        max_attempts: Attempts before a failing model server counts as no verdict
            (the call then waits for a person).
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(default="judge", min_length=1, max_length=MAX_NAME_CHARS)
    model: str | None = None
    instructions: str = DEFAULT_JUDGE_INSTRUCTIONS
    timeout: timedelta = Field(default=timedelta(seconds=60), gt=timedelta(0))
    max_attempts: int = Field(default=3, ge=1)


class ApprovalPolicy(BaseModel):
    """How calls of a tool (or of an agent's tools) are approved: the first rule that
    matches decides, else `otherwise`. Every decision it takes is recorded with the rule
    that took it and the digest of the arguments it applies to, as a person's would be.

        ApprovalPolicy(
            rules=[
                Rule.allow("small refunds", context("amount") < 50),
                Rule.ask_person("large refunds", context("amount") > 500),
                Rule.ask_judge("other refunds"),
            ],
            judge=Judge(model="gpt-4o-mini"),
        )

    Args:
        rules: Tried in order.
        otherwise: What a call no rule matches gets (default: a person decides).
        judge: The model `ask_judge` rules ask; required when one does.
    """

    model_config = ConfigDict(frozen=True)

    rules: list[Rule] = Field(default_factory=list)
    otherwise: Action = "ask_person"
    judge: Judge | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ApprovalPolicy:
        names = [r.name for r in self.rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two rules share a name: {twice}")
        if OTHERWISE in names:
            raise ValueError(f"{OTHERWISE!r} names what no rule matches: give the rule another")
        judged = self.otherwise == "ask_judge" or any(r.then == "ask_judge" for r in self.rules)
        if judged and self.judge is None:
            raise ValueError("a rule asks a judge: give the policy a judge=Judge(...)")
        return self

    @property
    def checks(self) -> set[str]:
        """The names of the checks its rules ask."""
        return {c.check for r in self.rules for c in r.when if c.check is not None}

    def decide(
        self, tool: str, values: Mapping[str, Any]
    ) -> tuple[str, Action, str | None] | NeedsCheck:
        """The rule that decides a call of `tool` (its name, or `otherwise`), what it
        does, and its reason; or the check to ask before it can tell (the first one a
        rule needs, in order, that `values["checks"]` lacks)."""
        for rule in self.rules:
            matched = rule.matches(tool, values)
            if isinstance(matched, str):
                return NeedsCheck(rule.name, matched)
            if matched:
                return rule.name, rule.then, rule.reason
        return OTHERWISE, self.otherwise, None

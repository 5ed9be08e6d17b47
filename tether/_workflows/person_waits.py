"""What approvals and questions share while a person is asked (workflow code:
deterministic, no I/O): the rules a person's reply must satisfy, finding what a reply
names, checking who sent it, and the durable wait for it."""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether._signing import Binding
    from tether._trust import ApprovalRules, ApproverKeys

T = TypeVar("T")


@dataclass(frozen=True)
class Rules:
    """What a call's arguments and its decision must satisfy (runs started before
    decisions were bound to arguments have none)."""

    schema: dict[str, Any] | None = None  # the tool's parameters; None: parse only
    approvers: tuple[str, ...] | None = None  # None: anyone may decide
    started_by: str | None = None  # never an approver when approvers are named
    # The keys that may prove a decision; None: a run recorded before decisions were
    # signed, which takes the approver a decision states.
    keys: ApproverKeys | None = None
    # A sub-agent's parents' rules: a decision must satisfy each of them too.
    inherited: tuple[ApprovalRules, ...] = ()

    def constraints(self) -> list[tuple[tuple[str, ...] | None, ApproverKeys | None]]:
        """(approvers, keys) pairs a decision must each satisfy: this run's, then its
        parents'."""
        own = [(self.approvers, self.keys)]
        return own + [
            (tuple(r.approvers) if r.approvers is not None else None, r.approver_keys)
            for r in self.inherited
        ]


@dataclass(frozen=True)
class Role:
    """How refusals name what a person does: decide a call, or answer a question."""

    named: str  # who does it, when the rules name them
    among: str  # the list they must be on
    act: str  # what the run's starter may not do


def run_binding() -> Binding:
    """What a signature made for this run binds to."""
    info = workflow.info()
    return Binding(info.namespace, info.workflow_id, info.first_execution_run_id)


@dataclass(frozen=True)
class Waits:
    """How a kind of thing that waits for a person is named in a refusal."""

    noun: str  # "tool call"
    purpose: str  # "for approval"
    settled: str  # "was already decided"


def waiting_one(
    pending: Mapping[str, T], settled: Container[str], call_id: str | None, kind: Waits
) -> T:
    """What `call_id` names among `pending` (None: the only one); ValueError saying why
    not if it was `settled`, is unknown, or None names no single one. Pure: validators
    run it."""
    waiting = ", ".join(pending) or "none"
    if call_id is None:
        if len(pending) != 1:
            raise ValueError(
                f"{len(pending)} {kind.noun}s wait {kind.purpose} ({waiting}); "
                "name one with its call id"
            )
        return next(iter(pending.values()))
    if call_id in settled:
        raise ValueError(f"{kind.noun} {call_id!r} {kind.settled}")
    if call_id not in pending:
        raise ValueError(f"no {kind.noun} {call_id!r} waits {kind.purpose} (waiting: {waiting})")
    return pending[call_id]


def check_person(
    rules: Rules, who: str | None, prove: Callable[[ApproverKeys], None], role: Role
) -> None:
    """Refuse what a person sends unless it is proven (`prove` raises ValueError unless
    it is signed by a key trusted for `who`, for this run), by someone among the named
    people, and not by the run's stated starter. Pure: validators run it."""
    for approvers, keys in rules.constraints():
        if keys is not None:
            with workflow.unsafe.imports_passed_through():  # see _sandbox.PASSED_THROUGH
                prove(keys)
        if approvers is None:
            continue
        if who is None:
            raise ValueError(role.named)
        if who not in approvers:
            raise ValueError(f"{who!r} is not among {role.among}")
    named = any(approvers is not None for approvers, _ in rules.constraints())
    if named and who is not None and who == rules.started_by:
        raise ValueError(f"{who!r} started this run and may not {role.act}")


async def wait_for_person(
    answered: Callable[[], bool],
    *,
    expires_after: timedelta,
    summary: str,
    timed_out: Callable[[], None],
    done: Callable[[], None],
    on_change: Callable[[], None],
) -> bool:
    """Wait durably until `answered()`, at most `expires_after` (False then, after
    `timed_out()`); `done` then forgets what waited and `on_change` shows it, however
    the wait ends (the timer's label is `summary`)."""
    closed = False
    try:
        await workflow.wait_condition(
            answered,
            timeout=expires_after,
            # The timer's label in the web UI (metadata only: the same commands).
            timeout_summary=summary,
        )
    except GeneratorExit:
        closed = True
        raise
    except TimeoutError:
        timed_out()
        return False
    finally:
        done()
        # A run evicted from a worker's cache may leave this coroutine to the garbage
        # collector, which closes it (GeneratorExit) in whatever thread it runs, maybe
        # while another run's code runs there: workflow calls would then act on that
        # run (an upsert in its history). Nothing changed, so nothing is published.
        if not closed and workflow.in_workflow():
            on_change()
    return True


def hours(timeout: timedelta) -> str:
    hours = timeout.total_seconds() / 3600
    return f"{hours:g} hour" + ("" if hours == 1 else "s")

"""Which of the workflows' code paths a run takes, by the code it started on (workflow
code).

Every change to what a workflow does sits behind a patch, so that runs recorded before
the change replay. Each patch a new run asks costs it a marker and a
`TemporalChangeVersion` search-attribute upsert (a history event and a billable action
each); so a run asks one patch, the current generation's, and takes every path added up
to it. A run recorded before that patch finds no marker for it and asks the older
patches, each where its code asked it.

A run started by Tether's own clients (`AgentRun.start`, `tether run`, `run_agent`, a
sub-agent) names its generation in its input instead (`AgentInput.generation`,
`INPUT_GENERATION`): its start event holds it, so it asks no patch and records no
marker. A run started without it (an older client, `temporal workflow start`) asks the
patches as before.

To change a workflow's commands: keep the old path, put the new one behind a new input
generation (or patch), move the old one into the checks of `paths`, and record a new
generation of histories (tests/histories/record.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether._run_io import INPUT_GENERATION

# INPUT_GENERATION, the generation new runs name in their input (AgentInput.generation):
# no patch marker and no `TemporalChangeVersion` upsert; from it on the agent's spec is
# recorded with the run's first model call (no activity of its own before it), and the
# run's status is upserted only while someone may look for it (see publishing.py).
# The generation a run without one in its input takes: it records this patch only.
CURRENT = "tether-generation-2027-01"
# The generation before it. Its runs keep a reply cut at its length limit as any other
# (no `on_truncated`), complete although their provider dropped the agent's tools, and
# send model calls to the run's task queue whatever the worker's model slots.
GENERATION_2026_12 = "tether-generation-2026-12"
# The patches before those, each asked only by runs recorded before GENERATION_2026_12.
# Runs started before this upsert their search attributes on every turn.
UPSERT_ON_STATUS_ONLY = "upsert-on-status-only"
# Runs started before this use local activities while updates may arrive. An update
# accepted while a local activity runs can be recorded ahead of the command that
# followed the activity's result, and such a history does not replay (temporalio 1.35;
# tests/engine/test_stress.py found it); so chats, and turns in which a call waits for a
# person, use regular activities only.
NO_LOCAL_ACTIVITIES_WITH_UPDATES = "no-local-activities-with-updates"
# Runs started before this let a reused call id inherit the earlier approval decision.
REUSED_CALL_IDS = "approvals-per-reused-call-id"
# Runs started before this: keys `workflow id:turn:call id` (a later run under the same
# workflow id shared them), approvals of the model's raw text with no digest, `carried`
# or budgets above the agent's taken from any start, and the agent's spec recorded by a
# local activity.
BOUND_AND_SCOPED = "approvals-bound-keys-scoped-to-the-run"


# Asked where a tool call's activity ran out of retries: with it, the model is told the
# tool is unavailable and the run goes on; runs recorded before it failed there. Asked at
# that point only, so runs whose tools never fail carry no marker for it.
TOOL_UNAVAILABLE_TOLD = "tool-unavailable-told-to-the-model"


@dataclass(frozen=True)
class Paths:
    """The paths a run takes; each True is the newer one."""

    upsert_on_status_only: bool = True
    no_local_activities_with_updates: bool = True
    # None: the run predates CURRENT, and asks REUSED_CALL_IDS where its code asked it
    # (the first time a call id came back), not at the start.
    approvals_per_reused_call_id: bool | None = True
    bound_and_scoped: bool = True
    real_models: bool = True
    # INPUT_GENERATION's paths: the spec with the first model call, statuses upserted
    # only when asked, a tool's retries running out told to the model without a patch.
    from_input: bool = True

    def reused_call_ids(self) -> bool:
        if self.approvals_per_reused_call_id is None:
            return workflow.patched(REUSED_CALL_IDS)
        return self.approvals_per_reused_call_id


def paths(generation: str | None = None) -> Paths:
    """The paths of a run whose input names `generation`. Ask first thing in the run,
    so that replay meets the markers where they were recorded."""
    if generation == INPUT_GENERATION:
        return Paths()
    if workflow.patched(CURRENT):
        return Paths(from_input=False)
    if workflow.patched(GENERATION_2026_12):
        return Paths(real_models=False, from_input=False)
    return Paths(
        upsert_on_status_only=workflow.patched(UPSERT_ON_STATUS_ONLY),
        no_local_activities_with_updates=workflow.patched(NO_LOCAL_ACTIVITIES_WITH_UPDATES),
        approvals_per_reused_call_id=None,
        bound_and_scoped=workflow.patched(BOUND_AND_SCOPED),
        real_models=False,
        from_input=False,
    )


def real_models() -> bool:
    """`Paths.real_models` of the running run, wherever it is asked: a run of the input
    generation says so on its instance (`generation_paths`); for the others `paths()`
    asked CURRENT first thing, and Temporal answers a patch the same all through a run."""
    taken = getattr(workflow.instance(), "generation_paths", None)
    if isinstance(taken, Paths) and taken.from_input:
        return True
    return workflow.patched(CURRENT)


def tool_unavailable_told() -> bool:
    """Whether a tool call whose retries ran out is told to the model (asked there)."""
    taken = getattr(workflow.instance(), "generation_paths", None)
    if isinstance(taken, Paths) and taken.from_input:
        return True
    return workflow.patched(TOOL_UNAVAILABLE_TOLD)

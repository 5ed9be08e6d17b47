"""What a chat carries into its next run, checked against Temporal's payload limit
before it continues-as-new (workflow code: deterministic, no I/O).

A chat without a context policy carries its whole conversation. Once that passed 2 MiB
the continue-as-new command was refused and the workflow task failed on every attempt:
the chat was wedged, its `send`s timed out. Now the carried view is compacted first:
the latest messages that fit half the budget, after a note of how many earlier ones the
model no longer sees; the transcript keeps them (this run becomes one of the
conversation's `earlier_runs`). If even that does not fit, the run fails with
CARRIED_TOO_LARGE, non-retryable, saying what to do.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from tether._limits import PAYLOAD_BUDGET_BYTES
    from tether._messages import Message
    from tether._run_io import AgentInput
    from tether._storage import payload_store_configured

from tether._workflows.context import dropped_message

CARRIED_TOO_LARGE = "CarriedStateTooLarge"


def fitted_carry(params: AgentInput, run_id: str) -> AgentInput:
    """`params`, the next run's input, if it fits a payload (or large payloads go to a
    store); else with its messages compacted and this run (`run_id`) added to the runs
    that hold the transcript.

    Raises:
        ApplicationError: CARRIED_TOO_LARGE, non-retryable, if the compacted input is
            still too large.
    """
    carried = params.carried
    size = _size(params)
    if carried is None or size <= PAYLOAD_BUDGET_BYTES or payload_store_configured():
        return params
    messages = carried.messages
    kept: list[Message] = []
    room = PAYLOAD_BUDGET_BYTES // 2
    for message in reversed(messages[1:]):
        room -= len(message.model_dump_json())
        if room < 0:
            break
        kept.insert(0, message)
    # A tool result whose call was dropped would be refused by the provider.
    while kept and kept[0].role == "tool":
        kept.pop(0)
    view = [*messages[:1], dropped_message(len(messages) - 1 - len(kept)), *kept]
    earlier = carried.earlier_runs
    if run_id not in earlier:  # with a context policy it is there already
        earlier = [*earlier, run_id]
    compacted = params.model_copy(
        update={"carried": carried.model_copy(update={"messages": view, "earlier_runs": earlier})}
    )
    workflow.logger.warning(
        "carried conversation compacted to fit the payload limit",
        extra={"bytes": size, "kept": len(kept), "of": len(messages)},
    )
    if _size(compacted) > PAYLOAD_BUDGET_BYTES:
        raise ApplicationError(
            f"this chat cannot continue: what it carries into its next run is "
            f"{_size(compacted):,} bytes even compacted, over Temporal's payload limit "
            f"({PAYLOAD_BUDGET_BYTES:,} bytes kept for it). Give the agent a ContextPolicy, "
            "or set TETHER_PAYLOAD_STORE",
            type=CARRIED_TOO_LARGE,
            non_retryable=True,
        )
    return compacted


def _size(params: AgentInput) -> int:
    [payload] = workflow.payload_converter().to_payloads([params])
    return payload.ByteSize()

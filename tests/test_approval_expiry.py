"""When a waiting approval expires, as people are shown it, checked against the clock:
the call's `expires_at`, the web UI's timer label and current details, and the event
feed all say now + the approval timeout (the web UI test in a browser compares the
page with the same clock). A dev server, whose clock is the machine's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from support_desk.offline import support_desk_responder
from tests.conftest import CUSTOMER, running_worker
from tether import AgentRun, PendingApproval
from tether.events import ApprovalWaiting
from tether.testing import SIGNER, ScriptedLLM

TIMEOUT = timedelta(hours=5)
SLACK = timedelta(seconds=2)  # the server's clock and this process's


def shown(moment: datetime) -> str:
    return f"until {moment:%Y-%m-%d %H:%M} UTC"


def clock_expiries(before: datetime, after: datetime) -> set[str]:
    """How the expiry may be shown: now + TIMEOUT, now being when the call was asked."""
    return {shown(before + TIMEOUT), shown(after + TIMEOUT)}


async def asked(client: Client, queue: str) -> tuple[AgentRun, PendingApproval, set[str]]:
    """A support-desk refund run waiting for approval, its call, and how its expiry may
    be shown by this clock."""
    before = datetime.now(UTC)
    run = await AgentRun.start(
        client,
        "support-desk",
        "Order A-1001 arrived broken, I want my money back.",
        task_queue=queue,
        acting_for=CUSTOMER,
        approval_timeout=TIMEOUT,
    )
    [call] = await run.wait_for_approval()
    after = datetime.now(UTC)
    assert before + TIMEOUT - SLACK <= call.expires_at <= after + TIMEOUT + SLACK
    return run, call, clock_expiries(before, after)


async def test_an_approval_expires_the_timeout_after_it_was_asked(
    dev_env: WorkflowEnvironment, shop_db: Path
) -> None:
    with ScriptedLLM(support_desk_responder) as llm:
        async with running_worker(dev_env.client, llm) as worker:
            run, call, expiries = await asked(dev_env.client, worker.task_queue)
            metadata = await run.handle.query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
            converter = dev_env.client.data_converter.payload_converter
            labels = [
                converter.from_payload(e.user_metadata.summary, str)
                async for e in run.handle.fetch_history_events()
                if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
                and e.user_metadata.HasField("summary")
            ]
            await run.reject(call, reason="checked the expiry", signer=SIGNER)
            assert (await run.result()).status == "completed"
            events = [e async for e in run.events()]
    [waiting] = [e for e in events if isinstance(e, ApprovalWaiting)]
    assert waiting.expires_at == call.expires_at
    # Short arguments are in the event whole (long ones only in the run's state).
    assert waiting.arguments == call.arguments
    [label] = [x for x in labels if "waiting for a person to approve" in x]
    assert any(e in label for e in expiries), label
    assert any(e in metadata.current_details for e in expiries), metadata.current_details

"""When a waiting approval expires, as people are shown it, checked against the clock:
the call's `expires_at`, the web UI's timer label and current details, and the event
feed all say now + the approval timeout (the web UI test in a browser compares the
page with the same clock, tests/support/expiry.py). A dev server, whose clock is the
machine's."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from tests.support.expiry import asked
from tests.support.order_desk import REGISTRY, order_desk_script
from tether.events import ApprovalWaiting
from tether.testing import SIGNER, ScriptedLLM, worker


async def test_an_approval_expires_the_timeout_after_it_was_asked(
    dev_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(order_desk_script) as llm:
        async with worker(dev_env.client, REGISTRY, llm) as w:
            run, call, expiries = await asked(dev_env.client, w.task_queue)
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

"""The support desk's own agent and tools: its scripted conversation refunds and emails
once, and its tools act for the run's customer only (another customer's order reads as
not found, email goes to the run's customer alone) and do each effect once per call
(a retry gets the first result, a key found again with other arguments is refused).
The tools are called as Tether's tool activity calls them, with their `ToolContext`."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.support_tools import issue_refund, lookup_order, send_email
from support_desk import REGISTRY
from support_desk.offline import support_desk_responder
from tests.support.ledger import count_rows
from tether import AgentRun, Tool, ToolContext
from tether._arguments import digest_of
from tether.testing import ScriptedLLM, approve_all, worker

CUSTOMER = "C-1"  # Ada Lovelace, who owns every order of the seeded shop
REFUND = '{"order_id": "A-1001", "reason": "arrived broken"}'


async def test_the_scripted_conversation_refunds_and_emails_once(
    ts_env: WorkflowEnvironment, shop_db: Path
) -> None:
    with ScriptedLLM(support_desk_responder) as llm:
        async with worker(ts_env.client, REGISTRY, llm) as w:
            run = await AgentRun.start(
                ts_env.client,
                "support-desk",
                "Order A-1001 arrived broken, I want my money back.",
                task_queue=w.task_queue,
                acting_for=CUSTOMER,
            )
            await approve_all(run)
            result = await run.result()
    assert result.status == "completed"
    assert result.answer is not None and "refunded $42.00" in result.answer
    assert "offline scripted model" in result.answer
    # lookup, policy, refund, email, answer
    assert llm.request_count == 5
    assert count_rows(shop_db, "refunds") == 1
    assert count_rows(shop_db, "outbox") == 1


async def called(tool: Tool, arguments: str, acting_for: str | None, key: str = "") -> str:
    """What `tool` answers to `arguments` in a run acting for `acting_for` (the call's
    idempotency key `key`, else a new one)."""
    ctx = ToolContext(
        idempotency_key=key or f"default:wf:{uuid.uuid4()}:1:call_1",
        workflow_id="wf",
        tool_call_id="call_1",
        arguments_digest=digest_of(arguments),
        acting_for=acting_for,
    )
    return (await tool.invoke(arguments, ctx)).content


async def test_the_tools_read_and_refund_only_the_runs_customers_orders(shop_db: Path) -> None:
    graces = '{"order_id": "A-1001"}'  # Ada's order, asked for by Grace (C-2)
    assert await called(lookup_order, graces, "C-2") == "Error: order 'A-1001' not found"
    refund = await called(issue_refund, REFUND, "C-2")
    assert refund == "Error: order 'A-1001' not found"
    nobody = await called(lookup_order, graces, None)
    assert nobody.startswith("Error: this conversation acts for no customer")
    assert '"customer_name":"Ada Lovelace"' in await called(lookup_order, graces, CUSTOMER)
    assert count_rows(shop_db, "refunds") == 0


async def test_email_goes_only_to_the_runs_customer(shop_db: Path) -> None:
    def mail(to: str) -> str:
        return f'{{"to": "{to}", "subject": "Your order", "body": "Refunded."}}'

    refused = "Error: emails go only to this conversation's customer, at their address"
    assert await called(send_email, mail("attacker@example.net"), CUSTOMER) == refused
    assert await called(send_email, mail("grace@example.com"), CUSTOMER) == refused
    assert '"to":"ada@example.com"' in await called(send_email, mail("ADA@example.com"), CUSTOMER)
    assert count_rows(shop_db, "outbox") == 1


async def test_a_retried_call_gets_its_first_result_and_acts_once(shop_db: Path) -> None:
    refund_key, email_key = (f"default:wf:{uuid.uuid4()}:1:call_{i}" for i in (1, 2))
    first = await called(issue_refund, REFUND, CUSTOMER, refund_key)
    again = await called(issue_refund, REFUND, CUSTOMER, refund_key)
    mail = '{"to": "ada@example.com", "subject": "Refund", "body": "Done."}'
    sent = await called(send_email, mail, CUSTOMER, email_key)
    resent = await called(send_email, mail, CUSTOMER, email_key)
    assert first == again and '"refund_id":1' in first
    assert sent == resent and '"email_id":1' in sent
    assert (count_rows(shop_db, "refunds"), count_rows(shop_db, "outbox")) == (1, 1)


async def test_a_key_found_again_with_other_arguments_is_refused(shop_db: Path) -> None:
    key = f"default:wf:{uuid.uuid4()}:1:call_1"
    first = await called(issue_refund, REFUND, CUSTOMER, key)
    other = await called(issue_refund, '{"order_id": "A-1004", "reason": "x"}', CUSTOMER, key)
    assert '"order_id":"A-1001"' in first
    assert other == (
        "Error: this call's idempotency key was already used with other arguments; nothing was done"
    )
    assert count_rows(shop_db, "refunds") == 1

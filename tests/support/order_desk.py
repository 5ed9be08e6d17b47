"""The order desk: the tests' own small agent, so that a change to the demo breaks no
test of the engine, the CLI or a deployment.

It looks an order up (a fast read), refunds it (a side effect that waits for a person
and writes the ledger under its idempotency key) and notifies the customer (a side
effect). Whose orders a call may touch comes from `ctx.acting_for`, never from the
model. `order_desk_script` plays it as a good model would (look up, refund if asked,
notify, answer); `OrderRefundFlow` is the same refund as a pipeline, its request read
by `order-triage`. `tether worker --agents tests.support.order_desk:REGISTRY --offline
tests.support.order_desk:SCRIPTS` serves them all.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from tests.support.approvals import approve_when_asked
from tests.support.ledger import SEEDED_CUSTOMER, connect
from tests.support.order_flow import (
    DESK_AGENT,
    TRIAGE_AGENT,
    Order,
    OrderRefundFlow,
    Refund,
    Triage,
)
from tests.support.runs import AgentHandle
from tether import Agent, AgentRegistry, AgentRun, LlmPolicy, ToolContext, ToolError, tool
from tether.approvals import ApprovalPolicy, Judge, Rule
from tether.testing import Responder, Say, Step, call_tools, say


class Notice(BaseModel):
    notice_id: int
    to: str


@tool(fast=True)
def lookup_order(ctx: ToolContext, order_id: str) -> Order:
    """Look up an order of this customer by its id (like A-1001)."""
    with connect() as db:
        return _order(db, order_id, ctx)


# Money leaves the desk: a person approves each refund before it runs.
@tool(side_effects=True, needs_approval=True)
def issue_refund(ctx: ToolContext, order_id: str, reason: str) -> Refund:
    """Refund a delivered order of this customer in full."""
    with connect() as db:
        done = _written_before(db, "refunds", ctx)
        if done is None:
            order = _order(db, order_id, ctx)
            if order.refunded:
                raise ToolError(f"order {order.order_id} was already refunded")
            if order.status != "delivered":
                raise ToolError(f"order {order.order_id} is {order.status}, not delivered yet")
            decided = ctx.approval
            done = db.execute(
                "INSERT INTO refunds (order_id, cents, reason, idempotency_key,"
                " arguments_digest, approved_by, approval_reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (
                    order.order_id,
                    round(order.amount * 100),
                    reason,
                    ctx.idempotency_key,
                    ctx.arguments_digest,
                    decided and decided.approver,
                    decided and decided.reason,
                ),
            ).fetchone()
        return Refund(
            refund_id=done["id"], order_id=done["order_id"], amount=done["cents"] / 100,
            reason=done["reason"],
        )  # fmt: skip


@tool(side_effects=True)
def notify(ctx: ToolContext, to: str, text: str) -> Notice:
    """Send this customer a notice (only to their own address)."""
    with connect() as db:
        email = db.execute(
            "SELECT email FROM customers WHERE id = ?", (_acting_for(ctx),)
        ).fetchone()[0]
        if to.strip().lower() != email.lower():
            raise ToolError("notices go only to this conversation's customer, at their address")
        db.execute(
            "INSERT INTO notices (to_address, text, idempotency_key, arguments_digest)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
            (email, text, ctx.idempotency_key, ctx.arguments_digest),
        )
        sent = _written_before(db, "notices", ctx)
        assert sent is not None
        return Notice(notice_id=sent["id"], to=sent["to_address"])


def _acting_for(ctx: ToolContext) -> str:
    """Whose data this call may touch: the run's starter says, never the model."""
    if ctx.acting_for:
        return ctx.acting_for
    raise ToolError("this conversation acts for no customer, so no order can be looked at")


def _written_before(db: sqlite3.Connection, table: str, ctx: ToolContext) -> sqlite3.Row | None:
    """The row this call wrote under its idempotency key (a retry finds it), or None. A
    row found under the key with other arguments is refused, never answered with."""
    row: sqlite3.Row | None = db.execute(
        f"SELECT * FROM {table} WHERE idempotency_key = ?", (ctx.idempotency_key,)
    ).fetchone()
    if row is not None and row["arguments_digest"] not in (None, ctx.arguments_digest):
        raise ToolError(
            "this call's idempotency key was already used with other arguments; nothing was done"
        )
    return row


def _order(db: sqlite3.Connection, order_id: str, ctx: ToolContext) -> Order:
    found = db.execute(
        "SELECT o.id AS order_id, o.item, o.cents / 100.0 AS amount, o.status,"
        " EXISTS (SELECT 1 FROM refunds WHERE refunds.order_id = o.id) AS refunded,"
        " c.name AS customer_name, c.email AS customer_email"
        " FROM orders AS o JOIN customers AS c ON o.customer = c.id"
        " WHERE o.id = ? AND o.customer = ?",
        (order_id.strip().upper(), _acting_for(ctx)),
    ).fetchone()
    if found is None:  # another customer's order reads the same as none at all
        raise ToolError(f"order {order_id!r} not found")
    return Order.model_validate(dict(found))


ORDER_DESK = Agent(
    name=DESK_AGENT,
    instructions=(
        "You are the order desk of a small shop. Look an order up before saying anything "
        "about it, refund it if the customer asks, then notify them. Answer in a sentence."
    ),
    tools=[lookup_order, issue_refund, notify],
)
ORDER_TRIAGE = Agent(
    name=TRIAGE_AGENT,
    instructions="Read the customer's request: is it for a refund, of which order, and why?",
    output_type=Triage,
)
REGISTRY = AgentRegistry([ORDER_DESK, ORDER_TRIAGE], workflows=[OrderRefundFlow])
# The desk with refunds that need no person: for tests about something else (secrets,
# logs, the web UI) that must run to the end unattended.
UNATTENDED = AgentRegistry(
    [
        dataclasses.replace(
            ORDER_DESK,
            tools=[lookup_order, tool(side_effects=True)(issue_refund.fn), notify],
        )
    ]
)
# The desk whose chats continue-as-new after every two model calls (about a question
# a run), for tests of what crosses runs.
SHORT_RUNS = AgentRegistry(
    [dataclasses.replace(ORDER_DESK, continue_as_new_turns=2), ORDER_TRIAGE],
    workflows=[OrderRefundFlow],
)
# The desk whose refunds a judge model reviews (`JUDGE`), asking a person when it does
# not approve: for the tests of a judge's call across worker crashes.
JUDGE = Judge(name="refund-judge")
JUDGED_REGISTRY = AgentRegistry(
    [
        dataclasses.replace(
            ORDER_DESK,
            approval_policy=ApprovalPolicy(rules=[Rule.ask_judge("refunds")], judge=JUDGE),
        )
    ]
)
# The desk with its model called in local activities, under the same name.
LOCAL_REGISTRY = AgentRegistry(
    [dataclasses.replace(ORDER_DESK, llm=LlmPolicy(local_activity=True)), ORDER_TRIAGE],
    workflows=[OrderRefundFlow],
)

ORDER_ID = re.compile(r"\b([A-Z]-\d{3,6})\b", re.IGNORECASE)
WANTS_REFUND = re.compile(r"refund|money back|broken|damaged|faulty", re.IGNORECASE)


def refund_prompt(order: str) -> str:
    return f"Order {order} arrived broken, I want my money back."


def order_desk_script(messages: list[dict[str, Any]]) -> Step:
    """The desk's next step, from the request's messages: look the order up, refund it
    if asked, notify the customer, answer."""
    request, done = _this_request(messages)
    named = ORDER_ID.search(request)
    if named is None:
        return say("Could you tell me your order number? It looks like A-1001.")
    order_id = named.group(1).upper()
    looked_up, refunded = done.get("lookup_order"), done.get("issue_refund")
    if looked_up is None:
        return call_tools(("lookup_order", {"order_id": order_id}))
    if looked_up.startswith("Error:"):
        return say(f"I couldn't find order {order_id}. Could you check the number?")
    order = json.loads(looked_up)
    if WANTS_REFUND.search(request) is None:
        return say(f"Order {order_id} ({order['item']}) is {order['status']}. Anything else?")
    if refunded is None:
        return call_tools(("issue_refund", {"order_id": order_id, "reason": request[:200]}))
    if refunded.startswith("Error:"):
        why = refunded.removeprefix("Error: ").rstrip(".")
        return say(f"I'm sorry, I can't refund order {order_id}: {why}.")
    what = f"${json.loads(refunded)['amount']:.2f} for your {order['item']} (order {order_id})"
    if "notify" not in done:
        return call_tools(("notify", {"to": order["customer_email"], "text": f"Refunded {what}."}))
    return say(f"I've refunded {what} and notified {order['customer_email']}.")


def triage_script(messages: list[dict[str, Any]]) -> Say:
    """The triage step's reading of the request (the last user message)."""
    request = str([m for m in messages if m["role"] == "user"][-1]["content"])
    named = ORDER_ID.search(request)
    return say(
        Triage(
            order_id=named.group(1).upper() if named else None,
            wants_refund=bool(WANTS_REFUND.search(request)),
            reason=" ".join(request.split())[:80],
        ).model_dump_json()
    )


SCRIPTS: dict[str, Responder] = {
    ORDER_DESK.name: order_desk_script,
    ORDER_TRIAGE.name: triage_script,
}


def _this_request(messages: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """The latest user message, and what each tool called since answered: the last line
    of its latest result (a call approved with edited arguments has a note before it)."""
    start = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    called: dict[str, str] = {}
    answered: dict[str, str] = {}
    for m in messages[start + 1 :]:
        called.update({c["id"]: c["function"]["name"] for c in m.get("tool_calls") or []})
        if m.get("role") == "tool" and m.get("tool_call_id") in called:
            answered[called[m["tool_call_id"]]] = str(m.get("content") or "").splitlines()[-1]
    return str(messages[start].get("content") or ""), answered


async def start_refund(
    client: Client, queue: str, order: str, *, approve: bool = True
) -> AgentHandle:
    """An order-desk run for SEEDED_CUSTOMER asking to refund `order`, with the order in
    its id, and (unless `approve` is False) a person who approves that refund when the
    run asks, whatever dies meanwhile."""
    run = await AgentRun.start(
        client, ORDER_DESK, refund_prompt(order), id=f"{queue}-{order}", task_queue=queue,
        acting_for=SEEDED_CUSTOMER,
    )  # fmt: skip
    if approve:
        approve_when_asked(run)
    return run.handle

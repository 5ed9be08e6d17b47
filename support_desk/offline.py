"""The offline scripted model's part in the demo: a plausible support conversation.

It reads the conversation so far and picks the next step the way a good model would:
look the order up, read the policy, refund if allowed, email the customer, answer.
It is a script, not a model, and every answer says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tether.testing import OFFLINE_NOTE, Say, Step, call_tools, say

ORDER_ID = re.compile(r"\b([A-Z]-\d{3,6})\b", re.IGNORECASE)
WANTS_REFUND = re.compile(r"refund|money back|broken|damaged|faulty|return", re.IGNORECASE)


def support_desk_responder(messages: list[dict[str, Any]]) -> Step:
    """Next step of the support conversation, from the messages of the request."""
    last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    request = str(messages[last_user].get("content") or "")
    results = _tool_results(messages[last_user + 1 :])

    match = ORDER_ID.search(request)
    if match is None:
        return answer("Could you tell me your order number? It looks like A-1001.")
    order_id = match.group(1).upper()

    if "lookup_order" not in results:
        return call_tools(("lookup_order", {"order_id": order_id}))
    order = _json(results["lookup_order"])
    if order is None:
        return answer(f"I couldn't find order {order_id}. Could you check the number?")
    if not WANTS_REFUND.search(request):
        return answer(
            f"Order {order_id} ({order['item']}) is {order['status']}. Anything else I can do?"
        )
    if "get_refund_policy" not in results:
        return call_tools(("get_refund_policy", {}))
    if "issue_refund" not in results:
        return call_tools(
            ("issue_refund", {"order_id": order_id, "reason": request[:200]}),
        )
    refund = _json(results["issue_refund"])
    if refund is None:
        why = results["issue_refund"].removeprefix("Error: ").rstrip(".")
        return answer(f"I'm sorry, I can't refund order {order_id}: {why}.")
    if "send_email" not in results:
        return call_tools(
            (
                "send_email",
                {
                    "to": order["customer_email"],
                    "subject": f"Your refund for order {order_id}",
                    "body": (
                        f"Hi {order['customer_name']},\n\nWe have refunded "
                        f"${refund['amount']:.2f} for your {order['item']} (order {order_id}). "
                        "It will reach your original payment method in 3-5 business days."
                        "\n\nThe support desk"
                    ),
                },
            )
        )
    return answer(
        f"I've refunded ${refund['amount']:.2f} for your {order['item']} (order {order_id}) "
        f"and emailed a confirmation to {order['customer_email']}."
    )


def answer(text: str) -> Say:
    return say(f"{text}\n{OFFLINE_NOTE}")


def _tool_results(messages: list[dict[str, Any]]) -> dict[str, str]:
    """Tool name -> its latest result text, for the calls made since the user spoke.
    A call a person approved with edited arguments has a note before its result (the
    model is told); the shop's tools answer in one line, the last."""
    names: dict[str, str] = {}
    results: dict[str, str] = {}
    for m in messages:
        for call in m.get("tool_calls") or []:
            names[call["id"]] = call["function"]["name"]
        if m.get("role") == "tool" and m.get("tool_call_id") in names:
            content = str(m.get("content") or "")
            results[names[m["tool_call_id"]]] = content.rsplit("\n", 1)[-1]
    return results


def _json(text: str) -> dict[str, Any] | None:
    """A tool's result as an object, or None when the tool reported an error."""
    if text.startswith("Error:"):
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None

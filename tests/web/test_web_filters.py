"""The inbox's filter: by agent, tool, run, age and any argument (numbers as numbers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tether import PendingApproval
from tether._web.access import RunInfo
from tether._web.filters import FilterError, matching, parse
from tether._web.runs import WaitingCall

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def waiting(agent: str, tool: str, minutes: int, **arguments: object) -> WaitingCall:
    call = PendingApproval(
        call_id=f"call-{agent}-{minutes}",
        tool=tool,
        arguments=json.dumps(arguments),
        turn=1,
        expires_at=NOW + timedelta(days=1),
        since=NOW - timedelta(minutes=minutes),
    )
    return WaitingCall(RunInfo(f"{agent}-{minutes}", agent), call, None, [])


CALLS = [
    waiting("order-desk", "issue_refund", 5, order_id="A-1001", amount=42.0),
    waiting("order-desk", "issue_refund", 90, order_id="A-1002", amount=180),
    waiting("billing", "credit", 30, customer={"id": "C-7"}, amount="12.5", note="arrived broken"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["order-desk-5", "order-desk-90", "billing-30"]),
        ("agent=billing", ["billing-30"]),
        ("tool!=credit", ["order-desk-5", "order-desk-90"]),
        ("amount>=100", ["order-desk-90"]),
        ("amount<50", ["order-desk-5", "billing-30"]),  # "12.5" compares as a number
        ("age>10m", ["order-desk-90", "billing-30"]),
        ("age<=1h agent=order-desk", ["order-desk-5"]),
        ("order_id=A-1001", ["order-desk-5"]),
        ("order_id~a-100", ["order-desk-5", "order-desk-90"]),
        ("customer.id=C-7", ["billing-30"]),
        ('note~"arrived broken"', ["billing-30"]),
        ("order_id!=A-1001", ["order-desk-90", "billing-30"]),  # no order_id: not equal
        ("run=billing-30", ["billing-30"]),
    ],
)
def test_the_filter_finds_the_calls_it_names(text: str, expected: list[str]) -> None:
    found = matching(CALLS, parse(text), NOW)
    assert [c.run.workflow_id for c in found] == expected


@pytest.mark.parametrize("text", ["amount", "age>soon", 'reason~"open', "=5"])
def test_a_filter_it_cannot_read_is_named(text: str) -> None:
    with pytest.raises(FilterError):
        parse(text)


def test_the_inbox_says_how_long_a_call_has_waited() -> None:
    waited = [waiting("a", "t", minutes).waited(NOW) for minutes in (0, 5, 90, 3000)]
    assert waited == ["0 s", "5 min", "1 h", "2 d"]

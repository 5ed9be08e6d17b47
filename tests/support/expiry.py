"""When a waiting approval expires, read off this process's clock: the order desk's
refund asked with a known approval timeout, and the ways its expiry may be shown (now +
the timeout, now being when the call was asked). A page or feed that shows the run's own
`expires_at` instead would agree with a wrong expiry; these do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from tests.support.ledger import CUSTOMER
from tests.support.order_desk import ORDER_DESK, refund_prompt
from tether import AgentRun, PendingApproval

TIMEOUT = timedelta(hours=5)
SLACK = timedelta(seconds=2)  # the server's clock and this process's
ORDER = "A-1001"


def shown(moment: datetime) -> str:
    return f"until {moment:%Y-%m-%d %H:%M} UTC"


def clock_expiries(before: datetime, after: datetime) -> set[str]:
    """How the expiry may be shown: now + TIMEOUT, now being when the call was asked."""
    return {shown(before + TIMEOUT), shown(after + TIMEOUT)}


async def asked(client: Client, queue: str) -> tuple[AgentRun, PendingApproval, set[str]]:
    """An order-desk refund of ORDER (for CUSTOMER) waiting for approval on `queue`, its
    call, and how its expiry may be shown by this clock."""
    before = datetime.now(UTC)
    run = await AgentRun.start(
        client,
        ORDER_DESK,
        refund_prompt(ORDER),
        task_queue=queue,
        acting_for=CUSTOMER,
        approval_timeout=TIMEOUT,
    )
    [call] = await run.wait_for_approval()
    after = datetime.now(UTC)
    assert before + TIMEOUT - SLACK <= call.expires_at <= after + TIMEOUT + SLACK
    return run, call, clock_expiries(before, after)

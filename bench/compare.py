"""Agent or pipeline? `python -m bench.compare [--tickets N] [--json] [--save FILE]`.

Runs the same support tickets (bench/tickets.py) through the support desk agent and
through the refund pipeline, one ticket at a time, each path on a fresh copy of the shop,
and reports per path: correct outcomes, LLM calls, tokens, wall time and approvals asked.
A ticket counts as correct when the shop's database holds what it should — a refund and
a confirmation email to the customer exactly when the ticket expects a refund — and the
run ended well: the agent `completed`, the pipeline with the expected outcome. The
harness answers approvals as the ticket says: it rejects where a rejection is expected
and approves otherwise.

It starts a Temporal dev server (free ports, a temp database) and a worker in this
process, and uses the model from OPENAI_BASE_URL / OPENAI_API_KEY / TETHER_MODEL, or,
with neither OPENAI_* variable set, the offline scripted model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from activities.shop_db import connect
from bench.run import dev_server, machine
from bench.tickets import TICKETS, Ticket, seed
from support_desk import REGISTRY
from support_desk.scripts import SCRIPTS
from tether import (
    AgentResult,
    ApprovalDecision,
    ApproverKeys,
    ConfigurationError,
    LlmSettings,
    PendingApproval,
    Signer,
)
from tether import _logs as logs
from tether._cli.follow import Approver, approvals_only, follow
from tether._process import exit_now
from tether._run_io import AgentInput
from tether.testing import ScriptedLLM
from tether.worker import create_worker
from tether.workflow import AgentWorkflow
from workflows.refund_pipeline import RefundPipelineWorkflow
from workflows.refund_pipeline_types import RefundResult, RefundTicket

Way = Literal["agent", "pipeline"]
PATHS: tuple[Way, ...] = ("agent", "pipeline")
RUN_TIMEOUT_S = 600.0  # one ticket, however slow the model; a stuck run is reported


@dataclass
class TicketRun:
    path: Way
    ticket: str
    expect: str
    got: str  # the agent's status, or the pipeline's outcome
    correct: bool
    llm_calls: int
    tokens: int
    approvals: int
    seconds: float
    workflow_id: str


@dataclass
class PathSummary:
    path: Way
    tickets: int
    correct: int
    llm_calls: int
    tokens: int
    approvals: int
    total_s: float
    median_s: float
    wrong: list[str]


# Signs the bench's decisions; its worker trusts this key alone.
SIGNER = Signer.generate(name="bench")


class Decider(Approver):
    """Answers each approval as the ticket expects, and counts them."""

    def __init__(self, workflow_id: str, *, approve: bool) -> None:
        super().__init__(workflow_id, signer=SIGNER)
        self.approve = approve
        self.asked = 0

    async def _decide(self, call: PendingApproval) -> ApprovalDecision:
        self.asked += 1
        return ApprovalDecision(
            call_id=call.call_id,
            approve=self.approve,
            reason="bench",
            digest=call.digest,
            approver="bench",
        )


async def compare(
    client: Client, llm: LlmSettings, tickets: list[Ticket], shop_dir: Path
) -> list[TicketRun]:
    """Every ticket through both paths, on a worker of this process; one line per
    finished ticket on stderr."""
    worker = create_worker(
        client,
        REGISTRY,
        llm=llm,
        queue=f"compare-{uuid.uuid4().hex[:8]}",
        approver_keys=ApproverKeys(keys={SIGNER.public_key: ["bench"]}),
    )
    runs = []
    async with worker:
        for path in PATHS:
            with shop(shop_dir / f"{path}.db", tickets):
                for i, ticket in enumerate(tickets, 1):
                    run = await asyncio.wait_for(
                        run_ticket(client, worker.task_queue, path, ticket), RUN_TIMEOUT_S
                    )
                    runs.append(run)
                    mark = "✓" if run.correct else "✗"
                    print(
                        f"{path:8} {i:2}/{len(tickets)} {mark} {run.got:13} "
                        f"{run.llm_calls} calls {run.seconds:5.2f} s  {ticket.text}",
                        file=sys.stderr,
                        flush=True,
                    )
    return runs


@contextmanager
def shop(db: Path, tickets: list[Ticket]) -> Iterator[None]:
    """A fresh shop with the tickets' orders, where the worker's tools find it."""
    seed(db, tickets)
    before = os.environ.get("TETHER_SHOP_DB")
    os.environ["TETHER_SHOP_DB"] = str(db)  # the tools read it on every call
    try:
        yield
    finally:
        if before is None:
            del os.environ["TETHER_SHOP_DB"]
        else:
            os.environ["TETHER_SHOP_DB"] = before


async def run_ticket(client: Client, queue: str, path: Way, ticket: Ticket) -> TicketRun:
    workflow_id = f"compare-{path}-{uuid.uuid4().hex[:8]}"
    decider = Decider(workflow_id, approve=ticket.expect != "rejected")
    started = time.perf_counter()
    # The run acts for the ticket's customer (one who has no such order, if it names none).
    customer = ticket.order.customer if ticket.order else "C-1"
    handle: WorkflowHandle[Any, Any]
    if path == "agent":
        handle = await client.start_workflow(
            AgentWorkflow.run,
            AgentInput(agent="support-desk", acting_for=customer, prompt=ticket.text),
            id=workflow_id,
            task_queue=queue,
        )
    else:
        handle = await client.start_workflow(
            RefundPipelineWorkflow.run,
            RefundTicket(text=ticket.text, acting_for=customer),
            id=workflow_id,
            task_queue=queue,
        )
    result: AgentResult | RefundResult | None
    try:
        result = await follow(handle, decider, approvals_only(handle))
    except WorkflowFailureError:
        result = None  # a failed run: a wrong outcome, with what it cost unknown here
    seconds = time.perf_counter() - started
    if result is None:
        got, ended_well, calls, tokens = "failed", False, 0, 0
    elif isinstance(result, AgentResult):
        got, ended_well = result.status, result.status == "completed"
        calls, tokens = result.turns, result.usage.total_tokens  # a turn is one model call
    else:
        got, ended_well = result.outcome, result.outcome == ticket.expect
        calls, tokens = result.llm_calls, result.usage.total_tokens
    return TicketRun(
        path=path,
        ticket=ticket.text,
        expect=ticket.expect,
        got=got,
        correct=ended_well and shop_as_expected(ticket, workflow_id),
        llm_calls=calls,
        tokens=tokens,
        approvals=decider.asked,
        seconds=seconds,
        workflow_id=workflow_id,
    )


def shop_as_expected(ticket: Ticket, workflow_id: str) -> bool:
    """A refund by this run exactly when one is expected, and then an email to the
    customer (an email on another outcome is no error: a reply may go by email)."""
    mine = (f"%:{workflow_id}:%",)  # keys are namespace:workflow id:run id:turn:call id
    with connect() as db:
        refunds = db.execute("SELECT order_id FROM refunds WHERE idempotency_key LIKE ?", mine)
        refunded = [row["order_id"] for row in refunds]
        emails = db.execute("SELECT to_address FROM outbox WHERE idempotency_key LIKE ?", mine)
        emailed = {row["to_address"] for row in emails}
    if ticket.expect != "refunded":
        return refunded == []
    assert ticket.order is not None
    return refunded == [ticket.order.order_id] and ticket.email in emailed


def summarise(runs: list[TicketRun]) -> list[PathSummary]:
    summaries = []
    for path in PATHS:
        mine = [r for r in runs if r.path == path]
        summaries.append(
            PathSummary(
                path=path,
                tickets=len(mine),
                correct=sum(r.correct for r in mine),
                llm_calls=sum(r.llm_calls for r in mine),
                tokens=sum(r.tokens for r in mine),
                approvals=sum(r.approvals for r in mine),
                total_s=sum(r.seconds for r in mine),
                median_s=statistics.median(r.seconds for r in mine),
                wrong=[
                    f"{r.ticket} (expected {r.expect}, got {r.got})" for r in mine if not r.correct
                ],
            )
        )
    return summaries


def markdown(summaries: list[PathSummary], model: str, info: dict[str, str]) -> str:
    lines = [
        f"Model `{model}` · {info['cpus']} cores · Python {info['python']} · "
        f"load average {info['load_average']}",
        "",
        "| path | correct | LLM calls | tokens | approvals asked | wall time | median per ticket |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summaries:
        lines.append(
            f"| {s.path} | {s.correct}/{s.tickets} | {s.llm_calls} | {s.tokens:,} | "
            f"{s.approvals} | {s.total_s:.1f} s | {s.median_s:.2f} s |"
        )
    for s in summaries:
        lines += [f"\n{s.path} got wrong: {w}" for w in s.wrong]
    return "\n".join(lines)


async def run_all(tickets: list[Ticket]) -> tuple[str, list[TicketRun]]:
    """The model's name and the runs, on a dev server and (offline) a scripted model
    of their own."""
    settings = LlmSettings.from_env()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tether-compare-")))
        if settings.offline:
            llm = stack.enter_context(ScriptedLLM(scripts=SCRIPTS))
            settings = LlmSettings(
                base_url=llm.base_url, api_key="offline", model=settings.model, offline=True
            )
        async with dev_server(tmp) as server:
            return settings.model, await compare(server.client, settings, tickets, tmp)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tickets",
        type=int,
        default=len(TICKETS),
        choices=range(1, len(TICKETS) + 1),
        metavar=f"1..{len(TICKETS)}",
        help=f"the first N tickets (default all {len(TICKETS)}; the first 6 cover each outcome)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--save", metavar="FILE", help="also write the JSON report here")
    args = parser.parse_args(argv)
    logs.configure("WARNING")  # to stderr, with the progress; the report is stdout's
    try:
        model, runs = asyncio.run(run_all(TICKETS[: args.tickets]))
    except ConfigurationError as e:
        print(f"bench.compare: {e}", file=sys.stderr)
        return 2
    summaries = summarise(runs)
    info = machine()
    report = {
        "model": model,
        "machine": info,
        "paths": [asdict(s) for s in summaries],
        "runs": [asdict(r) for r in runs],
    }
    if args.save:
        Path(args.save).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2) if args.json else markdown(summaries, model, info))
    return 0


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))

"""`eval`: run a dataset through agents and workflows as a durable evaluation; `eval
--resume ID` goes on with one; `eval status ID` says where one is (the parser is in
command.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client

from tether._agents import load_registry
from tether._cli.common import PROG, UserError, cli_signer
from tether._cli.worker import offline_model
from tether._evals.dataset import evaluator_types, parse_dataset, read_dataset
from tether._evals.model import CaseResult, Target
from tether._evals.progress import ProgressView
from tether._evals.report import EvalReport, build_report
from tether._evals.runner import recorded_input
from tether._evals.text import render_text
from tether._pricing import PriceTable
from tether._settings import ConfigurationError
from tether._temporal import connect

ENDED_CHILD = (
    "child_workflow_execution_completed_event_attributes",
    "child_workflow_execution_failed_event_attributes",
    "child_workflow_execution_timed_out_event_attributes",
    "child_workflow_execution_canceled_event_attributes",
    "child_workflow_execution_terminated_event_attributes",
)


async def cmd_eval(args: argparse.Namespace) -> int:
    prices = _prices(args.prices)
    if args.what[:1] == ["status"]:
        if len(args.what) != 2:
            raise UserError("eval status takes one evaluation id: tether eval status ID")
        return await _status(await connect(), args.what[1], prices, as_json=args.json)
    if args.resume and args.what:
        raise UserError("--resume ID goes on with an evaluation: give no dataset with it")
    if not args.resume and len(args.what) != 1:
        raise UserError("name one dataset file: tether eval DATASET --target NAME")
    if not args.resume and not args.target:
        raise UserError("name what to evaluate with --target NAME (an agent) or workflow:TYPE")
    if args.offline is not None and not args.agents:
        raise UserError("--offline plays the agents --agents serves: give --agents too")
    if not 1 <= args.concurrency <= 100:
        raise UserError("--concurrency is between 1 and 100")
    try:
        targets = [Target.parse(t) for t in args.target]
    except ValueError as e:
        raise UserError(str(e)) from None
    from tether.evals import evaluate, resume

    if not args.resume:  # a mistake in the dataset is told before anything connects
        text, fmt = read_dataset(args.what[0])
        parse_dataset(text, fmt, name="dataset", evaluators=evaluator_types(args.evaluators))
    registry = load_registry(args.agents) if args.agents else None
    llm = offline_model(args.offline)
    signer = cli_signer()
    if signer is None and registry is None:
        print(
            f"{PROG[0]} eval: no TETHER_SIGNING_KEY: a call that waits for a person gets an "
            "unsigned decision, which a worker refuses unless TETHER_APPROVER_KEYS=unsigned",
            file=sys.stderr,
        )
    client = await connect()
    view = ProgressView()
    try:
        if args.resume:
            report = await resume(
                client, args.resume, agents=registry, llm=llm, signer=signer, prices=prices,
                on_progress=view,
            )  # fmt: skip
        else:
            report = await evaluate(
                client, args.what[0], targets, evaluators=args.evaluators, agents=registry,
                llm=llm, id=args.id, concurrency=args.concurrency, approvals=args.approvals,
                signer=signer, judge_model=args.judge_model, prices=prices, on_progress=view,
            )  # fmt: skip
    finally:
        view.close()
    _write(report, args)
    return 0


def _prices(path: str | None) -> PriceTable:
    if path is None:
        return PriceTable.from_env()
    try:
        return PriceTable(prices=json.loads(Path(path).read_text()))
    except OSError as e:
        raise UserError(f"cannot read prices {path}: {e.strerror}") from None
    except ValueError as e:
        raise UserError(
            f"prices {path}: not a JSON map of model to input/output USD: {e}"
        ) from None


def _write(report: EvalReport, args: argparse.Namespace) -> None:
    from tether._evals.html import render_html

    text = report.model_dump_json(indent=2)
    if args.save:
        Path(args.save).write_text(text)
    if args.html:
        Path(args.html).write_text(render_html(report))
    print(text if args.json else render_text(report))
    if args.html and not args.json:
        print(f"\nHTML report: {os.path.abspath(args.html)}", file=sys.stderr)


async def _status(client: Client, eval_id: str, prices: PriceTable, *, as_json: bool) -> int:
    """Where evaluation `eval_id` is: its report once it ended, its progress while it
    runs (read from its history when no worker answers)."""
    try:
        params, _ = await recorded_input(client, eval_id)
    except ConfigurationError as e:
        raise UserError(str(e)) from None
    except Exception as e:
        raise UserError(f"no evaluation {eval_id}: {e}") from None
    handle = client.get_workflow_handle(eval_id)
    info = (await handle.describe()).raw_description.workflow_execution_info
    total = len(params.cases) * len(params.targets)
    if info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED:
        results = [CaseResult.model_validate(r) for r in await handle.result()]
        report = build_report(eval_id, params, results, prices)
        print(report.model_dump_json(indent=2) if as_json else render_text(report))
        return 0
    ended = 0
    async for event in handle.fetch_history_events():
        ended += event.WhichOneof("attributes") in ENDED_CHILD
    status = WorkflowExecutionStatus.Name(info.status).removeprefix("WORKFLOW_EXECUTION_STATUS_")
    state: dict[str, Any] = {"id": eval_id, "status": status.lower(), "runs": total, "ended": ended}
    if as_json:
        print(json.dumps(state))
        return 0
    print(f"evaluation {eval_id} · {status.lower()} · {ended}/{total} runs ended")
    if status == "RUNNING":
        print(
            f"its worker runs in the `tether eval` that follows it; if none does: "
            f"tether eval --resume {eval_id}"
        )
    return 0 if status == "RUNNING" else 1

"""`replay`: does a run's history (from the server, or a JSON file) replay on the
current workflow code? The check a deploy needs before new workflow code meets old runs."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.runtime import Runtime, TelemetryConfig

from tether._agents import load_registry
from tether._cli.common import UserError, emit_json, explained, open_run
from tether._replay import NotAHistory, load_history, replay
from tether._temporal import data_converter
from tether._workflows.agent import AgentWorkflow


async def cmd_replay(args: argparse.Namespace) -> int:
    history = await fetch(args) if args.id is not None else read(args)
    # The verdict carries the reason: the SDK's own logs of the failure (a page of
    # Rust debug output and a Python traceback) would only bury it.
    logging.getLogger("temporalio").setLevel(logging.CRITICAL)
    quiet = Runtime(telemetry=TelemetryConfig(logging=None))
    workflows: list[type] = [AgentWorkflow]
    if args.agents:  # your own workflows (a pipeline's history needs its code)
        workflows += load_registry(args.agents).workflows
    [verdict] = await replay(
        [history], workflows=workflows, converter=data_converter(), runtime=quiet
    )
    if not verdict.compatible and "not registered" in (verdict.problem or ""):
        kind = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
        raise UserError(
            f"the history is a run of {kind}, whose code this command does not have: "
            "pass --agents MODULE:ATTR naming the registry that holds that workflow"
        )
    source = f"{args.file or 'run ' + history.workflow_id} ({len(history.events)} events)"
    if args.json:
        emit_json(
            {
                "workflow_id": history.workflow_id,
                "run_id": history.run_id,
                "events": len(history.events),
                "compatible": verdict.compatible,
                "problem": verdict.problem,
            }
        )
    elif verdict.compatible:
        print(f"compatible: {source} replays on the current workflow code")
    else:
        print(f"incompatible: {source}: {verdict.problem}")
    return 0 if verdict.compatible else 1


async def fetch(args: argparse.Namespace) -> WorkflowHistory:
    if args.file is not None:
        raise UserError("give a workflow id or --file, not both")
    _, handle = await open_run(args.id, args.run_id)
    with explained(args.id):
        return await handle.fetch_history()


def read(args: argparse.Namespace) -> WorkflowHistory:
    if args.file is None:
        raise UserError("give a workflow id, or --file PATH with an exported history")
    if args.run_id is not None:
        raise UserError("--run-id goes with a workflow id, not with --file")
    try:
        return load_history(Path(args.file))
    except NotAHistory as e:
        raise UserError(str(e)) from None

"""The `eval` command's options (light: the command itself is imported when it runs)."""

from __future__ import annotations

import argparse


async def cmd_eval(args: argparse.Namespace) -> int:
    from tether._evals.cli import cmd_eval

    return await cmd_eval(args)


def add_eval_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help = "run a dataset's cases through agents and workflows, scored and compared"
    sub = commands.add_parser("eval", help=help, description=help)
    sub.set_defaults(run=cmd_eval)
    sub.add_argument(
        "what", nargs="*", metavar="DATASET | status ID", help="a dataset file, or `status ID`"
    )
    sub.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME | workflow:TYPE",
        help="an agent, or a workflow taking a PipelineInput, with @QUEUE for another "
        "task queue (repeat for each; default queue TETHER_TASK_QUEUE)",
    )
    sub.add_argument("--resume", metavar="ID", help="go on with evaluation ID where it was")
    sub.add_argument("--evaluators", metavar="MODULE", help="the module of your evaluators")
    sub.add_argument(
        "--agents",
        metavar="MODULE:ATTR",
        help="serve these agents and workflows in this process (no worker needed)",
    )
    sub.add_argument(
        "--offline",
        nargs="?",
        const="",
        metavar="SCRIPTS",
        help="with --agents: the offline scripted model plays them (SCRIPTS: MODULE:ATTR)",
    )
    sub.add_argument("--id", help="the evaluation's workflow id (default eval-<random>)")
    sub.add_argument("--concurrency", type=int, default=4, help="runs at a time (4)")
    sub.add_argument(
        "--approvals",
        choices=("approve", "reject"),
        default="approve",
        help="answer calls that wait for a person so in cases whose metadata says nothing",
    )
    sub.add_argument("--judge-model", metavar="MODEL", help="the model an LLMJudge asks")
    sub.add_argument(
        "--prices", metavar="FILE", help="prices per model (JSON, as TETHER_PRICES) for cost"
    )
    sub.add_argument("--json", action="store_true", help="print the report as JSON")
    sub.add_argument("--html", metavar="FILE", help="also write the report as an HTML page")
    sub.add_argument("--save", metavar="FILE", help="also write the report as JSON")

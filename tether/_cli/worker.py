"""`worker`: serve the agents a `MODULE:ATTR` names (or TETHER_AGENTS)."""

from __future__ import annotations

import argparse
import os

from tether._agents import AgentRegistry, ModuleMissing, load_registry
from tether._logs import configure as configure_logs
from tether._settings import ConfigurationError
from tether._worker import WorkerConfig, serve

# What `tether worker` serves with no --agents, when it is importable: the demo of
# Tether's own repository (run from its root).
DEMO_AGENTS = "support_desk:REGISTRY"


def add_worker_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help = "run a worker for your agents (until Ctrl-C / SIGTERM)"
    sub = commands.add_parser("worker", help=help, description=help)
    sub.set_defaults(run=cmd_worker)
    sub.add_argument(
        "--agents",
        metavar="MODULE:ATTR",
        default=os.environ.get("TETHER_AGENTS"),
        help="an AgentRegistry or a list of Agents, e.g. myapp.agents:REGISTRY; the module "
        "is imported with the working directory on the path (default: TETHER_AGENTS)",
    )


def registry_named(target: str | None) -> AgentRegistry:
    """The agents `--agents` names, else the demo's if importable from here."""
    if target:
        return load_registry(target)
    try:
        return load_registry(DEMO_AGENTS)
    except ModuleMissing:
        raise ConfigurationError(
            "no agents to serve: name them with --agents MODULE:ATTR (or TETHER_AGENTS), "
            "e.g. tether worker --agents myapp.agents:REGISTRY"
        ) from None


async def cmd_worker(args: argparse.Namespace) -> int:
    configure_logs()
    registry = registry_named(args.agents)
    config = WorkerConfig.from_env()
    with config.telemetry.exporting():
        await serve(registry, config)
    return 0

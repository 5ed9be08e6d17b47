"""`worker`: serve the agents a `MODULE:ATTR` names (or TETHER_AGENTS)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from tether._agents import AgentRegistry, ModuleMissing, load_registry, load_target
from tether._cli.common import UserError
from tether._liveness import DEFAULT_MAX_AGE_SECONDS, check
from tether._logs import configure as configure_logs
from tether._settings import ConfigurationError, Deployment, LlmSettings
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
        "is looked for in the installed packages, then the working directory (default: "
        "TETHER_AGENTS)",
    )
    sub.add_argument(
        "--offline",
        nargs="?",
        const="",
        default=os.environ.get("TETHER_OFFLINE") or None,
        metavar="SCRIPTS",
        help="play the agents with the offline scripted model instead of a real one; "
        "SCRIPTS (MODULE:ATTR) names a mapping of agent name to responder "
        "(default: TETHER_OFFLINE, '1' for no scripts)",
    )
    sub.add_argument(
        "--deployment",
        metavar="NAME",
        help="a Worker Deployment: runs pinned to this worker's build "
        "(default: TETHER_DEPLOYMENT_NAME; needs --build-id)",
    )
    sub.add_argument(
        "--build-id", metavar="ID", help="this worker's build (default: TETHER_BUILD_ID)"
    )
    sub.add_argument(
        "--graceful-shutdown",
        type=float,
        metavar="SECONDS",
        help="on SIGTERM, let in-flight model calls and tools finish for up to SECONDS "
        "before cancelling them (default: TETHER_GRACEFUL_SHUTDOWN_SECONDS, else 60)",
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
    config = WorkerConfig.from_env(offline_model(args.offline))
    if args.deployment or args.build_id:
        name = args.deployment or (config.deployment.name if config.deployment else "")
        build = args.build_id or (config.deployment.build_id if config.deployment else "")
        config = dataclasses.replace(config, deployment=Deployment(name, build))
    if args.graceful_shutdown is not None:
        tuning = dataclasses.replace(
            config.tuning, graceful_shutdown=timedelta(seconds=args.graceful_shutdown)
        )
        config = dataclasses.replace(config, tuning=tuning)
    with config.telemetry.exporting():
        await serve(registry, config)
    return 0


def offline_model(offline: str | None) -> LlmSettings | None:
    """The offline model `--offline [SCRIPTS]` asks for (None: not asked)."""
    if offline is None:
        return None
    if offline.strip() in ("", "1", "true"):
        return LlmSettings.scripted()
    scripts = load_target(offline, option="--offline")
    if not isinstance(scripts, Mapping) or not all(callable(s) for s in scripts.values()):
        raise ConfigurationError(
            f"--offline {offline}: not a mapping of agent name to responder "
            "(a function of the messages that returns a step, see tether.testing)"
        )
    return LlmSettings.scripted(scripts)


def add_health_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help = "whether a worker is alive (TETHER_LIVENESS_FILE fresh): exit 0 alive, 1 not"
    sub = commands.add_parser("health", help=help, description=help)
    sub.set_defaults(run=cmd_health)
    sub.add_argument(
        "--file",
        default=os.environ.get("TETHER_LIVENESS_FILE"),
        help="the worker's liveness file (default: TETHER_LIVENESS_FILE)",
    )
    sub.add_argument(
        "--max-age",
        type=float,
        default=DEFAULT_MAX_AGE_SECONDS,
        metavar="SECONDS",
        help="older than this is not alive (%(default)s)",
    )
    sub.add_argument("--kill", action="store_true", help="kill a worker that is not alive")


async def cmd_health(args: argparse.Namespace) -> int:
    if not args.file:
        raise UserError("name the liveness file with --file (or TETHER_LIVENESS_FILE)")
    alive, line = check(Path(args.file), max_age=args.max_age, kill=args.kill)
    print(line)
    return 0 if alive else 1

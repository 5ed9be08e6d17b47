"""Agent or pipeline? `python -m bench.compare [--tickets N] [--json] [--save FILE]
[--html FILE] [--concurrency N]`.

Runs `tether eval` on the support tickets (bench/tickets.yaml) with two targets: the
support desk agent and the refund pipeline, each served by a `tether worker` of its own
on a fresh copy of the shop, and prints the evaluation's report: per target, correct
runs (bench/evaluators.py: a refund and a confirmation email exactly when the ticket
expects one, and the run ended well), model calls, tokens, cost, wall time, approvals
asked, Temporal actions and history size, and a verdict. Costs are priced by
bench/prices.json (the offline model as gpt-4o-mini) unless TETHER_PRICES is set. Calls
that wait for a person are answered as each ticket says (rejected where a rejection is
expected), signed with a key the workers trust.

It starts a Temporal dev server (free ports, a temp database), and uses the model from
OPENAI_BASE_URL / OPENAI_API_KEY / TETHER_MODEL, or, with neither OPENAI_* variable
set, the offline scripted model.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.run import dev_server
from bench.tickets import dataset, seed, write_dataset
from support_desk.scripts import SCRIPTS
from tether import LlmSettings, Signer
from tether._process import exit_now, stop
from tether.testing import OFFLINE_MODEL, ScriptedLLM

ROOT = Path(__file__).resolve().parent.parent
TETHER = str(Path(sys.executable).parent / "tether")
TARGETS = {"agent": "support-desk", "pipeline": "workflow:RefundPipelineWorkflow"}
START_TIMEOUT_S = 120.0
PRICES = Path(__file__).with_name("prices.json")  # USD per million tokens
EVAL_IDENTITY = "tether-eval"  # the approver the evaluation's decisions are signed for


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`tether worker` for the demo's agents and pipeline, once it polls."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [TETHER, "worker", "--agents", "support_desk:REGISTRY"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"worker started" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the comparison's worker did not start:\n{tail}")
            time.sleep(0.1)
        yield proc
    finally:
        stop(proc)


def compare(
    address: str,
    model: Mapping[str, str],
    tmp: Path,
    *,
    tickets: int | None = None,
    eval_args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`tether eval` on the tickets (the first `tickets`) with `eval_args`, each target
    on a worker and shop of its own, against the Temporal server at `address` and the
    model `model` names (OPENAI_* variables)."""
    cases = dataset(tickets)["cases"]
    data = write_dataset(tmp / "tickets.yaml", tickets)
    signer = Signer.generate(tmp / "eval.key")
    (tmp / "allowed").write_text(f"{EVAL_IDENTITY} {signer.public_key}\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_"))}
    base.update(TEMPORAL_ADDRESS=address, PYTHONUNBUFFERED="1", **model)
    command = [TETHER, "eval", str(data), "--evaluators", "bench.evaluators"]
    with ExitStack() as stack:
        for path, target in TARGETS.items():
            queue = f"compare-{path}-{uuid.uuid4().hex[:6]}"
            seed(tmp / f"{path}.db", cases)
            env = base | {
                "TETHER_TASK_QUEUE": queue,
                "TETHER_SHOP_DB": str(tmp / f"{path}.db"),
                "TETHER_APPROVER_KEYS": str(tmp / "allowed"),
            }
            stack.enter_context(worker(env, tmp / f"worker-{path}.log"))
            command += ["--target", f"{target}@{queue}"]
        command += eval_args
        shown = [Path(c).name if c == TETHER else c for c in command]
        print(f"$ {shlex.join(shown)}", file=sys.stderr, flush=True)
        env = base | {"TETHER_SIGNING_KEY": str(tmp / "eval.key"), "TETHER_IDENTITY": EVAL_IDENTITY}
        return subprocess.run(command, env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE)


async def run(tickets: int | None, eval_args: list[str]) -> int:
    """The comparison on a dev server and (offline) a scripted model of its own."""
    settings = LlmSettings.from_env() if _configured() else None
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tether-compare-")))
        if settings is None:
            llm = stack.enter_context(ScriptedLLM(scripts=SCRIPTS))
            model = {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "offline"}
            model["TETHER_MODEL"] = OFFLINE_MODEL
        else:
            model = {k: v for k, v in os.environ.items() if k.startswith("OPENAI_")}
            model["TETHER_MODEL"] = settings.model
        async with dev_server(tmp) as server:
            address = server.client.service_client.config.target_host
            done = await asyncio.to_thread(
                compare, address, model, tmp, tickets=tickets, eval_args=eval_args
            )
        print(done.stdout, end="")
        return done.returncode


def _configured() -> bool:
    return bool(os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    total = len(dataset()["cases"])
    parser.add_argument(
        "--tickets",
        type=int,
        choices=range(1, total + 1),
        metavar=f"1..{total}",
        help=f"the first N tickets (default all {total}; the first 6 cover each outcome)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--save", metavar="FILE", help="also write the JSON report here")
    parser.add_argument("--html", metavar="FILE", help="also write the report as HTML here")
    parser.add_argument("--concurrency", type=int, default=4, help="runs at a time (4)")
    args = parser.parse_args(argv)
    eval_args = ["--concurrency", str(args.concurrency)]
    if not os.environ.get("TETHER_PRICES"):  # the offline model priced as gpt-4o-mini
        eval_args += ["--prices", str(PRICES)]
    eval_args += ["--json"] if args.json else []
    eval_args += ["--html", os.path.abspath(args.html)] if args.html else []
    eval_args += ["--save", os.path.abspath(args.save)] if args.save else []
    return asyncio.run(run(args.tickets, eval_args))


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))

"""Mutation testing of Tether's seams with Cosmic Ray: does a test fail when the code it
guards is changed? Run through `python3 dev.py mutate` (see the README's Tests).

    python3 dev.py mutate                      # every seam, 20 minutes
    python3 dev.py mutate tether/_codec.py --budget 5
    python3 dev.py mutate --changed            # the lines this branch changed from main
    python3 dev.py mutate --report             # the last results, nothing run

Each seam is a module and the test files that guard it (SEAMS). Cosmic Ray lists the
module's mutants (one small change each: `<` for `<=`, `not` added to a condition, a
number off by one, a `break` for a `continue`, ... see OPERATORS), each is applied alone
and the seam's tests run once (`-x`): a failing test kills the mutant, a run past its
timeout kills it too, and a mutant every test passes survived. A survivor is a gap to
close with a test, or an equivalent mutant (no behaviour changes) recorded with its
reason in tests/equivalent_mutants.toml, which the report then counts apart.

The mutants run in a copy of the working tree (.tether/mutate/tree), never in the
source, so an interrupted run leaves nothing mutated and the tree stays usable
meanwhile; one mutant at a time, since the machine is shared. Results are kept per
module in .tether/mutate/*.sqlite (Cosmic Ray sessions: `cr-report` and `cr-html` read
them too), so a run goes on where the last stopped: `--budget` bounds one run, not the
whole. A session starts again when its module changes; when its tests change, its
survivors are tried again.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from cosmic_ray.ast import ast_nodes, get_ast_from_path
from cosmic_ray.ast.ast_query import ASTQuery
from cosmic_ray.mutating import mutate_and_test
from cosmic_ray.plugins import get_operator, operator_names
from cosmic_ray.testing import run_tests
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import MutationSpec, TestOutcome, WorkerOutcome, WorkItem, WorkResult

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".tether" / "mutate"
TREE = STATE / "tree"
EQUIVALENT = ROOT / "tests" / "equivalent_mutants.toml"
NO_MUTATE = "pragma: no mutate"
T = "tests/"

# Each seam: the module, and the tests that guard it (the fast ones: a mutant runs
# them once, stopping at the first failure).
SEAMS: dict[str, tuple[str, ...]] = {
    "tether/_arguments.py": (T + "engine/test_arguments.py",),
    "tether/_workflows/approvals.py": (
        T + "engine/test_arguments.py",
        T + "engine/test_approval_expiry.py",
        T + "engine/test_approvals.py",
    ),
    "tether/_workflows/person_waits.py": (
        T + "engine/test_approvals.py",
        T + "engine/test_questions.py",
    ),
    "tether/_tools.py": (
        T + "engine/test_tools.py",
        T + "engine/test_arguments.py",
        T + "engine/test_payload_limits.py",
    ),
    # test_tool_execution.py too, once its test of a tool failing after its commit passes
    # again on main (its workflow fails the sandbox's validation there).
    "tether/_activities/tools.py": (
        T + "engine/test_limits_boundary.py",
        T + "engine/test_tool_scope.py",
    ),
    "tether/_codec.py": (T + "ops/test_key_rotation.py", T + "ops/test_secrets.py"),
    "tether/_storage.py": (
        T + "engine/test_limits_boundary.py",
        T + "ops/test_key_rotation.py",
        T + "ops/test_payload_store.py",
    ),
    "tether/_workflows/context.py": (
        T + "engine/test_context_fitting.py",
        T + "engine/test_context.py",
    ),
    "tether/_workflows/chat.py": (
        T + "engine/test_carry_over.py",
        T + "engine/test_conversations.py",
    ),
    "tether/_workflows/events.py": (T + "engine/test_carry_over.py",),
    "tether/_activities/mcp_tools.py": (T + "engine/test_mcp_errors.py",),
}

# Cosmic Ray's operators, less those that only multiply the runs: other arithmetic
# (`+` for `**`, `<<`, ...), comparisons that are not a boundary or a negation, unary
# swaps, decorators removed (a workflow without @workflow.defn fails every test) and
# variable renames.
OPERATORS = re.compile(
    r"core/("
    r"ReplaceComparisonOperator_(Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Lt_Gt|Gt_Lt|LtE_GtE|GtE_LtE"
    r"|Eq_NotEq|NotEq_Eq|Is_IsNot|IsNot_Is)"
    r"|ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Mul|Mod_FloorDiv)"
    r"|ReplaceUnaryOperator_(USub_UAdd|Delete_Not)"
    r"|AddNot|ReplaceTrueWithFalse|ReplaceFalseWithTrue|ReplaceAndWithOr|ReplaceOrWithAnd"
    r"|ReplaceBreakWithContinue|ReplaceContinueWithBreak|ExceptionReplacer|NumberReplacer"
    r"|ZeroIterationForLoop"
    r")$"
)
# Where an operator token is a signature's marker (keyword-only `*`), not arithmetic.
SIGNATURES = {"parameters", "lambdef", "varargslist"}
MIN_TIMEOUT = 60.0  # seconds a mutant's test run may take, at least
TIMEOUT_FACTOR = 3  # times the unmutated run's time


@dataclasses.dataclass(frozen=True)
class Mutant:
    """A finished mutant, as the report shows it."""

    module: str
    operator: str
    line: int
    before: str
    after: str
    outcome: str  # killed, timeout, survived, equivalent

    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.operator, self.before, self.after)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="modules to mutate (default: every seam)")
    parser.add_argument("--budget", type=float, default=20, help="minutes for this run")
    parser.add_argument(
        "--changed",
        nargs="?",
        const="main",
        metavar="BASE",
        help="mutate only the lines changed from BASE (default main)",
    )
    parser.add_argument("--report", action="store_true", help="print the last results only")
    args = parser.parse_args()
    try:
        modules = chosen(args.paths, args.changed)
    except ValueError as e:
        print(f"mutate: {e}", file=sys.stderr)
        return 2
    if not args.report:
        run(modules, args.budget * 60, args.changed)
    print(report(modules, args.changed))
    return 0


def chosen(paths: list[str], changed: str | None) -> dict[str, tuple[str, ...]]:
    """The modules to mutate, with their tests."""
    left_out = []
    if changed is not None:
        touched = git("diff", "--name-only", fork_point(changed), "--", "tether").split()
        paths = [p for p in touched if p.endswith(".py") and (ROOT / p).exists()]
        if not paths:
            raise ValueError(f"no module under tether/ changed from {changed}")
    modules: dict[str, tuple[str, ...]] = {}
    for path in paths or list(SEAMS):
        path = Path(path).resolve().relative_to(ROOT).as_posix()
        tests = SEAMS.get(path) or own_tests(path)
        if not tests and changed is None:
            raise ValueError(f"{path} is not a seam (see SEAMS in tests/mutate.py)")
        if tests:
            modules[path] = tests
        else:
            left_out.append(path)
    if left_out:
        print(f"mutate: no seam and no tests/*/test_<name>.py, left out: {', '.join(left_out)}")
    return modules


def fork_point(base: str) -> str:
    """Where this branch left `base`: what it changed is compared with that."""
    return git("merge-base", base, "HEAD").strip()


def own_tests(path: str) -> tuple[str, ...]:
    """The test files named after the module, in whichever folder of tests/ they are."""
    found = ROOT.glob(f"{T}*/test_{Path(path).stem.lstrip('_')}.py")
    return tuple(sorted(test.relative_to(ROOT).as_posix() for test in found))


def run(modules: dict[str, tuple[str, ...]], budget: float, changed: str | None) -> None:
    """Run pending mutants, round-robin over the modules, until none is left or the
    budget is spent (a mutant under way finishes)."""
    ends = time.monotonic() + budget
    copy_tree()
    os.chdir(TREE)
    os.environ["PYTHONPATH"] = str(TREE)  # before the editable install's finder
    queues: dict[str, list[WorkItem]] = {}
    timeouts: dict[str, float] = {}
    for module, tests in modules.items():
        timeout = prepare(module, tests, changed)
        if timeout is None:
            continue
        with use_db(str(session(module, changed)), WorkDB.Mode.open) as db:
            pending = sorted(db.pending_work_items, key=lambda w: w.mutations[0].occurrence)
        queues[module], timeouts[module] = pending, timeout
        print(f"mutate: {module}: {len(pending)} mutants pending", flush=True)
    while any(queues.values()) and time.monotonic() < ends:
        for module, pending in queues.items():
            if not pending or time.monotonic() >= ends:
                continue
            item = pending.pop(0)
            result = mutate_and_test(item.mutations, command(modules[module]), timeouts[module])
            with use_db(str(session(module, changed)), WorkDB.Mode.open) as db:
                db.set_result(item.job_id, result)
            mutation = item.mutations[0]
            outcome = "survived" if result.test_outcome == TestOutcome.SURVIVED else "killed"
            where = f"{module}:{mutation.start_pos[0]}"
            print(f"mutate: {where} {short(mutation.operator_name)} {outcome}", flush=True)
    left = sum(len(p) for p in queues.values())
    print(f"mutate: {'budget spent, ' + str(left) + ' mutants left' if left else 'done'}")


def copy_tree() -> None:
    """The working tree as it is (committed or not) in TREE, for the mutants."""
    listed = git("ls-files", "-co", "--exclude-standard").splitlines()
    if TREE.exists():
        shutil.rmtree(TREE)
    for name in listed:
        source = ROOT / name
        if source.is_file():
            target = TREE / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def prepare(module: str, tests: tuple[str, ...], changed: str | None) -> float | None:
    """Make the module's session ready; the timeout of one mutant's tests (None: the
    tests fail unmutated, so no mutant can be judged)."""
    path = session(module, changed)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    source, tested = digest([module]), digest(list(tests))
    fresh = changed is not None or meta.get("source") != source or not path.exists()
    if not fresh and meta.get("tests") == tested:
        return float(meta["timeout"])
    started = time.monotonic()
    outcome, output = run_tests(command(tests), None)
    if outcome != TestOutcome.SURVIVED:  # run_tests' word for "the tests passed"
        tail = "\n".join(output.splitlines()[-15:])
        print(f"mutate: {module}: its tests fail without a mutant, skipped:\n{tail}")
        return None
    timeout = max(MIN_TIMEOUT, TIMEOUT_FACTOR * (time.monotonic() - started))
    if fresh:
        init_session(module, path, changed)
    else:  # the tests changed: try the survivors again
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM work_results WHERE test_outcome IN ('SURVIVED', 'survived')")
    STATE.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps({"source": source, "tests": tested, "timeout": timeout}))
    return timeout


def init_session(module: str, path: Path, changed: str | None) -> None:
    """A new session with the module's mutants (with `changed`: on changed lines only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    lines = (ROOT / module).read_text().splitlines()
    wanted = changed_lines(module, changed) if changed is not None else None
    with use_db(str(path), WorkDB.Mode.create) as db:
        db.add_work_items(work_items(module, lines, wanted))


def work_items(module: str, lines: list[str], wanted: set[int] | None) -> list[WorkItem]:
    tree = get_ast_from_path(ROOT / module)
    items = []
    for name in operator_names():
        if not OPERATORS.match(name):
            continue
        operator = get_operator(name)()
        positions = (
            (node, start, end)
            for node in ast_nodes(tree)
            for start, end in operator.mutation_positions(node)
        )
        for occurrence, (node, start, end) in enumerate(positions):
            if NO_MUTATE in lines[start[0] - 1] or (wanted is not None and start[0] not in wanted):
                continue
            if node.type == "operator" and node.parent.type in SIGNATURES:
                continue  # `*` for `/` in `def f(a, *, b)`: the same calls work
            mutation = MutationSpec(
                module_path=module,
                operator_name=name,
                operator_args={},
                occurrence=occurrence,
                start_pos=start,
                end_pos=end,
                definition_name=ASTQuery(node).get_definition_name(),
            )
            items.append(WorkItem.single(job_id=uuid.uuid4().hex, mutation=mutation))
    return items


def changed_lines(module: str, base: str) -> set[int]:
    """The module's lines that differ from `base` (added or changed)."""
    lines: set[int] = set()
    diff = git("diff", "-U0", fork_point(base), "--", module)
    for hunk in re.finditer(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", diff, re.M):
        start, count = int(hunk[1]), int(hunk[2] or 1)
        lines.update(range(start, start + count))
    return lines


def command(tests: tuple[str, ...]) -> str:
    return f"{sys.executable} -m pytest -x -q -p no:cacheprovider {' '.join(tests)}"


def session(module: str, changed: str | None) -> Path:
    name = module.removesuffix(".py").replace("/", ".")
    return STATE / f"{name}{'.changed' if changed is not None else ''}.sqlite"


def digest(paths: list[str]) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update((ROOT / path).read_bytes() if (ROOT / path).exists() else b"")
    return sha.hexdigest()


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def short(operator: str) -> str:
    return operator.removeprefix("core/")


def results(module: str, changed: str | None) -> tuple[list[Mutant], int]:
    """The module's finished mutants, and how many are pending."""
    path = session(module, changed)
    if not path.exists():
        return [], 0
    equivalent = equivalents()
    done: list[Mutant] = []
    with use_db(str(path), WorkDB.Mode.open) as db:
        pending = len(db.pending_work_items)
        for item, result in db.completed_work_items:
            done.append(finished(module, item, result, equivalent))
    return done, pending


def finished(module: str, item: WorkItem, result: WorkResult, equivalent: set[Any]) -> Mutant:
    mutation = item.mutations[0]
    before = [
        line[1:].strip()
        for line in (result.diff or "").splitlines()
        if line.startswith("-") and not line.startswith("---")
    ]
    after = [
        line[1:].strip()
        for line in (result.diff or "").splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    outcome = "killed"
    if result.worker_outcome == WorkerOutcome.NO_TEST:
        outcome = "no mutant"
    elif result.test_outcome == TestOutcome.SURVIVED:
        outcome = "survived"
    elif result.output == "timeout":
        outcome = "timeout"
    mutant = Mutant(
        module,
        short(mutation.operator_name),
        mutation.start_pos[0],
        " ".join(before),
        " ".join(after),
        outcome,
    )
    if outcome == "survived" and mutant.key() in equivalent:
        return dataclasses.replace(mutant, outcome="equivalent")
    return mutant


def equivalents() -> set[tuple[str, str, str, str]]:
    """The mutants recorded as equivalent (module, operator, line before, line after)."""
    if not EQUIVALENT.exists():
        return set()
    listed = tomllib.loads(EQUIVALENT.read_text()).get("equivalent", [])
    return {(e["module"], e["operator"], e["before"], e["after"]) for e in listed}


def report(modules: dict[str, tuple[str, ...]], changed: str | None) -> str:
    """Per module: killed (a timeout counts), survived, equivalent, pending; then each
    survivor, as a line to kill with a test or to record as equivalent."""
    rows = ["| module | killed | survived | equivalent | pending |", "|---|---|---|---|---|"]
    survivors: list[Mutant] = []
    for module in modules:
        done, pending = results(module, changed)
        counts = Counter(m.outcome for m in done)
        killed = counts["killed"] + counts["timeout"]
        rows.append(
            f"| {module} | {killed} | {counts['survived']} | {counts['equivalent']} | {pending} |"
        )
        survivors += sorted((m for m in done if m.outcome == "survived"), key=lambda m: m.line)
    lines = ["", *rows]
    if survivors:
        lines += [
            "",
            "Survivors (kill each with a test, or record it in tests/equivalent_mutants.toml):",
        ]
        for m in survivors:
            lines.append(
                f"  {m.module}:{m.line} {m.operator}\n      - {m.before}\n      + {m.after}"
            )
    text = "\n".join(lines)
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "report.md").write_text(text + "\n")
    return text


if __name__ == "__main__":
    sys.exit(main())

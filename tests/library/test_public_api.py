"""Tether's public surface: a small top-level namespace, named submodules, public homes
for every exported name, the old names still importable with a warning, one vocabulary
(`timedelta`, `RetryPolicy`, `Budgets`), a whole agent run from a user's own workflow,
and a library that prints nothing unless its application configures logging."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import textwrap
import types
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment

import tether
import tether.approvals
import tether.evals
import tether.events
import tether.testing
import tether.web
import tether.worker
import tether.workflow
from tests.support.processes import target
from tests.support.user_workflows import Handled, TicketWorkflow, find_order
from tether import Agent, AgentRegistry, AgentRun, Budgets, LlmPolicy, LlmSettings, tool
from tether._records import llm_record
from tether.testing import ScriptedLLM, call_tools, say, worker

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = [
    tether,
    tether.approvals,
    tether.events,
    tether.workflow,
    tether.worker,
    tether.testing,
    tether.evals,
    tether.web,
]
# What a run records and what its activities exchange: never in the top namespace.
HISTORY_AND_WIRE = {
    "AgentInput", "AgentSpec", "ToolSpec", "OutputSpec", "LlmReply", "LlmRequest",
    "ToolOutcome", "ToolRequest", "Carried", "RetryOptions", "checked_input",
    "load_registry", "data_converter",
}  # fmt: skip


def test_the_top_namespace_is_small_and_holds_no_history_or_wire_type() -> None:
    assert len(tether.__all__) <= 31
    assert not HISTORY_AND_WIRE & set(tether.__all__)
    assert sorted(dir(tether)) == sorted(tether.__all__)


@pytest.mark.parametrize("module", PUBLIC, ids=lambda m: m.__name__)
def test_every_exported_name_reports_its_public_home_and_is_documented(
    module: types.ModuleType,
) -> None:
    for name in module.__all__:
        value = getattr(module, name)
        home = getattr(value, "__module__", None)
        # A constant has no home; nor can an alias of `X | Y` or `Callable[...]` carry one.
        if home is not None and not isinstance(value, str | types.GenericAlias | types.UnionType):
            assert home == module.__name__, f"{module.__name__}.{name} reports {home}"
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{module.__name__}.{name} has no docstring"


def test_the_top_namespaces_three_lists_agree() -> None:
    """`__all__`, `_EXPORTS` and the imports type checkers read name the same things."""
    tree = ast.parse((ROOT / "tether" / "__init__.py").read_text())
    typed: dict[str, str] = {}
    guard = next(n for n in tree.body if isinstance(n, ast.If))  # the first TYPE_CHECKING
    for node in guard.body:
        assert isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names:
            assert alias.asname == alias.name  # an explicit re-export
            typed[alias.name] = node.module
    assert typed == tether._EXPORTS
    assert sorted(tether.__all__) == sorted(typed)


@pytest.mark.parametrize(
    "old, new",
    [
        ("Pipeline", "tether.workflow.Pipeline"),
        ("TextDelta", "tether.events.TextDelta"),
        ("subscribe", "tether.events.subscribe"),
        ("create_worker", "tether.worker.create_worker"),
        ("AgentWorkflow", "tether.workflow.AgentWorkflow"),
    ],
)
def test_moved_names_still_import_with_a_warning_naming_their_home(old: str, new: str) -> None:
    module, _, name = new.rpartition(".")
    with pytest.warns(DeprecationWarning, match=f"tether.{old} is deprecated.*use {new}"):
        value = getattr(tether, old)
    assert value is getattr(sys.modules[module], name)


def test_private_names_still_import_with_a_warning_saying_what_to_use() -> None:
    with pytest.warns(DeprecationWarning, match="AgentRun.start"):
        assert tether.AgentInput.__name__ == "AgentInput"
    with pytest.warns(DeprecationWarning, match="temporalio.common.RetryPolicy"):
        old_retry = tether.RetryOptions(max_attempts=3)
    with pytest.warns(DeprecationWarning, match="RetryPolicy"):
        policy = LlmPolicy(retry=old_retry)
    assert policy.retry.maximum_attempts == 3


def test_old_keyword_arguments_still_work_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"Agent\((max_turns|deadline)=...\).*Budgets"):
        agent = Agent(name="old", instructions="x", max_turns=3, deadline=timedelta(hours=1))
    assert agent.budgets == Budgets(max_turns=3, deadline=timedelta(hours=1))
    with pytest.warns(DeprecationWarning, match=r"timeout=timedelta"):
        assert LlmPolicy(timeout_seconds=5).timeout == timedelta(seconds=5)
    with pytest.warns(DeprecationWarning, match=r"heartbeat_timeout=timedelta"):
        old_tool = tool(heartbeat_timeout_seconds=7)(find_order.fn)
    assert old_tool.spec.heartbeat_timeout_seconds == 7
    with pytest.warns(DeprecationWarning, match=r"LlmSettings.scripted"):
        AgentRegistry([agent], scripts={"old": lambda _: say("hi")})


def test_durations_are_timedeltas_and_retries_temporals_own_policy() -> None:
    policy = LlmPolicy(
        timeout=timedelta(seconds=30),
        retry=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=4),
    )
    record = llm_record(policy)
    assert record.timeout_seconds == 30
    # Temporal's default maximum interval is 100 times the first.
    assert (record.retry.initial_interval_seconds, record.retry.max_interval_seconds) == (2, 200)
    assert record.retry.to_policy().maximum_attempts == 4
    # A policy left at its defaults records nothing: histories keep their size.
    assert llm_record(LlmPolicy()).model_dump(exclude_unset=True) == {}
    fast = tool(timeout=timedelta(seconds=5), retry=RetryPolicy(maximum_attempts=2))(find_order.fn)
    assert (fast.spec.timeout_seconds, fast.spec.retry.max_attempts) == (5, 2)
    with pytest.raises(ValueError, match="timeout must be positive"):
        tool(timeout=timedelta(0))(find_order.fn)
    with pytest.raises(ValueError, match="must be positive"):
        LlmPolicy(heartbeat_timeout=timedelta(seconds=-1))


def test_budgets_are_checked_and_a_run_lowers_the_agents() -> None:
    with pytest.raises(ValueError, match="max_turns must be between 1 and"):
        Budgets(max_turns=0)
    with pytest.raises(ValueError, match="max_cost_usd must be positive"):
        Budgets(max_cost_usd=0)
    with (
        pytest.raises(ValueError, match="agent 'a': deadline must be positive"),
        pytest.warns(DeprecationWarning),
    ):
        Agent(name="a", instructions="x", deadline=timedelta(0))
    spec = Agent(name="a", instructions="x", budgets=Budgets(max_cost_usd=0.5)).spec("m")
    assert (spec.max_turns, spec.max_cost_usd) == (12, 0.5)


CLERK = Agent(
    name="order-clerk",
    instructions="Look the order up, then say what you will do.",
    tools=[find_order],
)
USER_PROJECT = AgentRegistry([CLERK], workflows=[TicketWorkflow])


async def run_ticket(client: Client, llm: ScriptedLLM) -> tuple[str, Handled]:
    """The user's workflow, run to its end on `client`: its id and what it returned."""
    llm.enqueue(call_tools(("find_order", {"order_id": "A-7"})), say("Refunding A-7."))
    async with worker(client, USER_PROJECT, llm) as w:
        workflow_id = f"ticket-{uuid.uuid4().hex[:8]}"
        handled = await client.execute_workflow(
            "TicketWorkflow",
            {"text": "  teapot   A-7 broken ", "acting_for": "C-9"},
            id=workflow_id,
            task_queue=w.task_queue,
            result_type=Handled,
        )
    return workflow_id, handled


async def test_a_users_workflow_runs_a_whole_agent_under_time_skipping(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM() as llm:
        _, handled = await run_ticket(ts_env.client, llm)
    result = handled.agent
    assert (result.status, result.answer, result.turns) == ("completed", "Refunding A-7.", 2)
    assert handled.ticket == "teapot A-7 broken"
    # The tool ran, and the model saw its result.
    assert "teapot, delivered broken" in str(llm.requests[1].messages[-1]["content"])


async def test_a_users_workflow_runs_a_whole_agent_on_a_dev_server(
    dev_env: WorkflowEnvironment,
) -> None:
    """The agent is a child run of the user's workflow, acting for its customer."""
    with ScriptedLLM() as llm:
        workflow_id, handled = await run_ticket(dev_env.client, llm)
    assert handled.agent.status == "completed"
    query = f"ParentWorkflowId = '{workflow_id}'"
    children = [c async for c in dev_env.client.list_workflows(query)]
    assert [c.workflow_type for c in children] == ["AgentWorkflow"]
    assert children[0].id.startswith(f"{workflow_id}:order-clerk:")
    child = AgentRun.attach(dev_env.client, children[0].id)
    assert (await child.result()).answer == "Refunding A-7."
    history = await child.handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert b"C-9" in started.input.payloads[0].data  # acting_for, from the user's run


async def test_agent_run_start_takes_an_agent_and_budgets(ts_env: WorkflowEnvironment) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(*[call_tools(("find_order", {"order_id": f"A-{i}"})) for i in range(5)])
        async with worker(ts_env.client, USER_PROJECT, llm) as w:
            run = await AgentRun.start(
                ts_env.client, CLERK, "Look at every order.", task_queue=w.task_queue,
                budgets=Budgets(max_turns=2),
            )  # fmt: skip
            result = await run.result()
    assert (result.status, result.turns) == ("max_turns", 2)
    assert run.id.startswith("order-clerk-")


QUIET_SCRIPT = """
import asyncio, os, sys
from temporalio.client import Client
from temporalio.worker import Worker
from tether import Agent, AgentRun, LlmSettings, TetherPlugin
from tether.testing import ScriptedLLM, call_tools, say
from tests.support.user_workflows import find_order

async def main():
    agent = Agent(name="quiet", instructions="Be quiet.", tools=[find_order])
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("find_order", {"order_id": "A-1"})), say("done"))
        settings = LlmSettings(base_url=llm.base_url, api_key="sk-test", model="m")
        plugin = TetherPlugin(agent, llm=settings)
        client = await Client.connect(os.environ["ADDRESS"], plugins=[plugin])
        async with Worker(client, task_queue="quiet"):
            for _ in range(2):
                run = await AgentRun.start(client, agent, "Look A-1 up.", task_queue="quiet")
                assert (await run.result()).status == "completed"
                llm.enqueue(call_tools(("find_order", {"order_id": "A-1"})), say("done"))

asyncio.run(main())
"""


def test_a_library_process_prints_nothing_per_run(dev_env: WorkflowEnvironment) -> None:
    """Two runs with TetherPlugin and AgentRun, logging left unconfigured: no output."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(QUIET_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "ADDRESS": target(dev_env)},
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_a_worker_with_no_model_refuses_to_start_and_names_both_ways_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.pop("TETHER_OFFLINE", None)
    tether_cli = str(Path(sys.executable).parent / "tether")
    done = subprocess.run(
        [tether_cli, "worker", "--agents", "tests.library.test_public_api:USER_PROJECT"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "no model configured" in line and "--offline" in line and "OPENAI_API_KEY" in line
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(tether.ConfigurationError, match="no model configured"):
        LlmSettings.from_env()  # what TetherPlugin reads when a worker starts


def test_a_workflow_the_sandbox_refuses_stops_the_worker_in_one_line(
    ts_env: WorkflowEnvironment,
) -> None:
    """Named: the workflow, its module, the forbidden call and the two ways out."""
    tether_cli = str(Path(sys.executable).parent / "tether")
    done = subprocess.run(
        [tether_cli, "worker", "--agents", "tests.support.sandbox_refused:REGISTRY", "--offline"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "TEMPORAL_ADDRESS": target(ts_env)},
    )  # fmt: skip
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "workflow ClockPipeline (module tests.support.sandbox_refused)" in line
    assert "datetime.datetime.now" in line
    assert "module of its own" in line and "imports_passed_through" in line

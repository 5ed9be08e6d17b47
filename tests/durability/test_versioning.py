"""Deploying new workflow code under open runs, with Worker Versioning: two builds of one
deployment on a dev server, where build 2's AgentWorkflow issues other commands (a timer
before each model call, as a real change would), so a build-1 run replayed on it would
fail with a nondeterminism error.

- a run started on build 1 (waiting for a person) finishes on build 1 after build 2
  became current: pinned;
- a chat started on build 1 moves to build 2 at its next continue-as-new;
- a new run starts on build 2.
Both builds are real `tether worker --deployment ... --build-id ...` processes; build 2
runs a copy of Tether with the change.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import CUSTOMER, SEEDED_CUSTOMER, seed_orders
from tests.support.order_desk import SCRIPTS, refund_prompt
from tests.support.processes import (
    ROOT,
    cli_in_background,
    model_env,
    process_env,
    target,
    tether_worker,
)
from tests.support.waiting import until
from tether import AgentRun
from tether.testing import ScriptedLLM, approve_all, binary, wait_for_approvals
from tether.workflow import AgentWorkflow

DEPLOYMENT = f"tether-test-{uuid.uuid4().hex[:6]}"
# Build 2's change: a timer before each model call.
# (ModelCalls.call's docstring ends on this line.)
CHANGE = (
    '        `failed`: how the run\'s first call (`first_call`) failed, acted on first."""\n',
    '        `failed`: how the run\'s first call (`first_call`) failed, acted on first."""\n'
    "        await workflow.sleep(timedelta(milliseconds=1))\n",
)


@contextmanager
def build_two(tmp: Path) -> Iterator[Path]:
    """A copy of the tether package with build 2's change, for PYTHONPATH."""
    home = tmp / "build-2"
    shutil.copytree(ROOT / "tether", home / "tether", ignore=shutil.ignore_patterns("__pycache__"))
    calls = home / "tether" / "_workflows" / "llm_calls.py"
    text = calls.read_text()
    assert CHANGE[0] in text, "ModelCalls.call moved: update the test's change"
    calls.write_text(text.replace(*CHANGE))
    yield home


async def temporal(env: WorkflowEnvironment, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        binary("temporal"), *args, "--address", target(env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


async def make_current(env: WorkflowEnvironment, build: str, deployment: str = DEPLOYMENT) -> None:
    """Once the build's worker has registered, make it the deployment's current one."""

    async def registered() -> bool:
        proc = await asyncio.create_subprocess_exec(
            binary("temporal"), "worker", "deployment", "describe-version",
            "--deployment-name", deployment, "--build-id", build, "--address", target(env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        await proc.communicate()
        return proc.returncode == 0

    await until(registered, f"build {build} never registered", within=30)
    await temporal(
        env, "worker", "deployment", "set-current-version", "--yes",
        "--deployment-name", deployment, "--build-id", build,
    )  # fmt: skip


async def build_of(client: Client, workflow_id: str, run_id: str | None = None) -> str:
    described = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id


async def run_build(client: Client, workflow_id: str, run_id: str) -> tuple[str, int]:
    """The build a run ran on, and how many timers it started."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return await build_of(client, workflow_id, run_id), await timers(handle)


async def timers(handle: WorkflowHandle[Any, Any]) -> int:
    events = [e async for e in handle.fetch_history_events()]
    return sum(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events)


async def test_runs_stay_on_their_build_and_chats_move_at_continue_as_new(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client
    ledger = tmp_path / "ledger.db"
    (order,) = seed_orders(ledger, ["V-1001"])
    queue = f"versions-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(scripts=SCRIPTS) as llm, build_two(tmp_path) as copy:
        env = process_env(target(dev_env), queue, ledger, **model_env(llm))
        desk = "tests.support.order_desk:SHORT_RUNS"  # chats continue-as-new every 2 calls
        b1 = ["--deployment", DEPLOYMENT, "--build-id", "b1"]
        with tether_worker(env, tmp_path / "b1.log", desk, *b1):
            await make_current(dev_env, "b1")
            pinned = (
                await AgentRun.start(
                    client, "order-desk", refund_prompt(order), id=f"{queue}-pinned",
                    task_queue=queue, acting_for=SEEDED_CUSTOMER,
                )
            ).handle  # fmt: skip
            chat = (
                await AgentRun.start(
                    client, "order-desk", "Where is order A-1003?", id=f"{queue}-chat",
                    task_queue=queue, acting_for=CUSTOMER, chat=True,
                )
            ).handle  # fmt: skip

            async def both_wait() -> bool:
                states = [await h.query(AgentWorkflow.state) for h in (pinned, chat)]
                return [s.status for s in states] == ["awaiting_approval", "awaiting_user"]

            await until(both_wait, "the build-1 runs never reached their waits")
            b2_env = {**env, "PYTHONPATH": str(copy)}
            b2 = ["--deployment", DEPLOYMENT, "--build-id", "b2"]
            with tether_worker(b2_env, tmp_path / "b2.log", desk, *b2):
                await make_current(dev_env, "b2")
                await approve_all(AgentRun(pinned, client=client))
                pinned_result = await asyncio.wait_for(pinned.result(), 60)
                # The chat's current run is pinned to build 1 (it may have continued-as-
                # new while build 1 was current): it answers the first message, then
                # continues-as-new onto build 2, which answers the second.
                first = await asyncio.wait_for(
                    chat.execute_update(AgentWorkflow.send, "And order A-1002?"), 60
                )
                second = await asyncio.wait_for(
                    chat.execute_update(AgentWorkflow.send, "And order A-1003?"), 60
                )
                await chat.signal(AgentWorkflow.end)
                await asyncio.wait_for(chat.result(), 60)
                fresh = (
                    await AgentRun.start(
                        client, "order-desk", "Where is order A-1003?", id=f"{queue}-fresh",
                        task_queue=queue, acting_for=CUSTOMER,
                    )
                ).handle  # fmt: skip
                await asyncio.wait_for(fresh.result(), 60)
                chat_runs = [  # newest first
                    r.run_id async for r in client.list_workflows(f"WorkflowId = '{chat.id}'")
                ]
                chat_builds = [await run_build(client, chat.id, r) for r in reversed(chat_runs)]
    assert pinned_result.status == "completed"
    assert await build_of(client, pinned.id) == "b1"
    assert await timers(pinned) == 1  # only the approval's: build 1 code to the end
    assert first.startswith("Order A-1002 (Keyboard) is delivered.")
    assert second.startswith("Order A-1003")
    # The chat's runs: on build 1 (its code: no timers) until one continued-as-new after
    # build 2 became current, then on build 2, whose code answered the second message.
    builds = [build for build, _ in chat_builds]
    assert builds[0] == "b1" and builds[-1] == "b2"
    assert builds == sorted(builds)
    assert all(n == 0 for build, n in chat_builds if build == "b1")
    assert sum(n for build, n in chat_builds if build == "b2") >= 1
    assert await build_of(client, fresh.id) == "b2"
    # Build 2's timer before each model call after the first (which records the agent).
    assert await timers(fresh) >= 1
    # Nothing failed a workflow task on the way (a nondeterminism error would).
    for handle in (pinned, fresh, client.get_workflow_handle(chat.id)):
        kinds = {e.event_type async for e in handle.fetch_history_events()}
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds


async def test_status_names_the_build_a_run_is_pinned_to_and_that_none_serves_it(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The probe stopped build 1's workers while build 2 was current: build 1's pinned
    runs waited, and `status` said only that "its worker did not answer within 3 s"."""
    client = dev_env.client
    ledger = tmp_path / "ledger.db"
    (order,) = seed_orders(ledger, ["V-2001"])
    queue = f"stranded-{uuid.uuid4().hex[:8]}"
    deployment = f"tether-stranded-{uuid.uuid4().hex[:6]}"
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        env = process_env(target(dev_env), queue, ledger, **model_env(llm))
        desk = "tests.support.order_desk:REGISTRY"
        with tether_worker(
            env, tmp_path / "b2.log", desk, "--deployment", deployment, "--build-id", "b2"
        ):
            with tether_worker(
                env, tmp_path / "b1.log", desk, "--deployment", deployment, "--build-id", "b1"
            ):
                await make_current(dev_env, "b1", deployment)
                pinned = (
                    await AgentRun.start(
                        client, "order-desk", refund_prompt(order), id=f"{queue}-pinned",
                        task_queue=queue, acting_for=SEEDED_CUSTOMER,
                    )
                ).handle  # fmt: skip
                await wait_for_approvals(pinned)
                await make_current(dev_env, "b2", deployment)
            # Build 1's worker stopped: build 2's polls the same queue, and serves it not.
            shown = await cli_in_background(env, "status", pinned.id)
            as_json = await cli_in_background(env, "status", pinned.id, "--json")
        await pinned.terminate(reason="the test is done")
    assert shown.returncode == 0, shown.stderr
    assert f"build b1 of deployment {deployment} (pinned)" in shown.stdout
    assert f"no worker of build b1 of deployment {deployment} polls task queue" in shown.stdout
    found = json.loads(as_json.stdout)
    assert found["build"] == {"deployment": deployment, "build_id": "b1"}
    assert found["source"] == "history"

"""Runs steered at random moments replay: many runs at once on a dev server, with chat
messages, interrupts, approvals, rejections, answers to an agent's questions (some
malformed, so refused), cancels and ends sent while model calls are slow, and
every history they wrote (each run of a conversation that continued-as-new) replayed on
the current code. Their refunds are decided by an approval policy: a rule lets some run,
a judge model (as slow, and answering at random) reviews the others, and a person
decides what it does not approve. Seeded (seeds 1-3, or TETHER_STRESS_SEED), so a
failure reproduces."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import SEEDED_CUSTOMER, seed_orders
from tests.support.order_desk import JUDGE, SCRIPTS, SHORT_RUNS, refund_prompt
from tests.support.question_agents import ORDER_PICKER, ORDERS, pick_order_script
from tests.support.waiting import closed
from tether import AgentRegistry, AgentRun
from tether._replay import replay
from tether._temporal import TETHER_CONVERTER
from tether._wire import JUDGE_ACTIVITY
from tether.approvals import ApprovalPolicy, Rule, arg
from tether.testing import SIGNER, ScriptedLLM, Slow, Step, say, worker
from tether.workflow import AgentWorkflow

SEEDS = [int(os.environ["TETHER_STRESS_SEED"])] if "TETHER_STRESS_SEED" in os.environ else [1, 2, 3]
CHATS, SINGLES, QUESTIONS = 10, 10, 5
MESSAGES = ["Where is order {o}?", "Order {o} arrived broken, refund it.", "Thanks!"]
# What an interrupt steers with (None: it only stops the turn).
STEERS = [None, "Forget that: where is order {o}?"]
# Refunds of even-numbered orders need nobody; the judge reviews the others.
POLICY = ApprovalPolicy(
    rules=[
        Rule.allow("even orders", arg("order_id").among([f"R-{n}" for n in range(3000, 3100, 2)])),
        Rule.ask_judge("odd orders"),
    ],
    judge=JUDGE,
)
DESK = dataclasses.replace(SHORT_RUNS.get("order-desk"), approval_policy=POLICY)  # chats cross runs


def slow_scripts(rng: random.Random) -> dict[str, Callable[[list[dict[str, Any]]], Step]]:
    """The order desk's scripts, each reply 0-300 ms late (seeded; the server's threads share
    `rng`), so steering lands while model calls are open."""

    def late(
        script: Callable[[list[dict[str, Any]]], Step],
    ) -> Callable[[list[dict[str, Any]]], Step]:
        return lambda messages: Slow(rng.uniform(0, 0.3), script(messages))

    def judge(messages: list[dict[str, Any]]) -> Step:
        verdict = rng.choice(["approve", "refuse", "unsure"])
        return say(json.dumps({"verdict": verdict, "reasoning": "stress"}))

    scripts = {**SCRIPTS, JUDGE.name: judge, ORDER_PICKER.name: pick_order_script}
    return {name: late(script) for name, script in scripts.items()}


async def quietly(action: Awaitable[object]) -> None:
    """Steering a run that has just ended, or a call already decided, is refused: fine."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(action, 30)


async def decide_some(run: AgentRun, rng: random.Random, until: asyncio.Event) -> None:
    """Approve or reject what waits for a person, at random moments."""
    while not until.is_set():
        await asyncio.sleep(rng.uniform(0, 0.4))
        try:
            pending = await run.pending_approvals()
        except Exception:  # a closed run, or one moving between workers
            continue
        for call in pending:
            if rng.random() < 0.7:
                await quietly(run.approve(call, signer=SIGNER))
            else:
                await quietly(run.reject(call, signer=SIGNER, reason="stress"))


async def steer_chat(run: AgentRun, order: str, rng: random.Random) -> None:
    done = asyncio.Event()
    decider = asyncio.create_task(decide_some(run, rng, done))
    sends = []
    for _ in range(rng.randint(2, 6)):
        await asyncio.sleep(rng.uniform(0, 0.3))
        if rng.random() < 0.25:
            sends.append(asyncio.create_task(interrupt(run, order, rng)))
            continue
        text = rng.choice(MESSAGES).format(o=order)
        sends.append(asyncio.create_task(quietly(run.send(text))))  # some overlap
    await asyncio.gather(*sends)
    ending = rng.random()
    await quietly(run.cancel() if ending < 0.3 else run.end())
    await closed(run.handle, within=90, every=0.2)
    done.set()
    await decider


async def interrupt(run: AgentRun, order: str, rng: random.Random) -> None:
    """Interrupt the turn under way (refused if none is, or it runs a local activity)."""
    steer = rng.choice(STEERS)
    await quietly(run.interrupt(steer.format(o=order) if steer else None))


async def steer_single(run: AgentRun, order: str, rng: random.Random) -> None:
    done = asyncio.Event()
    decider = asyncio.create_task(decide_some(run, rng, done))
    roll = rng.random()
    if roll < 0.6:
        await asyncio.sleep(rng.uniform(0, 1.0))
        await (quietly(run.cancel()) if roll < 0.3 else interrupt(run, order, rng))
    await closed(run.handle, within=90, every=0.2)
    done.set()
    await decider


async def steer_question(run: AgentRun, rng: random.Random) -> None:
    """Cancel the run, or answer its question once it asks, at random moments; a
    malformed answer first, at times, which the run refuses."""
    await asyncio.sleep(rng.uniform(0, 0.5))
    if rng.random() < 0.2:
        await quietly(run.cancel())
    else:
        (question,) = await run.wait_for_question(within=60)
        if rng.random() < 0.5:
            await quietly(run.answer(question, "A-9999", signer=SIGNER))
        await asyncio.sleep(rng.uniform(0, 0.3))
        await quietly(run.answer(question, rng.choice(ORDERS), signer=SIGNER))
    await closed(run.handle, within=90, every=0.2)


async def every_history(env: WorkflowEnvironment, workflow_ids: list[str]) -> list[WorkflowHistory]:
    """Each run of each conversation (continue-as-new makes several)."""
    histories = []
    for workflow_id in workflow_ids:
        async for listed in env.client.list_workflows(f"WorkflowId = '{workflow_id}'"):
            handle = env.client.get_workflow_handle(workflow_id, run_id=listed.run_id)
            histories.append(await handle.fetch_history())
    return histories


@pytest.mark.parametrize("seed", SEEDS)
async def test_runs_steered_at_random_moments_all_replay(
    dev_env: WorkflowEnvironment, ledger: Path, seed: int
) -> None:
    rng = random.Random(seed)
    orders = seed_orders(ledger, [f"R-{3000 + i}" for i in range(CHATS + SINGLES)])
    with ScriptedLLM(scripts=slow_scripts(rng)) as llm:
        async with worker(dev_env.client, AgentRegistry([DESK, ORDER_PICKER]), llm) as w:
            tag = uuid.uuid4().hex[:6]
            steering = []
            for i, order in enumerate(orders):
                chat = i < CHATS
                run = await AgentRun.start(
                    dev_env.client, "order-desk", refund_prompt(order), id=f"stress-{tag}-{i}",
                    task_queue=w.task_queue, chat=chat, acting_for=SEEDED_CUSTOMER,
                )  # fmt: skip
                if chat:
                    steering.append(steer_chat(run, order, random.Random(rng.random())))
                else:
                    steering.append(steer_single(run, order, random.Random(rng.random())))
            for i in range(QUESTIONS):
                run = await AgentRun.start(
                    dev_env.client, ORDER_PICKER.name, "My order is broken.",
                    id=f"stress-{tag}-q{i}", task_queue=w.task_queue,
                )  # fmt: skip
                steering.append(steer_question(run, random.Random(rng.random())))
            await asyncio.wait_for(asyncio.gather(*steering), 180)
            ids = [f"stress-{tag}-{i}" for i in range(len(orders))]
            ids += [f"stress-{tag}-q{i}" for i in range(QUESTIONS)]
            histories = await every_history(dev_env, ids)
    verdicts = await replay(histories, workflows=[AgentWorkflow], converter=TETHER_CONVERTER)
    broken = [(v.workflow_id, v.problem) for v in verdicts if not v.compatible]
    for history, verdict in zip(histories, verdicts, strict=True):
        if not verdict.compatible:  # kept for a look: `tether replay --file`
            (ledger.parent / f"{history.run_id}.json").write_text(history.to_json())
    assert not broken, f"seed {seed}: {broken} (histories in {ledger.parent})"
    # It steered what it meant to: chats that crossed runs, decisions, cancels, ends.
    events = [e for h in histories for e in h.events]
    kinds = Counter(e.WhichOneof("attributes") for e in events)
    assert len(histories) > len(orders), "no chat continued-as-new"
    assert kinds["workflow_execution_update_accepted_event_attributes"] >= CHATS
    assert kinds["workflow_execution_canceled_event_attributes"] >= 1
    assert kinds["workflow_execution_completed_event_attributes"] >= 1
    updates = Counter(
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    )
    assert updates["decide"], "nothing was approved or rejected"
    assert updates["interrupt"], "no turn was interrupted"
    assert updates["answer"], "no question was answered"
    assert not any(b"A-9999" in e.SerializeToString() for e in events), "a refused answer"
    judged = [
        e for e in events
        if e.activity_task_scheduled_event_attributes.activity_type.name == JUDGE_ACTIVITY
    ]  # fmt: skip
    assert judged, "no judge was asked"
    print(f"stress seed {seed}: {len(histories)} histories, {len(events)} events, {kinds}")

"""`tether interrupt RUN [--message TEXT]`, and Ctrl-C in `tether chat` while the agent
replies: the turn stops, the run goes on. Real dev server; the CLI as subprocesses."""

from __future__ import annotations

import os
import pty
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.processes import (
    Spawned,
    cli_in_background,
    model_env,
    target,
    tether_env,
    tether_worker,
)
from tests.support.steering import REGISTRY, STEER, STEERED, script
from tests.support.waiting import status_becomes, until
from tether import AgentRun
from tether.testing import ScriptedLLM, worker


async def test_interrupt_steers_a_run_and_refuses_in_one_line(
    dev_env: WorkflowEnvironment,
) -> None:
    queue = f"interrupt-{uuid.uuid4().hex[:8]}"
    env = tether_env(target(dev_env), queue)
    with ScriptedLLM(script) as llm:
        async with worker(dev_env.client, REGISTRY, llm, queue=queue):
            run = await AgentRun.start(dev_env.client, STEERED, "slow", task_queue=queue)
            chat = await AgentRun.start(dev_env.client, STEERED, "hi", chat=True, task_queue=queue)

            async def asked() -> bool:
                return any(r.messages[-1].get("content") == "slow" for r in llm.requests)

            await until(asked, "the model never got the slow call")
            steered = await cli_in_background(env, "interrupt", run.id, "--message", STEER)
            await run.result()
            watched = await cli_in_background(env, "watch", run.id)
            await status_becomes(chat.handle, "awaiting_user")
            idle = await cli_in_background(env, "interrupt", chat.id)
            ended = await cli_in_background(env, "interrupt", run.id)
            empty = await cli_in_background(env, "interrupt", chat.id, "--message", " ")
            unknown = await cli_in_background(env, "interrupt", f"{queue}-none")
            await chat.end()

    assert steered.returncode == 0, steered.stderr
    assert steered.stdout == (
        f"interrupted turn 1 of {run.id}: abandoned the model call of turn 1; "
        "it goes on with your message\n"
    )
    # Whoever follows the run sees where the turn was interrupted and what it abandoned.
    assert "  ✋ turn 1 interrupted: abandoned the model call of turn 1\n" in watched.stderr
    assert [(done.returncode, done.stderr) for done in (idle, ended, empty, unknown)] == [
        (2, "tether: nothing to interrupt: the run is awaiting_user, not in a turn's step\n"),
        (2, f"tether: run {run.id!r} has already ended (completed)\n"),
        (2, "tether: the message is empty\n"),
        (2, f"tether: no run with id '{queue}-none'\n"),
    ]


async def test_ctrl_c_in_a_chat_interrupts_the_reply_and_the_chat_goes_on(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The chat's first message (the run's first model call) and a later one."""
    queue = f"chat-{uuid.uuid4().hex[:8]}"
    ours, terminal = pty.openpty()
    try:
        with ScriptedLLM(script) as llm:
            env = tether_env(target(dev_env), queue, TETHER_AGENT=STEERED.name, **model_env(llm))
            agents = "tests.support.steering:REGISTRY"
            with tether_worker(env, tmp_path / "worker.log", agents):
                chat = Spawned(env, "chat", stdin=terminal)
                for asked in (1, 2):
                    os.write(ours, b"slow\n")

                    async def slow_call(asked: int = asked) -> bool:
                        return llm.request_count == asked

                    await until(slow_call, f"the model never got slow call {asked}")
                    chat.interrupt()
                    await chat.wait_for(f"(interrupted turn {asked}: ")

                    async def told(asked: int = asked) -> bool:
                        return chat.stdout.count("agent> [interrupted before answering]") == asked

                    await until(told, f"the chat never said turn {asked} was interrupted")
                os.write(ours, b"again\n")
                await chat.wait_for("agent> echo: again")
                os.write(ours, b"/end\n")
                done = await chat.finish()
    finally:
        os.close(ours)
        os.close(terminal)
    assert done.returncode == 0, done.stderr
    assert "Ctrl-C while the agent replies interrupts it, twice leaves" in done.stdout
    for turn in (1, 2):
        assert (
            f"(interrupted turn {turn}: abandoned the model call of turn {turn}; "
            "Ctrl-C again leaves)" in done.stderr
        )
    assert "status completed · 3 turns · " in done.stdout
    assert llm.request_count == 3  # the slow calls were not made again

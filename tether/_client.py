"""Driving agent runs from code: start, chat, interrupt, approve, reject, answer, read.

    client = await tether.connect()
    signer = tether.Signer.from_file("ada.key", name="ada@example.com")
    run = await AgentRun.start(client, "support-desk", "Order A-1001 arrived broken.")
    for call in await run.pending_approvals():  # show each to a person first
        await run.approve(call, signer=signer)
    result = await run.result()

The CLI is built on this; a web backend can be too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle

from tether._deprecation import deprecated
from tether._events import RunEvent, TurnInterrupted
from tether._messages import Message
from tether._policies import Budgets
from tether._run_handles import first_run_id, start_workflow, transcript_of
from tether._run_io import (
    INPUT_GENERATION,
    AgentInput,
    AgentResult,
    ApprovalDecision,
    PendingApproval,
    PendingQuestion,
    QuestionAnswer,
    RunState,
    budget_fields,
)
from tether._signing import Signer
from tether._subscribe import follow
from tether._visibility import agent_memo, run_summary, start_details

if TYPE_CHECKING:
    from tether._agents import Agent

POLL_SECONDS = 0.1
T = TypeVar("T")


class AgentRun:
    """A handle on one agent run: a workflow id, followed across continue-as-new.

    Build it with `AgentRun.start` or `AgentRun.attach`; `handle` is the Temporal
    workflow handle underneath, for anything this does not cover.
    """

    def __init__(self, handle: WorkflowHandle[Any, AgentResult], *, client: Client) -> None:
        self.handle = handle
        self._client = client
        # When `start(watch=True)` announced a subscriber (the event loop's time).
        self._announced: float | None = None

    @property
    def id(self) -> str:
        """The workflow id: the run's name in the CLI, the web UI and the API."""
        return self.handle.id

    @classmethod
    async def start(
        cls,
        client: Client,
        agent: Agent | str,
        prompt: str,
        *,
        id: str | None = None,
        task_queue: str | None = None,
        chat: bool = False,
        model: str | None = None,
        budgets: Budgets | None = None,
        approval_timeout: timedelta | None = None,
        acting_for: str | None = None,
        started_by: str | None = None,
        watch: bool = False,
        max_turns: int | None = None,
        max_total_tokens: int | None = None,
        deadline: timedelta | None = None,
    ) -> AgentRun:
        """Start a run of `agent` on `prompt`.

        Args:
            client: A client with Tether's data converter (`tether.connect()`, or one
                with `TetherPlugin`).
            agent: An agent (or its name) that the workers on `task_queue` serve.
            prompt: The user's message, up to 100,000 characters.
            id: The workflow id; default `AGENT-<random>`. An id that a run had before
                is refused (`RunExists`).
            task_queue: Default TETHER_TASK_QUEUE, else `tether`.
            chat: Stay open for more messages (`send`) until `end`.
            model: Override the agent's model.
            budgets: Lower the agent's budgets for this run (see `Budgets`).
            approval_timeout: An undecided approval counts as rejected after this.
            watch: Announce a subscriber with the start, so that the first model call
                streams its text too (`events()` announces one itself, but a call may
                have started by then). Unwatched, a run streams nothing.
            acting_for: Who the run acts for (a customer id, say), from your own
                authentication, never from the prompt: tools see it as
                `ToolContext.acting_for`.
            started_by: Who starts it, as you state it: a label for the record, not a
                proof. A decision signed for this name is refused on the run's calls
                when the agent names its approvers.
            max_turns: Deprecated: `budgets=Budgets(max_turns=...)`.
            max_total_tokens: Deprecated: `budgets=Budgets(max_total_tokens=...)`.
            deadline: Deprecated: `budgets=Budgets(deadline=...)`.

        Raises:
            pydantic.ValidationError: an argument is out of range.
            RunExists: a run with this id exists already.
        """
        old = {"max_turns": max_turns, "max_total_tokens": max_total_tokens, "deadline": deadline}
        given: dict[str, Any] = {k: v for k, v in old.items() if v is not None}
        for option in given:
            deprecated(
                f"AgentRun.start({option}=...)", f"budgets=Budgets({option}=...)", stacklevel=3
            )
        if given:
            budgets = dataclasses.replace(budgets or Budgets(), **given)
        name = agent if isinstance(agent, str) else agent.name
        options = {
            "chat": chat or None,
            "model": model,
            "approval_timeout_seconds": approval_timeout.total_seconds()
            if approval_timeout
            else None,
            "acting_for": acting_for,
            "started_by": started_by,
        }
        # Only the options given: the run's input (in the web UI) shows no list of nulls.
        params = AgentInput(
            agent=name,
            prompt=prompt,
            generation=INPUT_GENERATION,
            **budget_fields(budgets),
            **{k: v for k, v in options.items() if v is not None},
        )
        handle = await start_workflow(
            client,
            "AgentWorkflow",
            params,
            id=id or f"{name}-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            summary=run_summary(name, prompt),
            details=start_details("Prompt", prompt),
            result_type=AgentResult,
            watch=watch,
            memo=agent_memo(name),
        )
        run = cls(handle, client=client)
        if watch:
            run._announced = asyncio.get_running_loop().time()
        return run

    @classmethod
    def attach(cls, client: Client, workflow_id: str, *, run_id: str | None = None) -> AgentRun:
        """The run with this workflow id (its latest run, unless `run_id` names one)."""
        handle = client.get_workflow_handle(workflow_id, run_id=run_id, result_type=AgentResult)
        return cls(handle, client=client)

    async def state(self) -> RunState:
        """Status, turn, usage, pending approvals, the latest answer (needs a worker)."""
        state: RunState = await self.handle.query("state", result_type=RunState)
        return state

    async def transcript(self) -> list[Message]:
        """Every message of the conversation so far, also after the run ended: those of
        the earlier runs a chat with a context policy left them in (closed runs answer
        queries too), then the latest run's; each run's read in pages, so a transcript
        of any length comes whole."""
        messages: list[Message] = []
        for run_id in (await self.state()).earlier_runs:
            earlier = self._client.get_workflow_handle(self.id, run_id=run_id)
            messages += await transcript_of(earlier)
        return messages + await transcript_of(self.handle)

    def events(self, *, from_seq: int = 0, watch: bool = True) -> AsyncIterator[RunEvent]:
        """The run's events from `from_seq` on, as they happen, until it ends (see
        `tether.subscribe`)."""
        return follow(self._client, self.id, from_seq, watch=watch, announced=self._announced)

    async def pending_approvals(self) -> list[PendingApproval]:
        """The tool calls that wait for a person's decision now."""
        return (await self.state()).pending_approvals

    async def wait_for_approval(self, *, within: float = 60) -> list[PendingApproval]:
        """Until at least one call waits for a person (TimeoutError after `within`
        seconds, also while no worker answers). Polls the `state` query."""
        nothing = f"no call of run {self.id} waited for approval"
        return await self._poll(lambda s: s.pending_approvals, within, nothing)

    async def pending_questions(self) -> list[PendingQuestion]:
        """The questions the agent asked a person, unanswered now."""
        return (await self.state()).pending_questions

    async def wait_for_question(self, *, within: float = 60) -> list[PendingQuestion]:
        """Until at least one question waits for an answer (TimeoutError after `within`
        seconds, also while no worker answers). Polls the `state` query."""
        nothing = f"run {self.id} asked no question"
        return await self._poll(lambda s: s.pending_questions, within, nothing)

    async def _poll(
        self, waiting: Callable[[RunState], list[T]], within: float, nothing: str
    ) -> list[T]:
        try:
            async with asyncio.timeout(within):
                while True:
                    if found := waiting(await self.state()):
                        return found
                    await asyncio.sleep(POLL_SECONDS)
        except TimeoutError:
            raise TimeoutError(f"{nothing} in {within:g} s") from None

    async def send(self, text: str) -> str:
        """Send a chat message; returns the agent's reply once it has answered."""
        reply: str = await self.handle.execute_update("send", text, result_type=str)
        return reply

    async def approve(
        self,
        call: PendingApproval | str,
        *,
        signer: Signer | None = None,
        approver: str | None = None,
        arguments: str | None = None,
        reason: str | None = None,
    ) -> PendingApproval:
        """Approve a call that waits for a person.

        Args:
            call: The `PendingApproval` you showed them (the decision carries its
                digest, so it is refused if the arguments are not those), or a call id
                (then the arguments it waits with now).
            signer: Signs the decision for this run and call. A run accepts only
                decisions signed by a key it trusts, unless its agent accepts unsigned
                ones. A web backend holds one service key and names the person it
                authenticated as `approver`.
            approver: Who decides (default the signer's `name`).
            arguments: JSON that replaces the model's arguments.
            reason: Why, for the record (the tool sees it in `ctx.approval`).

        Returns:
            The call as it runs.
        """
        decision = ApprovalDecision(call_id="", approve=True, arguments=arguments, reason=reason)
        return await self._send(call, decision, signer, approver)

    async def reject(
        self,
        call: PendingApproval | str,
        *,
        signer: Signer | None = None,
        approver: str | None = None,
        reason: str | None = None,
    ) -> PendingApproval:
        """Reject a call that waits for a person (named and signed as in `approve`);
        `reason` is told to the model."""
        decision = ApprovalDecision(call_id="", approve=False, reason=reason)
        return await self._send(call, decision, signer, approver)

    async def _send(
        self,
        call: PendingApproval | str,
        decision: ApprovalDecision,
        signer: Signer | None,
        approver: str | None,
    ) -> PendingApproval:
        shown: PendingApproval | None = call if isinstance(call, PendingApproval) else None
        if shown is None:
            found = [p for p in await self.pending_approvals() if p.call_id == call]
            shown = found[0] if found else None  # an unknown id: the run says so
        update: dict[str, object] = {"call_id": shown.call_id if shown else call}
        if shown is not None:
            update["digest"] = shown.digest
        if approver is not None:
            update["approver"] = approver
        decision = decision.model_copy(update=update)
        if signer is not None and shown is not None:
            decision = signer.sign(
                decision,
                call=shown,
                namespace=self._client.namespace,
                workflow_id=self.id,
                first_run_id=await first_run_id(self.handle),
            )
        return await self.decide(decision)

    async def decide(self, decision: ApprovalDecision) -> PendingApproval:
        """Send a decision as it is (see `Signer.sign`); the run's validator refuses one
        for an unknown or already decided call, for arguments other than its digest's,
        without proof, or from someone the agent does not list as an approver
        (`WorkflowUpdateFailedError`)."""
        call: PendingApproval = await self.handle.execute_update(
            "decide", decision, result_type=PendingApproval
        )
        return call

    async def answer(
        self,
        question: PendingQuestion | str,
        value: Any,
        *,
        signer: Signer | None = None,
        answerer: str | None = None,
    ) -> PendingQuestion:
        """Answer a question the agent asked a person.

        Args:
            question: The `PendingQuestion` you showed them, or its call id.
            value: The answer: a str, a number, a list or dict, or a pydantic model
                instance; sent as JSON, which must match the question's schema (one of
                its choices, the tool's answer type, or text).
            signer: Signs the answer for this run and question, as `approve` signs a
                decision (a run accepts unsigned answers only if its agent accepts
                unsigned decisions).
            answerer: Who answers (default the signer's `name`).

        Returns:
            The question answered.
        """
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        shown = question if isinstance(question, PendingQuestion) else None
        if shown is None:
            found = [q for q in await self.pending_questions() if q.call_id == question]
            shown = found[0] if found else None  # an unknown id: the run says so
        answer = QuestionAnswer(
            call_id=shown.call_id if shown else str(question),
            value=json.dumps(value, ensure_ascii=False),
            answerer=answerer,
        )
        if signer is not None and shown is not None:
            answer = signer.sign_answer(
                answer,
                question=shown,
                namespace=self._client.namespace,
                workflow_id=self.id,
                first_run_id=await first_run_id(self.handle),
            )
        return await self.send_answer(answer)

    async def send_answer(self, answer: QuestionAnswer) -> PendingQuestion:
        """Send an answer as it is (see `Signer.sign_answer`); the run's validator
        refuses one for an unknown or already answered question, that does not match
        the question's schema, without proof, or from someone who may not answer
        (`WorkflowUpdateFailedError`)."""
        asked: PendingQuestion = await self.handle.execute_update(
            "answer", answer, result_type=PendingQuestion
        )
        return asked

    async def interrupt(self, message: str | None = None) -> TurnInterrupted:
        """Stop the turn under way at its next safe point: a model call in flight is
        cancelled (not made again), calls waiting for approval are withdrawn, and tools
        already running stop or finish by their own cancellation rules. With `message`,
        the run goes on with it as the user's next message; without, a chat waits for
        the next one and any other run ends `interrupted`.

        Returns:
            What the interrupt abandoned, once the turn has stopped.

        Raises:
            WorkflowUpdateFailedError: the run refused it, saying why in one line (it
                is not in a turn, or runs a local activity just then); an `RPCError`
                once the run has closed.
        """
        done: TurnInterrupted = await self.handle.execute_update(
            "interrupt", message, result_type=TurnInterrupted
        )
        return done

    async def end(self) -> None:
        """End a chat once the messages it received are answered."""
        await self.handle.signal("end")

    async def cancel(self) -> None:
        """Cancel the run: its in-flight tools are cancelled first; the transcript stays."""
        await self.handle.cancel()

    async def result(self) -> AgentResult:
        """How the run ended (raises `WorkflowFailureError` if it failed)."""
        return await self.handle.result()

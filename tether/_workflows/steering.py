"""How people steer an agent run while it runs (workflow code): `send` a chat message,
`interrupt` the turn under way, `end` a chat. AgentWorkflow takes these handlers from
`TakesMessages`; the loop (agent.py) acts on what they leave in its state."""

from __future__ import annotations

from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from tether._events import TurnInterrupted

from tether._workflows.chat import Chat
from tether._workflows.interrupts import Interrupts
from tether._workflows.publishing import Publisher

T = TypeVar("T")


class TakesMessages:
    """The `send` and `interrupt` updates and the `end` signal of the agent workflow."""

    _chat: Chat
    _shown: Publisher
    _interrupts: Interrupts

    @workflow.update
    async def send(self, text: str) -> str:
        """Send a chat message; returns the agent's reply once it has answered."""
        seq = self._chat.inbox.put(text)
        # Details only: a handler must not write history (an upsert is a command), or a
        # task that ran it could record state ahead of the loop's; the loop upserts.
        self._shown.show_details()
        return await self._taken(self._chat.inbox.replies, seq, "answering")

    @send.validator
    def _check_send(self, text: str) -> None:
        self._chat.check_message(text, ended=self._shown.closed, status=self._shown.status)

    @workflow.update
    async def interrupt(self, message: str | None = None) -> TurnInterrupted:
        """Stop the turn under way at its next safe point (see interrupts.py); with
        `message`, the run goes on with it as the user's next message. Returns what the
        interrupt abandoned, once the turn has stopped."""
        asked = self._interrupts.request(message)
        return await self._taken(self._interrupts.answers, asked, "the turn stopped")

    @interrupt.validator
    def _check_interrupt(self, message: str | None = None) -> None:
        self._interrupts.check(message, ended=self._shown.closed, status=self._shown.status)

    async def _taken(self, answers: dict[int, T], asked: int, before: str) -> T:
        """The loop's answer to request `asked`, once it is in `answers` (and no longer
        kept there); RunEnded if the run ends `before` it."""
        await workflow.wait_condition(lambda: asked in answers or self._shown.closed)
        if asked not in answers:
            raise ApplicationError(
                f"the run ended with status {self._shown.status} before {before}",
                type="RunEnded",
            )
        return answers.pop(asked)

    @workflow.signal
    def end(self) -> None:
        """End a chat once the messages it has received are answered."""
        self._chat.inbox.end_requested = True

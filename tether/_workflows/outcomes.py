"""How far a run's answer can be trusted, and what the agent does about it (workflow
code): replies cut at their length limit, and tools the model server dropped.

A reply cut at its length limit (the reply cap or the model's context: finish reason
`length`) is marked `truncated` on its message, in its `Reply` event and in the result;
the agent's `LlmPolicy.on_truncated` then keeps it, asks the model to go on from where
it stopped (the pieces join into the answer), or ends the run with status `truncated`.
A reply with tool calls is never continued: its calls run, and arguments the cut left
malformed go back to the model as such. A run whose model server dropped the agent's
tools and that called none ends `tools_dropped`, not `completed`: its answer was written
without them. Runs of generations before generations.CURRENT do none of this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether._messages import Message
    from tether._records import AgentSpec
    from tether._run_io import RunStatus
    from tether._wire import LlmReply

# What the run does after a reply: go on as it always did, ask the model to continue
# the cut reply, or end the run (status `truncated`).
NextStep = Literal["go_on", "continue", "fail"]


def continue_request() -> Message:
    """Sent after a cut reply when the agent's policy says `continue`."""
    return Message.user(
        "Your reply was cut off at its length limit. Continue it from exactly where it "
        "stopped, without repeating anything."
    )


@dataclass
class Outcomes:
    """What the run's replies said of its answer so far."""

    enabled: bool = False
    truncated: bool = False  # a reply the run kept was cut
    tools_dropped: bool = False
    has_tools: bool = False
    tool_calls: int = 0
    pieces: list[str] = field(default_factory=list)  # the cut reply being continued

    def after(self, spec: AgentSpec, reply: LlmReply) -> NextStep:
        """What the run does with `reply`, which it has added to the conversation."""
        if not self.enabled:
            return "go_on"
        message = reply.message
        self.has_tools = bool(spec.tools)
        self.tool_calls += len(message.tool_calls)
        self.tools_dropped = self.tools_dropped or reply.tools_dropped
        if message.tool_calls:
            self.pieces = []  # not an answer: nothing to join
        if not message.truncated:
            return "go_on"
        policy = spec.llm
        if policy.on_truncated == "fail":
            return "fail"
        if (
            policy.on_truncated == "continue"
            and not message.tool_calls
            and len(self.pieces) < policy.max_continuations
        ):
            self.pieces.append(message.content or "")
            return "continue"
        self.truncated = True
        return "go_on"

    def answer(self, answer: str | None) -> str | None:
        """The model's answer, joined to the cut pieces it continues."""
        if not self.pieces:
            return answer
        joined, self.pieces = "".join(self.pieces) + (answer or ""), []
        return joined

    def status(self, status: RunStatus) -> RunStatus:
        """How the run ended, told truthfully: `completed` with tools it never had is not."""
        if status == "completed" and self.tools_dropped and self.has_tools and not self.tool_calls:
            return "tools_dropped"
        return status

"""What runs inside your own workflows: whole agent runs, and pipelines with LLM steps.

    from temporalio import workflow
    from tether.workflow import Pipeline, PipelineInput, run_agent

    @workflow.defn
    class Onboarding(Pipeline):
        @workflow.run
        async def run(self, *args: Any) -> str:
            request = self.read_input(PipelineInput, args)
            reader = await self.agent("form-reader")
            form = await self.ask_for(Form, reader, [Message.user(request.text)], step="read")
            ...                                             # deterministic steps in code
            result = await run_agent("researcher", f"Check {form.company}")  # open-ended
            return result.answer or ""

Everything here is workflow code: deterministic, no I/O of its own. A `Pipeline` is a
workflow you write step by step, asking a model only where judgement is needed,
through the same LLM and tool activities, idempotency keys and approvals as an agent;
`run_agent` hands one step to a whole agent as a child run. Keep a workflow in a module
of its own (Temporal re-imports it in a sandbox, where I/O at import fails), and
register it in your `AgentRegistry(workflows=[...])` or your own `Worker`.

`AgentSpec`, `LlmReply`, `ToolCall` and `ToolOutcome` are what a pipeline's steps take
and hand back.
"""

from __future__ import annotations

from temporalio import workflow as _temporal

# Imported in Temporal's sandbox by your workflow modules (and by a Replayer of
# AgentWorkflow, whose home this is): what is not workflow code passes through, as the
# workflow modules pass it (a re-import of `cryptography` in the sandbox aborts).
with _temporal.unsafe.imports_passed_through():
    from tether._messages import ToolCall
    from tether._public import rehome_all
    from tether._records import AgentSpec
    from tether._wire import LlmReply, ToolOutcome

from tether._workflows.agent import AgentWorkflow
from tether._workflows.agent_runs import run_agent
from tether._workflows.inputs import checked_input
from tether._workflows.pipeline import Pipeline, PipelineInput, PipelineState, tool_call

__all__ = [
    "AgentSpec",
    "AgentWorkflow",
    "LlmReply",
    "Pipeline",
    "PipelineInput",
    "PipelineState",
    "ToolCall",
    "ToolOutcome",
    "checked_input",
    "run_agent",
    "tool_call",
]
rehome_all(globals(), __all__)

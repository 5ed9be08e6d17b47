"""A deliberately incompatible AgentWorkflow, to show the replay gate catches one.

Its own module because the workflow sandbox re-imports the module defining a workflow,
which must stay free of I/O imports.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether.seam import AgentResult, StartInput
    from workflows.agent import AgentWorkflow


@workflow.defn(name="AgentWorkflow")
class ReorderedAgentWorkflow(AgentWorkflow):
    """A timer before the first step the recorded runs took."""

    @workflow.run
    async def run(self, params: StartInput) -> AgentResult:
        await workflow.sleep(1)
        return await super().run(params)

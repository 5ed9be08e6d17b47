"""A deliberately incompatible AgentWorkflow, to show the replay gate catches one.

Its own module because the workflow sandbox re-imports the module defining a workflow,
which must stay free of I/O imports.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from tether import AgentResult
from tether.workflow import AgentWorkflow


@workflow.defn(name="AgentWorkflow")
class ReorderedAgentWorkflow(AgentWorkflow):
    """A timer before the first step the recorded runs took."""

    @workflow.run
    async def run(self, *args: Any) -> AgentResult:
        await workflow.sleep(1)
        return await super().run(*args)

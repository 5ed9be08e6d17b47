"""A pipeline written in the module of its agents, which reads the clock at import: what
Temporal's sandbox refuses when it imports the module to validate the workflow."""

from __future__ import annotations

import datetime
from typing import Any

from temporalio import workflow

from tether import Agent, AgentRegistry
from tether.workflow import Pipeline, PipelineInput

LOADED_AT = datetime.datetime.now()


@workflow.defn
class ClockPipeline(Pipeline):
    """Does nothing; its module is the problem."""

    @workflow.run
    async def run(self, *args: Any) -> str:
        return self.read_input(PipelineInput, args).text


REGISTRY = AgentRegistry([Agent(name="clocked", instructions="x")], workflows=[ClockPipeline])

"""Every workflow a worker runs; replays (the test gate, `starter.py replay`) check
histories against the same list, without importing the worker's activities."""

from __future__ import annotations

from workflows.agent import AgentWorkflow
from workflows.pipeline import RefundPipelineWorkflow

WORKFLOWS: list[type] = [AgentWorkflow, RefundPipelineWorkflow]

"""Every workflow a worker runs; replays (the test gate, `starter.py replay`) check
histories against the same list, without importing the worker's activities."""

from __future__ import annotations

from workflows.agent import AgentWorkflow

WORKFLOWS: list[type] = [AgentWorkflow]

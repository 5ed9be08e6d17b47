"""An agent whose tool takes a while and writes a line per call, for the graceful
shutdown test's `tether worker` processes (`--agents tests.support.slow_agents:REGISTRY`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tether import Agent, AgentRegistry, ToolContext, tool

# Seconds the tool runs: long enough for the test to stop its worker meanwhile.
TOOL_SECONDS = 3.0


@tool(side_effects=True)
def slow_write(ctx: ToolContext, text: str) -> str:
    """Write a line (slowly): each call that runs writes one, retried or not."""
    written = Path(os.environ["TETHER_TEST_WRITES"])
    with written.open("a") as f:
        f.write(f"started {ctx.idempotency_key}\n")
    time.sleep(TOOL_SECONDS)
    with written.open("a") as f:
        f.write(f"wrote {text}\n")
    return "written"


REGISTRY = AgentRegistry([Agent(name="writer", instructions="Write.", tools=[slow_write])])

"""A Temporal server restart with runs in flight: the server of the test's own is stopped
(SIGTERM) while every run waits on a slow model call, started again on the same
database file and port, and the same worker process reconnects and finishes them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.ledger import runs_per_key, seed_orders
from tests.support.model_requests import turns_seen
from tests.support.order_desk import order_desk_script, refund_prompt, start_refund
from tests.support.processes import DevServer, model_env, process_env, worker_process
from tests.support.waiting import until
from tether.testing import ScriptedLLM, Slow, Step
from tether.workflow import AgentWorkflow

ORDERS = ["R-1001", "R-1002", "R-1003"]


def slow_desk(messages: list[dict[str, Any]]) -> Step:
    """The order desk's script, slow enough that every run is inside a model call at the stop."""
    return Slow(0.5, order_desk_script(messages))


async def test_runs_in_flight_survive_a_server_restart(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    orders = seed_orders(ledger, ORDERS)
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    with (
        ScriptedLLM(slow_desk) as llm,
        DevServer(tmp_path / "temporal.db", tmp_path / "server.log") as server,
    ):
        client = await server.client()
        env = process_env(server.address, queue, ledger, **model_env(llm))
        with worker_process(env, tmp_path / "worker.log") as worker:
            runs = [await start_refund(client, queue, order) for order in orders]

            async def all_asked() -> bool:
                return len(turns_seen(llm)) == len(orders)

            await until(all_asked, "not every run called the model", within=60)
            server.stop()
            asked_before = llm.request_count
            server.start()
            restarted = time.monotonic()
            client = await server.client()
            handles = [client.get_workflow_handle_for(AgentWorkflow.run, run.id) for run in runs]
            results = await asyncio.wait_for(
                asyncio.gather(*(h.result() for h in handles)), timeout=60
            )
            print(f"runs finished {time.monotonic() - restarted:.1f} s after the restart")
            assert worker.poll() is None, "the worker did not survive the restart"

    assert all("refunded $10.00" in (r.answer or "") for r in results)
    # The runs really were in flight: most of each conversation came after the restart.
    assert llm.request_count - asked_before >= 3 * len(orders)
    for order in orders:
        seen = turns_seen(llm)[refund_prompt(order)]
        # A call whose reply could not be reported while the server was down runs again.
        assert set(seen) == {1, 2, 3, 4} and max(seen.values()) <= 2, seen
    once = Counter({run.id: 1 for run in runs})
    assert runs_per_key(ledger, "refunds") == once
    assert runs_per_key(ledger, "notices") == once

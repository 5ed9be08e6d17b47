"""The demo's "approve in the browser": `python3 dev.py demo --web` (on a copy of the
repository, its dev server and `tether web` on free ports) starts the refund, which
waits for a person, and serves the inbox, where the demo's lead signs in and approves
it; the run then completes, its refund approved by the lead. `web.py` is `tether web`
as a real subprocess: its options, its loopback bind, its service key."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.processes import free_port

DEMO_SECONDS = 240


def test_dev_py_demo_web_serves_the_waiting_refund_to_the_lead(clone: Path) -> None:
    grpc, ui, web = free_port(), free_port(), free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_", "TETHER_"))
    }
    env.update(
        TEMPORAL_ADDRESS=f"localhost:{grpc}",
        TETHER_UI_URL=f"http://localhost:{ui}",
        TETHER_WEB_PORT=str(web),
        PYTHONUNBUFFERED="1",
    )
    log = clone / "demo-web.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "dev.py", "demo", "--web"], cwd=clone, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{web}"
    try:
        _until(lambda: "tether web: serving on" in log.read_text(), demo, log)
        assert f"open {base}/ and sign in as lead, password demo" in log.read_text()
        with httpx.Client(base_url=base, headers={"Origin": base}, timeout=30) as http:
            signed = http.post("/login", data={"name": "lead", "password": "demo"})
            assert signed.status_code == 303, signed.text
            _until(lambda: "issue_refund" in http.get("/").text, demo, log)
            inbox = http.get("/").text
            run = re.search(r'data-run="([^"]+)" data-call="([^"]+)"', inbox)
            digest = re.search(r'name="digest" value="([^"]*)"', inbox)
            csrf = re.search(r'<meta name="csrf" content="([^"]+)"', inbox)
            assert run and digest and csrf, inbox
            decided = http.post(
                f"/runs/{run.group(1)}/decide",
                data={"csrf": csrf.group(1), "call_id": run.group(2),
                      "digest": digest.group(1), "action": "approve"},
            )  # fmt: skip
            assert decided.status_code == 303, decided.text
        status = [sys.executable, "starter.py", "status", run.group(1)]
        _until(lambda: "completed" in _output(status, clone, env), demo, log, what="the run's end")
        # The refund's row names who approved it: the lead, signed for by the web app.
        assert "[('lead',)]" in _output(
            [sys.executable, "-c", "import sqlite3;print(sqlite3.connect('.tether/shop.db')"
             ".execute('select approved_by from refunds').fetchall())"], clone, env,
        )  # fmt: skip
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()


def _output(command: list[str], home: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=home, env=env, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def _until(
    check: Callable[[], bool], demo: subprocess.Popen[bytes], log: Path, what: str = "it"
) -> None:
    deadline = time.monotonic() + DEMO_SECONDS
    while not check():
        assert demo.poll() is None, f"dev.py demo --web exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"waited for {what}:\n{log.read_text()}"
        time.sleep(0.3)

"""`tether model serve`: the bundled llama.cpp model as a person starts it, in the
foreground (under nohup too) and in the background, and what it says when it cannot."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tether.testing import MODEL_ALIAS

TETHER = str(Path(sys.executable).parent / "tether")
START_SECONDS = 60.0
SERVING = re.compile(r"^serving smollm2 at (http://127\.0\.0\.1:\d+/v1) ")


def first_line(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], START_SECONDS)
    assert ready, "nothing printed within a minute"
    return proc.stdout.readline().decode()


def served_models(base_url: str) -> list[str]:
    with urllib.request.urlopen(f"{base_url}/models", timeout=30) as response:
        return [m["id"] for m in json.load(response)["data"]]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie child of another process still answers; its state says it is dead.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] == "Z"


def test_in_the_foreground_under_nohup_it_serves_until_sigterm(tmp_path: Path) -> None:
    """nohup leaves stdin closed: the server used to read it, and exit 0 at once."""
    log = tmp_path / "model.log"
    proc = subprocess.Popen(
        ["nohup", TETHER, "model", "serve", "--port", "0", "--log", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        match = SERVING.match(first_line(proc))
        assert match, log.read_text()[-2000:]
        assert served_models(match.group(1)) == [MODEL_ALIAS]
        assert proc.poll() is None  # still serving
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0


def test_in_the_background_it_returns_once_it_listens(tmp_path: Path) -> None:
    log = tmp_path / "model.log"
    done = subprocess.run(
        [TETHER, "model", "serve", "--port", "0", "--log", str(log), "--background"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_SECONDS + 30,
    )
    assert done.returncode == 0, done.stderr
    match = SERVING.match(done.stdout)
    pid = re.search(r"stop it with: kill (\d+)", done.stdout)
    assert match and pid, done.stdout
    try:
        assert served_models(match.group(1)) == [MODEL_ALIAS]
        assert "TETHER_MAX_CONCURRENT_LLM_CALLS=1" in done.stdout
    finally:
        os.kill(int(pid.group(1)), signal.SIGTERM)
    server = int(pid.group(1))
    for _ in range(300):
        if gone(server):
            break
        time.sleep(0.1)
    assert gone(server)


def test_without_its_package_it_says_so_in_one_line(tmp_path: Path) -> None:
    # Python's site imports sitecustomize from the path: here it hides xllamacpp.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['xllamacpp'] = None\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    for wrapper in ([], ["nohup"]):
        done = subprocess.run(
            [*wrapper, TETHER, "model", "serve", "--log", str(tmp_path / "m.log")],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 2
        [line] = [ln for ln in done.stderr.splitlines() if not ln.startswith("nohup:")]
        assert line.startswith("tether: cannot serve the bundled model: xllamacpp is not")
        assert "pip install" in line

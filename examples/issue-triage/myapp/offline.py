"""The agent played without a model, for the offline worker and the tests:
`tether worker --agents myapp.catalog:REGISTRY --offline myapp.offline:SCRIPTS`."""

import re
from typing import Any

from myapp.catalog import TRIAGE
from tether.testing import Step, call_tools, say


def triage_script(messages: list[dict[str, Any]]) -> Step:
    """The next step of a triage conversation, from the messages so far."""
    asked = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    number, duplicate_of = (int(n) for n in re.findall(r"#(\d+)", asked)[:2])
    done = [m["content"] for m in messages if m["role"] == "tool"]
    if not done:
        return call_tools(("find_issue", {"number": number}))
    if len(done) == 1:
        return call_tools(("close_issue", {"number": number, "duplicate_of": duplicate_of}))
    return say(f"#{number}: {done[-1]}")


SCRIPTS = {TRIAGE.name: triage_script}

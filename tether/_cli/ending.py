"""Following a run to its end, and how it ended, printed: an agent's result, another
kind's (a pipeline's), or the failure that ended it."""

from __future__ import annotations

import sys
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from tether._cli.common import emit_json, prog, root_cause, warnings
from tether._cli.follow import Approver, any_progress, follow
from tether._cli.live import LastEventsMissing, Screen, follow_feed, print_event
from tether._cli.notices import Notices
from tether._events import RunEvent
from tether._run_io import AgentResult
from tether._subscribe import EventsUnavailable


async def finish(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    approver: Approver,
    link: str,
    *,
    as_json: bool,
    polling: bool = True,
    events: bool = False,
    from_seq: int = 0,
) -> int:
    """Follow any run to its end (an agent's or a pipeline's) by its event feed and
    print how it ended; exit status 0 if it completed. `polling` False: the caller said
    no worker polls. `events`: print each event from `from_seq` as a JSON line, and
    nothing else on stdout."""
    # The result as plain JSON, whatever the workflow returns.
    raw = client.get_workflow_handle(handle.id)
    quiet = as_json or events
    notices = Notices(client, raw, quiet=quiet, polling=polling)
    screen = Screen(tty=sys.stdout.isatty(), approver=approver)
    show = print_event if events else nothing if as_json else screen.show
    try:
        try:
            result = await follow_feed(
                client,
                raw,
                approver,
                show,
                notices,
                history=None if quiet else screen.history,
                from_seq=from_seq,
            )
        except EventsUnavailable:  # its worker runs a Tether without event feeds
            result = await follow(raw, approver, any_progress(raw, quiet=quiet), notices)
    except WorkflowFailureError as e:
        return 1 if events else report_failure(handle.id, link, e, as_json=as_json)
    except LastEventsMissing as e:
        print(f"{prog()}: {e}", file=sys.stderr)
        return 1
    try:
        agent = AgentResult.model_validate(result)
    except ValidationError:
        if not events:
            print_outcome(handle.id, link, result, as_json=as_json)
        return 0
    if not events:
        print_result(handle.id, link, agent, as_json=as_json, written=screen.answer)
    return 0 if agent.status == "completed" else 1


def nothing(event: RunEvent) -> None:
    """--json prints only the result."""


def print_result(
    workflow_id: str, link: str, result: AgentResult, *, as_json: bool, written: str | None = None
) -> None:
    """The run's answer (unless it is `written`: streamed onto the terminal already),
    then its status, usage and where to find it."""
    if as_json:
        emit_json({"workflow_id": workflow_id, "url": link, **result.model_dump()})
        return
    if written is None or written != result.answer:
        print(f"\n{result.answer or '(no answer)'}")
    print()
    cost = f" · ${result.cost_usd:.6f}" if result.cost_usd is not None else ""
    print(
        f"status {result.status} · {plural(result.turns, 'turn')} · "
        f"{result.usage.total_tokens} tokens{cost} · model {result.model}"
    )
    for line in warnings(truncated=result.truncated, tools_dropped=result.tools_dropped):
        print(line.strip())
    print(f"workflow id: {workflow_id}\nweb UI: {link}")


def print_outcome(workflow_id: str, link: str, result: Any, *, as_json: bool) -> None:
    """The result of a run of another kind (a pipeline's): its answer, then its short
    fields in one line."""
    fields = result if isinstance(result, dict) else {"result": result}
    if as_json:
        emit_json({"workflow_id": workflow_id, "url": link, **fields})
        return
    answer = fields.get("answer")
    if answer:
        print(f"\n{answer}\n")
    print(result_line(fields))
    print(f"workflow id: {workflow_id}\nweb UI: {link}")


def result_line(fields: dict[str, Any]) -> str:
    """The result's short fields in one line: `outcome refunded · llm_calls 2 · ...`."""
    shown = [
        f"{key} {value}"
        for key, value in fields.items()
        if key not in ("answer", "steps") and isinstance(value, str | int | float)
    ]
    usage = fields.get("usage")
    if isinstance(usage, dict) and "total_tokens" in usage:
        shown.append(f"{usage['total_tokens']} tokens")
    return " · ".join(shown)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def report_failure(
    workflow_id: str, link: str, error: WorkflowFailureError, *, as_json: bool
) -> int:
    """A failed or cancelled run: the type and message of what failed it (the root of
    the chain, e.g. `ContextLengthExceeded`, not `ActivityError`), exit status 1."""
    kind, message = root_cause(error)
    status = "cancelled" if kind == "CancelledError" else "failed"
    if as_json:
        emit_json(
            {
                "workflow_id": workflow_id,
                "url": link,
                "status": status,
                "error": {"type": kind, "message": message},
            }
        )
    else:
        print(f"run {workflow_id} {status} ({kind}): {message}\nweb UI: {link}", file=sys.stderr)
    return 1

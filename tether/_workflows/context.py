"""Keeping what the model is sent within a context policy's budget (workflow code: the
steps are pure functions of the messages, so every replay compacts alike).

`fit` takes the steps, cheapest first, each only while the estimate is over budget:
1. older tool results over `tool_result_chars` are elided, with a note;
2. the messages before the latest `keep_recent` are summarized by a model call (the
   caller makes it; here the request and the message it becomes) or, without
   `summarize` or when that call fails, dropped with a note;
3. any message still too long is cut, with a note.
The model is sent the compacted view; the transcript keeps every message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether._messages import Message
    from tether._policies import ContextPolicy

from tether._workflows.logs import log
from tether._workflows.run_state import Conversation

CHARS_PER_TOKEN = 4  # the usual estimate for English text; no tokenizer in a workflow
MESSAGE_OVERHEAD = 4  # tokens a message costs beyond its text (role, separators)
SUMMARY_PROMPT = (
    "You condense a conversation between a user and an assistant with tools, so the "
    "assistant can go on without the original messages. Keep every fact, number, id, "
    "decision and open question the assistant may need; drop pleasantries. Write plain "
    "sentences, at most a few hundred words."
)
RENDER_CHARS = 2000  # of one message, in what the summarizing call is sent

# A model call given a `summary_request`: the summary, or None if the call failed.
Summarize = Callable[[list[Message]], Awaitable[str | None]]


async def fit(
    policy: ContextPolicy | None, conversation: Conversation, turn: int, summarize: Summarize
) -> None:
    """Compact what the model is sent before `turn` to `policy`, if it is over; the
    transcript notes what was done."""
    if policy is None or not over(policy, conversation.messages):
        return
    notes = []
    view, elided = elide_tool_results(policy, conversation.messages)
    if elided:
        notes.append(f"{elided} older tool results elided")
    start = recent_start(policy, view)
    if over(policy, view) and start > 1:
        older = view[1:start]
        summary = await summarize(summary_request(older, policy)) if policy.summarize else None
        if summary is None:
            view = [view[0], dropped_message(len(older)), *view[start:]]
            notes.append(f"{len(older)} older messages dropped")
        else:
            view = [view[0], summary_message(summary, len(older)), *view[start:]]
            notes.append(f"{len(older)} older messages summarized")
    view, cut = cut_to_fit(policy, view)
    if cut:
        notes.append(f"{cut} long messages cut")
    log.info("context compacted", extra={"turn": turn, "notes": notes})
    conversation.compact(view, compaction_note(notes, turn))


def estimate(messages: list[Message]) -> int:
    """Tokens the messages are estimated to cost a model call."""
    chars = 0
    for m in messages:
        chars += len(m.content or "") + sum(len(c.name) + len(c.arguments) for c in m.tool_calls)
    return chars // CHARS_PER_TOKEN + MESSAGE_OVERHEAD * len(messages)


def over(policy: ContextPolicy, messages: list[Message]) -> bool:
    return estimate(messages) > policy.max_tokens


def elide_tool_results(policy: ContextPolicy, view: list[Message]) -> tuple[list[Message], int]:
    """`view` with the long tool results before the recent ones elided; how many."""
    older = recent_start(policy, view)
    elided = 0
    out = []
    for i, m in enumerate(view):
        content = m.content or ""
        if i < older and m.role == "tool" and len(content) > policy.tool_result_chars:
            shown = content[: policy.tool_result_chars // 2]
            m = m.model_copy(
                update={
                    "content": f"{shown}\n[Elided: this tool result was {len(content):,} "
                    "characters; the rest is in the transcript.]"
                }
            )
            elided += 1
        out.append(m)
    return out, elided


def recent_start(policy: ContextPolicy, view: list[Message]) -> int:
    """Where the messages always sent as they are begin: the latest `keep_recent`, moved
    back so that a tool result stays with the call that asked for it."""
    start = max(1, len(view) - policy.keep_recent)
    while start > 1 and view[start].role == "tool":
        start -= 1
    return start


def summary_request(older: list[Message], policy: ContextPolicy) -> list[Message]:
    """What the summarizing model call is sent: the older messages as text, within the
    budget (the newest of them kept when all do not fit)."""
    lines = [_render(m) for m in older]
    room = max(policy.max_tokens * CHARS_PER_TOKEN - len(SUMMARY_PROMPT) - 200, 1000)
    kept: list[str] = []
    for line in reversed(lines):
        if sum(len(x) for x in kept) + len(line) > room:
            kept.append("[... earlier messages omitted ...]")
            break
        kept.append(line)
    return [Message.system(SUMMARY_PROMPT), Message.user("\n\n".join(reversed(kept)))]


def summary_message(text: str, count: int) -> Message:
    """The summary, in the model's view in place of the `count` messages it condenses."""
    return Message.system(
        f"Summary of the {count} earlier messages of this conversation (the transcript "
        f"keeps them): {text}"
    )


def dropped_message(count: int) -> Message:
    return Message.system(
        f"[{count} earlier messages are not shown here; the transcript keeps them.]"
    )


def cut_to_fit(policy: ContextPolicy, view: list[Message]) -> tuple[list[Message], int]:
    """`view` with its longest messages (never the instructions) cut until it fits."""
    out = list(view)
    cut = 0
    while over(policy, out) and len(out) > 1:
        longest = max(range(1, len(out)), key=lambda i: len(out[i].content or ""))
        content = out[longest].content or ""
        excess = (estimate(out) - policy.max_tokens) * CHARS_PER_TOKEN
        keep = max(len(content) - excess - 200, 0)
        if keep >= len(content) or len(content) < 300:
            break  # nothing long is left to cut
        out[longest] = out[longest].model_copy(
            update={
                "content": f"{content[:keep]}\n[Cut: this message is {len(content):,} "
                "characters; the model is shown the start, the transcript keeps it all.]"
            }
        )
        cut += 1
    return out, cut


def compaction_note(notes: list[str], turn: int) -> Message:
    """The transcript's mark of where the model's view was compacted, and how."""
    return Message.system(f"[Compacted before turn {turn}: {'; '.join(notes)}.]")


def _render(message: Message) -> str:
    text = message.content or ""
    if len(text) > RENDER_CHARS:
        text = text[:RENDER_CHARS] + " [...]"
    calls = "".join(f"\n(calls {c.name} {c.arguments[:200]})" for c in message.tool_calls)
    return f"{message.role}: {text}{calls}"

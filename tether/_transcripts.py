"""A run's transcript in pages: one query answer is at most 2 MiB, and a long chat's
transcript (300 messages with large tool results) is more. The workflow answers the
`transcript_page` query with the messages from a start index up to PAGE_BYTES (at least
one); readers ask page after page. `AgentRun.transcript()` and `tether transcript` read
it the same way, so they print the same messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field

from tether._messages import Message

TRANSCRIPT_PAGE_QUERY = "transcript_page"
# Half of what a query answer may be: JSON escaping and the codec fit.
PAGE_BYTES = 1024 * 1024


class TranscriptPage(BaseModel):
    """Messages of a run's transcript from some index on."""

    messages: list[Message]
    next: int | None = Field(
        default=None, description="Where the next page starts; None: this is the last."
    )


def page_of(transcript: list[Message], start: int) -> TranscriptPage:
    """The messages from `start` (clamped to the transcript) up to PAGE_BYTES, at least
    one if any are left."""
    index = min(max(start, 0), len(transcript))
    messages: list[Message] = []
    size = 0
    while index < len(transcript):
        size += len(transcript[index].model_dump_json())
        if messages and size > PAGE_BYTES:
            break
        messages.append(transcript[index])
        index += 1
    return TranscriptPage(messages=messages, next=index if index < len(transcript) else None)


async def read_pages(
    ask: Callable[[int], Awaitable[TranscriptPage | None]],
) -> list[Message] | None:
    """Every message, asking `ask(start)` for page after page; None if a page was not
    given."""
    messages: list[Message] = []
    start: int | None = 0
    while start is not None:
        page = await ask(start)
        if page is None:
            return None
        messages += page.messages
        start = page.next
    return messages

"""The worker's sessions with MCP servers: one per server, started when a run first needs
it, shared by every run and call in this worker, replaced when it ends, closed when the
worker stops.

Each session lives in a task of its own, not in the activity that started it: the SDK's
client holds task groups that must be entered and left in one task, and a transport that
fails cancels that task, never an activity. Every request races the session's end, so a
call whose server died fails at once (and Temporal retries it) instead of waiting on a
reply that cannot come.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeVar

from tether._logs import get_logger
from tether._mcp import HttpConnection, McpServer, StdioConnection
from tether._replay import one_line

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, Tool

log = get_logger("tether.mcp")

T = TypeVar("T")
# A paginating server that never ends its list cannot hold a run's start forever.
MAX_LIST_PAGES = 100
# A server lists at most this many tools: 20,000 took a worker to 696 MB.
MAX_LISTED_TOOLS = 1_000


class TooManyTools(Exception):
    """A server lists more tools than a run can take."""


# Stopping a stdio server closes its stdin, then terminates and kills it: the SDK bounds
# each step at 2 s; an HTTP session ends with one DELETE.
CLOSE_SECONDS = 10.0


class SessionGone(Exception):
    """The session ended or never started; the message says why, for one log line."""


class McpSession:
    """One live connection to a server: a subprocess (stdio) or an HTTP session."""

    def __init__(self, server: McpServer) -> None:
        self.server = server
        self.id = uuid.uuid4().hex[:12]
        self._client: Client | None = None
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._ended = asyncio.Event()
        self._why: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._why is None

    @property
    def why(self) -> str | None:
        """Why the session ended; None while it is alive."""
        return self._why

    async def start(self) -> None:
        """Connect (for stdio: start the process) and finish MCP's handshake."""
        # A context of its own: the session outlives the activity that starts it, and
        # must not log with that activity's run and call.
        self._task = asyncio.create_task(
            self._hold(), name=f"mcp {self.server.name}", context=contextvars.Context()
        )
        seconds = self.server.connect_timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds):
                await asyncio.shield(self._ready)
        except TimeoutError:
            self._end(f"did not answer within {seconds:g} s")
            await self.close()
            raise SessionGone(self._why) from None
        except BaseException:
            await self.close()
            raise

    async def list_tools(self) -> list[Tool]:
        """Every tool the server offers now, across pages (no cached listing)."""
        tools: list[Tool] = []
        cursor: str | None = None
        for _ in range(MAX_LIST_PAGES):
            page = await self._request(
                self._connected().list_tools(cursor=cursor, cache_mode="refresh")
            )
            tools.extend(page.tools)
            if len(tools) > MAX_LISTED_TOOLS:
                raise TooManyTools(f"it lists over {MAX_LISTED_TOOLS} tools")
            cursor = page.next_cursor
            if not cursor:
                return tools
        raise SessionGone(f"its tool list did not end after {MAX_LIST_PAGES} pages")

    async def call_tool(
        self, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None
    ) -> CallToolResult:
        """One `tools/call`. Cancelling it cancels the request on the server (the SDK sends
        `notifications/cancelled`, or aborts the HTTP request)."""
        return await self._request(
            self._connected().call_tool(name, arguments, meta=meta)  # type: ignore[arg-type]
        )

    async def close(self) -> None:
        self._end("closed")
        self._stop.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_SECONDS)
        except TimeoutError:
            self._task.cancel()
            await asyncio.wait([self._task])

    def _connected(self) -> Client:
        if self._client is None or not self.alive:
            raise SessionGone(self._why or "not connected")
        return self._client

    async def _request(self, request: Awaitable[T]) -> T:
        """`request`'s result, or SessionGone as soon as the session ends first."""
        from mcp.shared.exceptions import MCPError
        from mcp.types import CONNECTION_CLOSED

        work = asyncio.ensure_future(request)
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait([work, ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if not work.done():
                work.cancel()
                await asyncio.wait([work])  # the SDK's cancellation is bounded
        if work.cancelled():
            raise SessionGone(self._why or "ended")
        try:
            return work.result()
        except MCPError as e:
            if e.code != CONNECTION_CLOSED:
                raise  # the server's answer to this request; the session is fine
            self._lose(f"the connection closed ({e.message})")
        except Exception as e:  # a transport that broke: the next request needs a new one
            self._lose(_reason(e))
        raise SessionGone(self._why)

    def _lose(self, why: str) -> None:
        self._end(why)
        self._stop.set()

    async def _hold(self) -> None:
        try:
            async with AsyncExitStack() as stack:
                self._client = await stack.enter_async_context(await _client(self.server, stack))
                self._ready.set_result(None)
                await self._stop.wait()
        except BaseException as e:  # the task ends here, whatever ended the session
            self._end(_reason(e))
            if not self._ready.done():
                self._ready.set_exception(SessionGone(self._why))
            if isinstance(e, asyncio.CancelledError):
                raise
        finally:
            self._end("closed")
            self._ended.set()

    def _end(self, why: str) -> None:
        if self._why is None:
            self._why = why


class McpSessions:
    """The worker's sessions, one per connection (agents naming the same server share it)."""

    def __init__(self) -> None:
        self._sessions: dict[StdioConnection | HttpConnection, McpSession] = {}
        self._starting: dict[StdioConnection | HttpConnection, asyncio.Lock] = {}

    async def session(self, server: McpServer) -> McpSession:
        """The server's live session, started now if there is none (SessionGone if it
        cannot be)."""
        key = server.connection
        async with self._starting.setdefault(key, asyncio.Lock()):
            session = self._sessions.get(key)
            if session is not None and session.alive:
                return session
            if session is not None:
                log.warning("mcp session ended", server=server.describe(), why=session.why)
            session = McpSession(server)
            await session.start()
            self._sessions[key] = session
            log.info("mcp server connected", server=server.describe(), session=session.id)
            return session

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions))


async def _client(server: McpServer, stack: AsyncExitStack) -> Client:
    """The SDK's client for `server`, not yet connected; `stack` owns what it needs."""
    from mcp import Client, StdioServerParameters

    connection = server.connection
    if isinstance(connection, StdioConnection):
        argv = connection.command
        params = StdioServerParameters(
            command=argv[0], args=list(argv[1:]), env=dict(connection.env), cwd=connection.cwd
        )
        return Client(params)
    if not connection.headers:
        return Client(connection.url)
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    http = await stack.enter_async_context(
        # The SDK's own timeouts: a server may hold a response stream open for minutes.
        httpx2.AsyncClient(headers=dict(connection.headers), timeout=httpx2.Timeout(30, read=300))
    )
    return Client(streamable_http_client(connection.url, http_client=http))


def _reason(error: BaseException) -> str:
    """The innermost errors of an exception (group), in one line."""
    leaves: list[BaseException] = []

    def collect(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                collect(inner)
        else:
            leaves.append(e)

    collect(error)
    return one_line(
        "; ".join(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__ for e in leaves)
    )


async def check_servers(servers: list[McpServer], sessions: McpSessions) -> None:
    """Start a session with each server now, logging one line for each that fails."""

    async def check(server: McpServer) -> None:
        try:
            session = await sessions.session(server)
            await session.list_tools()
        except SessionGone as e:
            log.error(f"MCP server {server.describe()} did not start or answer: {e}")

    unique = {server.connection: server for server in servers}
    await asyncio.gather(*(check(server) for server in unique.values()))

"""A scripted OpenAI-compatible chat-completions server on loopback.

It is the offline model of `tether worker` and the LLM of tests: real HTTP, spoken to by
the real `openai` client. Replies come from a queue of scripted steps (consumed in
order) and, when the queue is empty, from a responder function that looks at the
conversation: the script of the agent that sent the request (Tether's LLM activity
names it in the X-Tether-Agent header), else the catch-all `responder`. Every request
is recorded, so tests can count calls.

    with ScriptedLLM(scripts={"issue-triage": triage_script}) as llm:
        llm.enqueue(call_tools(("lookup_order", {"order_id": "A-1001"})), say("Done."))
        ...  # point OPENAI_BASE_URL at llm.base_url
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tether._settings import OFFLINE_MODEL

log = logging.getLogger("tether.scripted_llm")


@dataclass(frozen=True)
class Say:
    """Reply with a final text answer."""

    content: str


@dataclass(frozen=True)
class CallTools:
    """Reply with tool calls; arguments given as a dict are JSON-encoded, a str is sent
    verbatim (to script malformed arguments). Call ids are numbered per server
    (`call_0001`, ...) unless `ids` names them, e.g. to play a provider that reuses them."""

    calls: tuple[tuple[str, dict[str, Any] | str], ...]
    content: str | None = None
    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fail:
    """Answer with an HTTP error in the provider's error shape."""

    status: int = 500
    message: str = "scripted server error"
    code: str = "server_error"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


@dataclass(frozen=True)
class Garbage:
    """Answer 200 with a body that is not JSON."""


@dataclass(frozen=True)
class Raw:
    """Answer with exactly this body (a dict or list is sent as JSON, bytes as they
    are): a reply of any shape, to play a provider that sends what no schema allows."""

    body: Any
    status: int = 200


@dataclass(frozen=True)
class Slow:
    """Wait, then take the next step (past the client's timeout, the client gives up)."""

    seconds: float
    then: Step


@dataclass(frozen=True)
class Streamed:
    """Take the next step, and if it is a reply and the request asked for a stream, send
    its chunks `delay` seconds apart; `drop_after` closes the connection after that many
    chunks, as a provider that breaks off mid-reply. `pause_after` holds the stream
    after that many chunks until `resume` is set (at most a minute): a test then knows
    the reply is still being written."""

    then: Step
    delay: float = 0.0
    drop_after: int | None = None
    pause_after: int | None = None
    resume: threading.Event | None = None


Step = Say | CallTools | Fail | Drop | Garbage | Raw | Slow | Streamed
Responder = Callable[[list[dict[str, Any]]], Step]
# What the server answers an agent it has no script for, given the agent's name ("" if
# the request did not say).
Unscripted = Callable[[str], Step]
AGENT_HEADER = "X-Tether-Agent"
ARGUMENT_PIECE = 16  # characters of a tool call's arguments per streamed chunk
PAUSE_LIMIT_SECONDS = 60.0
# The error code of a reply whose script raised (see llm_errors: not retried).
SCRIPT_FAILED = "script_failed"
OFFLINE_NOTE = "[offline scripted model — set OPENAI_API_KEY or OPENAI_BASE_URL for a real one]"


def no_script(agent: str) -> Say:
    """The offline model's answer to an agent it has no script for: says so, instead of
    pretending to be some other agent."""
    who = f"agent {agent!r}" if agent else "this agent"
    return Say(
        f"There is no offline script for {who}, so this is not a real answer. Give the "
        f"worker a model (OPENAI_API_KEY or OPENAI_BASE_URL, and TETHER_MODEL), or a script "
        f"for it: AgentRegistry(..., scripts={{{agent!r}: responder}}).\n{OFFLINE_NOTE}"
    )


def say(content: str) -> Say:
    """A reply with a final text answer."""
    return Say(content)


def call_tools(*calls: tuple[str, dict[str, Any] | str], ids: Sequence[str] = ()) -> CallTools:
    """A reply that calls tools: `call_tools(("lookup", {"id": 1}), ("quote", {}))`;
    `ids=("call_a", ...)` names the first calls' ids (the rest are numbered)."""
    return CallTools(tuple(calls), ids=tuple(ids))


def rate_limited(*, retry_after: str | None = None, retry_after_ms: int | None = None) -> Fail:
    """429, with `Retry-After` (seconds or an HTTP date) and/or `retry-after-ms`."""
    headers = []
    if retry_after is not None:
        headers.append(("Retry-After", retry_after))
    if retry_after_ms is not None:
        headers.append(("retry-after-ms", str(retry_after_ms)))
    return Fail(429, "Rate limit reached, slow down.", "rate_limit_exceeded", tuple(headers))


def unauthorized() -> Fail:
    """401, as a provider answers a wrong API key."""
    return Fail(401, "Incorrect API key provided.", "invalid_api_key")


def model_not_found(model: str) -> Fail:
    """404 for `model`, as OpenAI answers a model it does not have."""
    return Fail(404, f"The model `{model}` does not exist.", "model_not_found")


def context_length_exceeded() -> Fail:
    """400 context_length_exceeded, as OpenAI answers a conversation too long."""
    return Fail(
        400,
        "This model's maximum context length is 8192 tokens; your messages resulted in "
        "9000 tokens. Please reduce the length of the messages.",
        "context_length_exceeded",
    )


@dataclass(frozen=True)
class Chaos:
    """Inject `fault` into each request with probability `rate` (seeded, repeatable).
    A faulted request does not consume a scripted step: its retry gets the same one."""

    rate: float
    fault: Step = Fail(500)
    seed: int = 0


@dataclass
class RecordedRequest:
    """One request the server received: its body, when, and what it answered."""

    body: dict[str, Any]
    received_at: float
    path: str
    status: int = 0
    total_tokens: int = 0
    authorization: str = ""
    agent: str = field(default="", metadata={"doc": "The X-Tether-Agent header."})

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def stream(self) -> bool:
        """The request asked for a streamed reply."""
        return self.body.get("stream") is True


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    drop: bool = False
    total_tokens: int = 0
    # A streamed reply: server-sent events, each its own chunk of the HTTP body.
    events: list[bytes] | None = None
    streamed: Streamed | None = None


@dataclass
class _State:
    script: deque[Step] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    call_ids: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ScriptedLLM:
    """The server. Start it with `with ScriptedLLM(...) as llm:` or `start()`/`stop()`.

    Args:
        responder: Picks the reply when the queue is empty and the agent has no script
            of its own.
        scripts: A responder per agent name (from the X-Tether-Agent header).
        unscripted: What a request gets that nothing above answers; None answers 500
            "the scripted model has no more replies".
        models: If given, requests for any other model get a 404 "model not found".
        chaos: Random faults at a rate, for fault-injection runs.
        streams: Answer a request for a stream (`"stream": true`) with server-sent
            events, a chunk per word (False: with the whole completion, as a provider
            that does not stream).
        chunk_delay: Seconds between a streamed reply's chunks (a `Streamed` step
            chooses its own).
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        scripts: Mapping[str, Responder] | None = None,
        unscripted: Unscripted | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = OFFLINE_MODEL,
        models: set[str] | None = None,
        chaos: Chaos | None = None,
        streams: bool = True,
        chunk_delay: float = 0.0,
    ) -> None:
        self.responder = responder
        self.streams = streams
        self.chunk_delay = chunk_delay
        self.scripts = dict(scripts or {})
        self.unscripted = unscripted
        self.model = model
        self.models = models
        self.chaos = chaos
        self._random = random.Random(chaos.seed if chaos else 0)
        self._state = _State()
        self._server = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> ScriptedLLM:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def enqueue(self, *steps: Step) -> None:
        with self._state.lock:
            self._state.script.extend(steps)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def reported_total_tokens(self) -> list[int]:
        """The usage.total_tokens the server reported, per request."""
        return [r.total_tokens for r in self.requests]

    def _complete(self, body: dict[str, Any], path: str, authorization: str, agent: str) -> _Reply:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _json(400, _error("'messages' must be a non-empty list", "invalid_request"))
        record = RecordedRequest(body, time.time(), path, authorization=authorization, agent=agent)
        with self._state.lock:
            self._state.requests.append(record)
            step: Step | None
            if self.models is not None and record.model not in self.models:
                step = model_not_found(record.model)
            elif self.chaos and self._random.random() < self.chaos.rate:
                step = self.chaos.fault
            else:
                step = self._state.script.popleft() if self._state.script else None
        if step is None:
            try:
                step = self._respond(agent, messages)
            except Exception as e:
                # A bug in the script, not a server that is down: said as what it is, and
                # not retried (the same messages would fail it the same way).
                log.exception("the scripted model's script failed", extra={"agent": agent})
                who = f"agent {agent!r}" if agent else "this request"
                step = Fail(
                    500, f"the script for {who} raised {type(e).__name__}: {e}", SCRIPT_FAILED
                )
        reply = self._render(body, step)
        record.status = reply.status
        record.total_tokens = reply.total_tokens
        return reply

    def _respond(self, agent: str, messages: list[dict[str, Any]]) -> Step:
        script = self.scripts.get(agent) or self.responder
        if script is not None:
            return script(messages)
        if self.unscripted is not None:
            return self.unscripted(agent)
        return Fail(500, "the scripted model has no more replies", "script_exhausted")

    def _render(self, body: dict[str, Any], step: Step, streamed: Streamed | None = None) -> _Reply:
        if isinstance(step, Slow):
            time.sleep(step.seconds)
            return self._render(body, step.then, streamed)
        if isinstance(step, Streamed):
            return self._render(body, step.then, step)
        if isinstance(step, Fail):
            return _json(step.status, _error(step.message, step.code), step.headers)
        if isinstance(step, Drop):
            return _Reply(0, b"", drop=True)
        if isinstance(step, Garbage):
            return _Reply(200, b"<html>502 Bad Gateway</html>", content_type="text/html")
        if isinstance(step, Raw):
            raw = step.body if isinstance(step.body, bytes) else json.dumps(step.body).encode()
            return _Reply(step.status, raw)
        completion = self._completion(body, step)
        tokens = completion["usage"]["total_tokens"]
        if not (self.streams and body.get("stream") is True):
            return _Reply(200, json.dumps(completion).encode(), total_tokens=tokens)
        usage = (body.get("stream_options") or {}).get("include_usage") is True
        return _Reply(
            200,
            b"",
            total_tokens=tokens,
            events=_stream_events(completion, usage),
            streamed=streamed or Streamed(step, delay=self.chunk_delay),
        )

    def _completion(self, body: dict[str, Any], step: Say | CallTools) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(step, Say):
            message["content"] = step.content
            finish = "stop"
        else:
            message["content"] = step.content
            message["tool_calls"] = [
                {
                    "id": step.ids[i] if i < len(step.ids) else self._next_call_id(),
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": args if isinstance(args, str) else json.dumps(args),
                    },
                }
                for i, (name, args) in enumerate(step.calls)
            ]
            finish = "tool_calls"
        prompt = _estimate_tokens(json.dumps(body.get("messages", [])))
        completion = _estimate_tokens(json.dumps(message))
        return {
            "id": f"chatcmpl-scripted-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def _next_call_id(self) -> str:
        with self._state.lock:
            self._state.call_ids += 1
            return f"call_{self._state.call_ids:04d}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of new connections (a benchmark
    # starting hundreds of runs at once) got some of them reset before any request.
    request_queue_size = 1024


def _handler_for(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects
        # Headers and body go out as separate writes; with Nagle on, the body waited for
        # the client's delayed ACK: 40-75 ms added to every model call.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(_json(404, _error(f"no route {self.path}", "not_found")))
                return
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                self._send(_json(400, _error("body is not JSON", "invalid_request")))
                return
            self._send(
                llm._complete(
                    body,
                    self.path,
                    self.headers.get("Authorization", ""),
                    self.headers.get(AGENT_HEADER, ""),
                )
            )

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                models = sorted(llm.models) if llm.models is not None else [llm.model]
                data = [{"id": m, "object": "model"} for m in models]
                self._send(_json(200, {"object": "list", "data": data}))
            else:
                self._send(_json(404, _error(f"no route {self.path}", "not_found")))

        def _send(self, reply: _Reply) -> None:
            if reply.drop:
                self.close_connection = True
                return
            if reply.events is not None and reply.streamed is not None:
                self._stream(reply.events, reply.streamed)
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def _stream(self, events: list[bytes], how: Streamed) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, event in enumerate(events):
                if i == how.drop_after:
                    # Gone mid-body: the client sees a connection that broke off.
                    self.close_connection = True
                    return
                if i == how.pause_after and how.resume is not None:
                    how.resume.wait(PAUSE_LIMIT_SECONDS)
                if i and how.delay:
                    time.sleep(how.delay)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the server is quiet; tests read `requests` instead

    return Handler


def _json(
    status: int, payload: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()
) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), headers)


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _stream_events(completion: dict[str, Any], usage: bool) -> list[bytes]:
    """`completion` as a provider streams it: the role, then a chunk per word of the
    text and per piece of each tool call, the finish reason, the usage if asked for."""
    [choice] = completion["choices"]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [
        chunk({"content": word}) for word in re.findall(r"\S+\s*|\s+", message["content"] or "")
    ]
    for i, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        head = {"index": i, "id": call["id"], "type": "function"}
        chunks.append(
            chunk(
                {"tool_calls": [{**head, "function": {"name": function["name"], "arguments": ""}}]}
            )
        )
        args = function["arguments"]
        for start in range(0, len(args), ARGUMENT_PIECE):
            piece = {"index": i, "function": {"arguments": args[start : start + ARGUMENT_PIECE]}}
            chunks.append(chunk({"tool_calls": [piece]}))
    chunks.append(chunk({}, choice["finish_reason"]))
    if usage:
        chunks.append({**chunk({}), "choices": [], "usage": completion["usage"]})
    return [b"data: %s\n\n" % json.dumps(c).encode() for c in chunks] + [b"data: [DONE]\n\n"]


def _estimate_tokens(text: str) -> int:
    """About four characters per token: deterministic, good enough for budgets."""
    return max(1, len(text) // 4)

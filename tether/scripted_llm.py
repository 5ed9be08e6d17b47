"""A scripted OpenAI-compatible chat-completions server on loopback.

It is the offline model of the demo and the LLM of the tests: real HTTP, spoken to by
the real `openai` client. Replies come from a queue of scripted steps (consumed in
order) and, when the queue is empty, from a responder function that looks at the
conversation. Every request is recorded, so tests can count calls.

    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("lookup_order", {"order_id": "A-1001"})), say("Done."))
        ...  # point OPENAI_BASE_URL at llm.base_url
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OFFLINE_MODEL = "tether-scripted"


@dataclass(frozen=True)
class Say:
    """Reply with a final text answer."""

    content: str


@dataclass(frozen=True)
class CallTools:
    """Reply with tool calls; arguments given as a dict are JSON-encoded, a str is sent
    verbatim (to script malformed arguments)."""

    calls: tuple[tuple[str, dict[str, Any] | str], ...]
    content: str | None = None


Step = Say | CallTools
Responder = Callable[[list[dict[str, Any]]], Step]


def say(content: str) -> Say:
    return Say(content)


def call_tools(*calls: tuple[str, dict[str, Any] | str]) -> CallTools:
    return CallTools(tuple(calls))


@dataclass
class RecordedRequest:
    body: dict[str, Any]
    received_at: float
    path: str
    total_tokens: int = 0

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))


@dataclass
class _State:
    script: deque[Step] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    call_ids: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ScriptedLLM:
    """The server. Start it with `with ScriptedLLM(...) as llm:` or `start()`/`stop()`."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = OFFLINE_MODEL,
    ) -> None:
        self.responder = responder
        self.model = model
        self._state = _State()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
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

    def _complete(self, body: dict[str, Any], path: str) -> tuple[int, dict[str, Any]]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 400, _error("'messages' must be a non-empty list", "invalid_request_error")
        record = RecordedRequest(body, time.time(), path)
        with self._state.lock:
            self._state.requests.append(record)
            step = self._state.script.popleft() if self._state.script else None
        if step is None:
            if self.responder is None:
                return 500, _error("the scripted model has no more replies", "script_exhausted")
            step = self.responder(messages)
        completion = self._completion(body, step)
        record.total_tokens = completion["usage"]["total_tokens"]
        return 200, completion

    def _completion(self, body: dict[str, Any], step: Step) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(step, Say):
            message["content"] = step.content
            finish = "stop"
        else:
            message["content"] = step.content
            message["tool_calls"] = [
                {
                    "id": self._next_call_id(),
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": args if isinstance(args, str) else json.dumps(args),
                    },
                }
                for name, args in step.calls
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


def _handler_for(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, _error(f"no route {self.path}", "not_found"))
                return
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                self._send(400, _error("body is not JSON", "invalid_request_error"))
                return
            self._send(*llm._complete(body, self.path))

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": llm.model, "object": "model"}]})
            else:
                self._send(404, _error(f"no route {self.path}", "not_found"))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the server is quiet; tests read `requests` instead

    return Handler


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code}}


def _estimate_tokens(text: str) -> int:
    """About four characters per token: deterministic, good enough for budgets."""
    return max(1, len(text) // 4)

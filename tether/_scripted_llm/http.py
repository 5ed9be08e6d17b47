"""The scripted model's HTTP side: routes, and a reply written whole or as a stream."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tether._scripted_llm import chat, responses
from tether._scripted_llm.steps import AGENT_HEADER, PROBE_HEADER, Streamed

if TYPE_CHECKING:
    from tether._scripted_llm.server import ScriptedLLM

PAUSE_LIMIT_SECONDS = 60.0
ROUTES = {chat.PATH: "chat", responses.PATH: "responses"}


@dataclass
class Answer:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    drop: bool = False
    total_tokens: int = 0
    # A streamed reply: server-sent events, each its own chunk of the HTTP body.
    events: list[bytes] | None = None
    streamed: Streamed | None = None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of new connections (a benchmark
    # starting hundreds of runs at once) got some of them reset before any request.
    request_queue_size = 1024


def handler_for(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects
        # Headers and body go out as separate writes; with Nagle on, the body waited for
        # the client's delayed ACK: 40-75 ms added to every model call.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            path = self.path.rstrip("/")
            if path not in ROUTES:
                self._send(json_answer(404, error_body(f"no route {self.path}", "not_found")))
                return
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                self._send(json_answer(400, error_body("body is not JSON", "invalid_request")))
                return
            if not isinstance(body, dict):
                self._send(
                    json_answer(400, error_body("body is not a JSON object", "invalid_request"))
                )
                return
            with llm.slot():
                answer = llm.receive(
                    body,
                    path,
                    authorization=self.headers.get("Authorization", ""),
                    agent=self.headers.get(AGENT_HEADER, ""),
                    probe=PROBE_HEADER in self.headers,
                )
                try:
                    self._send(answer)
                except ConnectionError:
                    # The client went away mid-reply (a cancelled call, an interrupt): a
                    # provider's normal day, not the server's error to print.
                    self.close_connection = True

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                models = sorted(llm.models) if llm.models is not None else [llm.model]
                data = [{"id": m, "object": "model"} for m in models]
                self._send(json_answer(200, {"object": "list", "data": data}))
            else:
                self._send(json_answer(404, error_body(f"no route {self.path}", "not_found")))

        def _send(self, reply: Answer) -> None:
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


def json_answer(
    status: int, payload: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()
) -> Answer:
    return Answer(status, json.dumps(payload).encode(), headers)


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}

"""The scripted model: requests in, scripted steps out, every request kept."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from tether._scripted_llm import chat, responses
from tether._scripted_llm.http import ROUTES, Answer, Server, error_body, handler_for, json_answer
from tether._scripted_llm.steps import (
    SCRIPT_FAILED,
    CallTools,
    Chaos,
    Drop,
    Fail,
    Garbage,
    Raw,
    Reply,
    Responder,
    Say,
    Slow,
    Step,
    Streamed,
    Unscripted,
    model_not_found,
)
from tether._settings import OFFLINE_MODEL

log = logging.getLogger("tether.scripted_llm")


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
    def api(self) -> str:
        """The wire format: "chat" (chat completions) or "responses"."""
        return ROUTES.get(self.path.rstrip("/"), "chat")

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation, as chat messages whatever the format."""
        if self.api == "responses":
            return responses.as_messages(self.body)
        return list(self.body.get("messages", []))

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def stream(self) -> bool:
        """The request asked for a streamed reply."""
        return self.body.get("stream") is True


@dataclass
class _State:
    script: deque[Step] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    probes: list[RecordedRequest] = field(default_factory=list)
    call_ids: int = 0
    issued: responses.Issued = field(default_factory=responses.Issued)
    # Reentrant: a Responses reply takes call ids while it records its reasoning items.
    lock: threading.RLock = field(default_factory=threading.RLock)


class ScriptedLLM:
    """The server. Start it with `with ScriptedLLM(...) as llm:` or `start()`/`stop()`.

    It serves chat completions (`/v1/chat/completions`) and the Responses API
    (`/v1/responses`) from the same script.

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
        drops_tools: Play a server that leaves the tools out of its model's prompt
            (llama.cpp serving a model whose chat template has none): Tether's tool
            probe gets text back instead of the tool call it forced.
        slots: Answer this many requests at once (None: any number); the others wait
            in the server, as in a local model server with few slots (llama.cpp's
            `--parallel`).
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
        drops_tools: bool = False,
        slots: int | None = None,
    ) -> None:
        self.responder = responder
        self.streams = streams
        self.chunk_delay = chunk_delay
        self.drops_tools = drops_tools
        self._slots = threading.BoundedSemaphore(slots) if slots else None
        self.scripts = dict(scripts or {})
        self.unscripted = unscripted
        self.model = model
        self.models = models
        self.chaos = chaos
        self._random = random.Random(chaos.seed if chaos else 0)
        self._state = _State()
        self._server = Server((host, port), handler_for(self))
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

    def slot(self) -> AbstractContextManager[object]:
        """Held while a request is answered, to its last byte."""
        return self._slots if self._slots is not None else nullcontext()

    def enqueue(self, *steps: Step) -> None:
        with self._state.lock:
            self._state.script.extend(steps)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request but the tool probes (see `probes`), in order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def probes(self) -> list[RecordedRequest]:
        """The tool probes the server answered (a worker asks once per model)."""
        with self._state.lock:
            return list(self._state.probes)

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def reported_total_tokens(self) -> list[int]:
        """The usage.total_tokens the server reported, per request."""
        return [r.total_tokens for r in self.requests]

    def receive(
        self, body: dict[str, Any], path: str, *, authorization: str, agent: str, probe: bool
    ) -> Answer:
        """The answer to one request (called by the HTTP handler's thread)."""
        record = RecordedRequest(body, time.time(), path, authorization=authorization, agent=agent)
        name = "input" if record.api == "responses" else "messages"
        given = record.body.get(name)
        # The Responses API takes a plain string as the input too.
        if not given or not isinstance(given, list | (str if name == "input" else list)):
            return json_answer(
                400, error_body(f"'{name}' must be a non-empty list", "invalid_request")
            )
        messages = record.messages
        if probe:
            with self._state.lock:
                self._state.probes.append(record)
            return self._render(record, self._probe_answer(record))
        with self._state.lock:
            self._state.requests.append(record)
            refused = (
                responses.refusal(record.body, self._state.issued)
                if record.api == "responses"
                else None
            )
            step: Step | None
            if refused is not None:
                step = Fail(400, refused, "invalid_request_error")
            elif self.models is not None and record.model not in self.models:
                step = model_not_found(record.model)
            elif self.chaos and self._random.random() < self.chaos.rate:
                step = self.chaos.fault
            else:
                step = self._state.script.popleft() if self._state.script else None
        if step is None:
            step = self._scripted(record.agent, messages)
        reply = self._render(record, step)
        record.status = reply.status
        record.total_tokens = reply.total_tokens
        return reply

    def _scripted(self, agent: str, messages: list[dict[str, Any]]) -> Step:
        try:
            return self._respond(agent, messages)
        except Exception as e:
            # A bug in the script, not a server that is down: said as what it is, and
            # not retried (the same messages would fail it the same way).
            log.exception("the scripted model's script failed", extra={"agent": agent})
            who = f"agent {agent!r}" if agent else "this request"
            return Fail(500, f"the script for {who} raised {type(e).__name__}: {e}", SCRIPT_FAILED)

    def _respond(self, agent: str, messages: list[dict[str, Any]]) -> Step:
        script = self.scripts.get(agent) or self.responder
        if script is not None:
            return script(messages)
        if self.unscripted is not None:
            return self.unscripted(agent)
        return Fail(500, "the scripted model has no more replies", "script_exhausted")

    def _probe_answer(self, record: RecordedRequest) -> Step:
        """A forced call of the probe's tool, or text if the server plays one that drops
        tools."""
        tools = record.body.get("tools") or []
        if self.drops_tools or not tools:
            return Say("I am a language model and cannot call functions.")
        tool = tools[0]
        name = tool.get("name") or tool.get("function", {}).get("name", "")
        return CallTools(((name, {}),))

    def _render(
        self, record: RecordedRequest, step: Step, streamed: Streamed | None = None
    ) -> Answer:
        if isinstance(step, Slow):
            time.sleep(step.seconds)
            return self._render(record, step.then, streamed)
        if isinstance(step, Streamed):
            return self._render(record, step.then, step)
        if isinstance(step, Fail):
            return json_answer(step.status, error_body(step.message, step.code), step.headers)
        if isinstance(step, Drop):
            return Answer(0, b"", drop=True)
        if isinstance(step, Garbage):
            return Answer(200, b"<html>502 Bad Gateway</html>", content_type="text/html")
        if isinstance(step, Raw):
            raw = step.body if isinstance(step.body, bytes) else json.dumps(step.body).encode()
            return Answer(step.status, raw)
        return self._reply(record, step, streamed)

    def _reply(self, record: RecordedRequest, step: Reply, streamed: Streamed | None) -> Answer:
        body, number = record.body, len(self.requests)
        events: list[bytes]
        if record.api == "responses":
            with self._state.lock:
                done = responses.response(
                    body, step, number, self._next_call_id, self._state.issued
                )
            tokens = done["usage"]["total_tokens"]
            events = responses.stream_events(done)
        else:
            done = chat.completion(body, step, number, self._next_call_id)
            tokens = done["usage"]["total_tokens"]
            usage = (body.get("stream_options") or {}).get("include_usage") is True
            events = chat.stream_events(done, usage)
        if not (self.streams and record.stream):
            return Answer(200, json.dumps(done).encode(), total_tokens=tokens)
        return Answer(
            200,
            b"",
            total_tokens=tokens,
            events=events,
            streamed=streamed or Streamed(step, delay=self.chunk_delay),
        )

    def _next_call_id(self) -> str:
        with self._state.lock:
            self._state.call_ids += 1
            return f"call_{self._state.call_ids:04d}"

"""A codec server, so the Temporal web UI (or the `temporal` CLI) can show encrypted
payloads to its user, and the payloads a run's history only refers to (kept in
TETHER_PAYLOAD_STORE).

    export TETHER_CODEC_TOKEN=$(openssl rand -hex 24)
    TETHER_ENCRYPTION_KEYS=... TETHER_PAYLOAD_STORE=... python -m tether.codec_server --port 8081

The UI posts `{"payloads": [...]}` (Temporal's Payloads in protobuf JSON) to /decode;
the keys never leave this process. Whoever can reach it and present the token can read
every history, so it is closed by default:

- Every request needs the token: `Authorization: Bearer TOKEN` (the `temporal` CLI's
  `--codec-auth`), or the token as the endpoint's first path segment,
  `http://127.0.0.1:8081/TOKEN`, for a web UI that cannot add a header (the dev
  server's `--ui-codec-endpoint`; dev.py passes TETHER_CODEC_ENDPOINT). 401 without it.
- The Host header must name this server (`--allowed-host`; default its own loopback
  names and port), so a page that rebinds a DNS name to 127.0.0.1 is refused (403); a
  request with an Origin must come from `--ui-origin` (403), also for the preflight.
- /encode is off unless `--allow-encode`: the UI needs it only to edit payloads (e.g.
  a signal's input), and an encoder hands out ciphertexts under the active key.
- A body over `--max-body-bytes` is refused (413), a request that takes longer than
  `--timeout` seconds is dropped, and bad input gets a one-line JSON error, never a
  traceback. It logs nothing about payloads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hmac
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import ExternalStorage

from tether._codec import EncryptionCodec
from tether._settings import ConfigurationError
from tether._storage import external_storage_from_env, resolve_references

DEFAULT_UI_ORIGIN = "http://localhost:8233"
TOKEN_VARIABLE = "TETHER_CODEC_TOKEN"
MIN_TOKEN_CHARS = 16
# A payload is at most 2 MiB; base64 in JSON adds a third, and the UI sends a few at once.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Policy:
    """Who may use the codec server, and for what."""

    token: str
    allowed_hosts: frozenset[str]
    ui_origins: frozenset[str]
    allow_encode: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if len(self.token) < MIN_TOKEN_CHARS:
            raise ConfigurationError(
                f"the codec server's token must be at least {MIN_TOKEN_CHARS} characters "
                f"(set {TOKEN_VARIABLE}, e.g. to `openssl rand -hex 24`)"
            )

    @property
    def routes(self) -> tuple[str, ...]:
        return ("decode", "encode") if self.allow_encode else ("decode",)


def loopback_hosts(port: int) -> frozenset[str]:
    """The Host headers a loopback server on `port` is reached by."""
    return frozenset(f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]"))


class Refused(Exception):
    """A request this server does not serve: its status and one line why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Translator:
    """Turns a history's payloads into readable ones: references resolved from the
    payload store first (what it keeps is encoded), then decrypted.
    """

    codec: EncryptionCodec | None = None
    storage: ExternalStorage | None = None

    async def decode(self, payloads: list[Payload]) -> list[Payload]:
        if self.storage is not None:
            payloads = await resolve_references(self.storage, payloads)
        return payloads if self.codec is None else await self.codec.decode(payloads)

    async def encode(self, payloads: list[Payload]) -> list[Payload]:
        return payloads if self.codec is None else await self.codec.encode(payloads)


def make_server(
    codec: EncryptionCodec | None,
    *,
    token: str,
    storage: ExternalStorage | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    ui_origin: str | Iterable[str] = DEFAULT_UI_ORIGIN,
    allowed_hosts: Iterable[str] = (),
    allow_encode: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> CodecServer:
    """The codec server, bound (not yet serving). `allowed_hosts` defaults to the
    loopback names of the port it is bound to.
    """
    policy = Policy(
        token=token,
        allowed_hosts=frozenset(allowed_hosts),
        ui_origins=frozenset([ui_origin] if isinstance(ui_origin, str) else ui_origin),
        allow_encode=allow_encode,
        max_body_bytes=max_body_bytes,
        timeout_seconds=timeout_seconds,
    )
    return CodecServer((host, port), Translator(codec, storage), policy)


class CodecServer(ThreadingHTTPServer):
    """The HTTP server, holding the translator and the policy its handlers apply."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], translator: Translator, policy: Policy) -> None:
        super().__init__(address, _Handler)
        self.translator = translator
        if not policy.allowed_hosts:  # now that the port is known
            policy = dataclasses.replace(policy, allowed_hosts=loopback_hosts(self.server_port))
        self.policy = policy

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a broken connection is the client's doing: no traceback on stderr


class _Handler(BaseHTTPRequestHandler):
    server_version = "tether-codec"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self._policy.timeout_seconds)  # a slow client times out

    server: CodecServer

    @property
    def _policy(self) -> Policy:
        return self.server.policy

    def do_OPTIONS(self) -> None:  # CORS preflight from the web UI
        try:
            self._check_host_and_origin()
        except Refused as e:
            self._fail(e)
            return
        self.send_response(204)
        self._cors()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        try:
            route = self._checked_route()
            self._reply(200, self._convert(route, self._body()))
        except Refused as e:
            self._fail(e)

    def do_GET(self) -> None:
        self._fail(Refused(405, "POST payloads to /decode"))

    def _checked_route(self) -> str:
        self._check_host_and_origin()
        segments = [s for s in self.path.split("?", 1)[0].split("/") if s]
        bearer = self.headers.get("Authorization", "")
        presented = [bearer[7:].strip()] if bearer[:7].lower() == "bearer " else []
        if len(segments) >= 2:
            # The token in the path, for a UI that sends no header of ours (or its
            # user's own access token in Authorization).
            presented.append(segments[0])
        if not any(self._valid(token) for token in presented):
            raise Refused(401, "a valid token is required")
        route = segments[-1] if segments else ""
        if route not in self._policy.routes:
            if route == "encode":
                raise Refused(403, "/encode is off (start the server with --allow-encode)")
            raise Refused(404, "POST payloads to /decode")
        return route

    def _valid(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self._policy.token.encode())

    def _check_host_and_origin(self) -> None:
        if self.headers.get("Host", "") not in self._policy.allowed_hosts:
            raise Refused(403, "this server does not answer to that Host")
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self._policy.ui_origins:
            raise Refused(403, "requests from that origin are not allowed")

    def _body(self) -> bytes:
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.isdigit():
            raise Refused(411 if raw is None else 400, "send a valid Content-Length")
        length = int(raw)
        if length > self._policy.max_body_bytes:
            self.close_connection = True  # the body is not read
            raise Refused(413, f"the body is over {self._policy.max_body_bytes:,} bytes")
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise Refused(408, "the body did not arrive in time") from None
        if len(body) != length:
            raise Refused(400, "the body is shorter than its Content-Length")
        return body

    def _convert(self, route: str, body: bytes) -> bytes:
        translator = self.server.translator
        try:
            payloads = json_format.Parse(body, Payloads())
            convert = translator.encode if route == "encode" else translator.decode
            result = asyncio.run(convert(list(payloads.payloads)))
        except (json_format.ParseError, ValueError, UnicodeDecodeError, OSError) as e:
            raise Refused(400, str(e).splitlines()[0][:200]) from None
        return json_format.MessageToJson(Payloads(payloads=result)).encode()

    def _fail(self, refused: Refused) -> None:
        self._reply(refused.status, json.dumps({"error": str(refused)}).encode())

    def _reply(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _cors(self) -> None:
        origin = self.headers.get("Origin")
        if origin is None or origin not in self._policy.ui_origins:
            return
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Vary", "Origin")
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # payloads are sensitive: log nothing about them


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tether.codec_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--ui-origin", action="append", help=f"an allowed origin (default {DEFAULT_UI_ORIGIN})"
    )
    parser.add_argument(
        "--allowed-host", action="append", help="a Host header to answer (default: loopback)"
    )
    parser.add_argument("--allow-encode", action="store_true", help="serve /encode too")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
    try:
        codec = EncryptionCodec.from_env()
        storage = external_storage_from_env()
        if codec is None and storage is None:
            raise ConfigurationError(
                "set TETHER_ENCRYPTION_KEYS or TETHER_PAYLOAD_STORE (it has nothing to "
                "decode otherwise)"
            )
        server = make_server(
            codec,
            storage=storage,
            token=os.environ.get(TOKEN_VARIABLE, ""),
            host=args.host,
            port=args.port,
            ui_origin=args.ui_origin or [DEFAULT_UI_ORIGIN],
            allowed_hosts=args.allowed_host or (),
            allow_encode=args.allow_encode,
            max_body_bytes=args.max_body_bytes,
            timeout_seconds=args.timeout,
        )
    except (ConfigurationError, OSError) as e:
        print(f"codec server: {e}", file=sys.stderr)
        return 2
    origins = ", ".join(sorted(server.policy.ui_origins))
    print(f"codec server on http://{args.host}:{server.server_port} for {origins}")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A codec server, so the Temporal web UI (or the `temporal` CLI) can show payloads.

It shows encrypted payloads to its user, and the payloads a run's history only refers
to (kept in TETHER_PAYLOAD_STORE):

    export TETHER_CODEC_TOKEN=$(openssl rand -hex 24)
    TETHER_ENCRYPTION_KEYS=... TETHER_PAYLOAD_STORE=... python -m tether.codec_server --port 8081

The UI posts `{"payloads": [...]}` (Temporal's Payloads in protobuf JSON) to /decode;
the keys never leave this process. Whoever can reach it and present a token can read
every history, so it is closed by default:

- Every request needs `Authorization: Bearer TOKEN`, a header (a token in a URL lands in
  argv, logs and the UI's public settings): TETHER_CODEC_TOKEN (the `temporal` CLI's
  TEMPORAL_CODEC_AUTH), or with `--jwks-url` an access token the identity provider
  signed, which a web UI with a login forwards (its `codec.passAccessToken`). 401
  without one.
- The Host header must name this server (`--allowed-host`; default its own loopback
  names and port), so a page that rebinds a DNS name to 127.0.0.1 is refused (403); a
  request with an Origin must come from `--ui-origin` (403), also for the preflight; an
  X-Namespace must be one it serves (`--namespace`, 403).
- It opens only payloads of its namespaces, and resolves only references of its own
  payload store (TETHER_PAYLOAD_STORE) and namespaces.
- /encode is off unless `--allow-encode`: the UI needs it only to edit payloads (e.g.
  a signal's input), and an encoder hands out ciphertexts under the active key.
- A body over `--max-body-bytes` is refused (413), a client silent for `--timeout`
  seconds is answered 408, one not done within twice that is dropped (however slowly
  its bytes drip), at most
  `--max-connections` are served at once (503 beyond), and bad input gets a one-line
  JSON error, never a traceback. It logs nothing about payloads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import socket
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import ExternalStorage

from tether._codec import BOUND_VERSION, NAMESPACE, VERSION, EncryptionCodec
from tether._codec_auth import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_UI_ORIGIN,
    TOKEN_VARIABLE,
    AccessTokens,
    Policy,
    bearer,
    loopback_hosts,
)
from tether._settings import ConfigurationError
from tether._storage import external_storage_from_env, resolve_references

BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Refused(Exception):
    """A request this server does not serve: its status and one line why."""

    def __init__(self, status: int, message: str) -> None:
        """A refusal with HTTP `status` and its one-line `message`."""
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Translator:
    """Turns a history's payloads into readable ones, of `namespaces` only.

    References are resolved from the payload store first (what it keeps is encoded),
    then the payloads are decrypted.
    """

    codec: EncryptionCodec | None = None
    storage: ExternalStorage | None = None
    namespaces: frozenset[str] = frozenset({"default"})

    async def decode(self, payloads: list[Payload]) -> list[Payload]:
        """`payloads` readable: references resolved, then decrypted."""
        if self.storage is not None:
            payloads = await resolve_references(self.storage, payloads, self.namespaces)
        for payload in payloads:
            sealed_for = payload.metadata.get(NAMESPACE, b"").decode()
            if payload.metadata.get(VERSION) == BOUND_VERSION and sealed_for not in self.namespaces:
                raise ValueError(
                    f"a payload of namespace {sealed_for!r}, which this server does not serve"
                )
        return payloads if self.codec is None else await self.codec.decode(payloads)

    async def encode(self, payloads: list[Payload]) -> list[Payload]:
        """`payloads` encrypted under the active key (when the server allows encoding)."""
        return payloads if self.codec is None else await self.codec.encode(payloads)


def make_server(
    codec: EncryptionCodec | None,
    *,
    token: str | None,
    access_tokens: AccessTokens | None = None,
    storage: ExternalStorage | None = None,
    namespaces: Iterable[str] = ("default",),
    host: str = "127.0.0.1",
    port: int = 0,
    ui_origin: str | Iterable[str] = DEFAULT_UI_ORIGIN,
    allowed_hosts: Iterable[str] = (),
    allow_encode: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> CodecServer:
    """The codec server, bound (not yet serving).

    `allowed_hosts` defaults to the loopback names of the port it is bound to.
    """
    policy = Policy(
        token=token,
        access_tokens=access_tokens,
        allowed_hosts=frozenset(allowed_hosts),
        ui_origins=frozenset([ui_origin] if isinstance(ui_origin, str) else ui_origin),
        namespaces=frozenset(namespaces),
        allow_encode=allow_encode,
        max_body_bytes=max_body_bytes,
        timeout_seconds=timeout_seconds,
        max_connections=max_connections,
    )
    return CodecServer((host, port), Translator(codec, storage, policy.namespaces), policy)


class CodecServer(ThreadingHTTPServer):
    """The HTTP server, holding the translator and the policy its handlers apply."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], translator: Translator, policy: Policy) -> None:
        """Bind to `address`; requests are translated by `translator` under `policy`."""
        super().__init__(address, _Handler)
        self.translator = translator
        if not policy.allowed_hosts:  # now that the port is known
            policy = dataclasses.replace(policy, allowed_hosts=loopback_hosts(self.server_port))
        self.policy = policy
        self._slots = threading.BoundedSemaphore(policy.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        """See base class.

        A thread per connection, up to `max_connections`; beyond, 503 at once (slow
        clients cannot take every thread).
        """
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """See base class; frees the connection's slot when it ends."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """See base class: a broken connection is the client's doing, so no traceback."""


class _Handler(BaseHTTPRequestHandler):
    server_version = "tether-codec"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        timeout = self._policy.timeout_seconds
        self.connection.settimeout(timeout)  # a client that stalls is answered 408,
        # and one that sends a byte at a time (each resets that) is cut off at twice it.
        self._deadline = threading.Timer(2 * timeout, self._cut_off)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self) -> None:
        self._deadline.cancel()
        with contextlib.suppress(OSError):
            super().finish()

    def _cut_off(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

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
        token = bearer(self.headers.get("Authorization", ""))
        if token is None or not self._policy.admits(token):
            raise Refused(401, "a valid token is required")
        route = self.path.split("?", 1)[0].strip("/")
        if route not in self._policy.routes:
            if route == "encode":
                raise Refused(403, "/encode is off (start the server with --allow-encode)")
            raise Refused(404, "POST payloads to /decode")
        return route

    def _check_host_and_origin(self) -> None:
        if self.headers.get("Host", "") not in self._policy.allowed_hosts:
            raise Refused(403, "this server does not answer to that Host")
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self._policy.ui_origins:
            raise Refused(403, "requests from that origin are not allowed")
        namespace = self.headers.get("X-Namespace")
        if namespace is not None and namespace not in self._policy.namespaces:
            raise Refused(403, "this server does not serve that namespace")

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
    """Serve until interrupted (`python -m tether.codec_server --help`)."""
    parser = argparse.ArgumentParser(prog="python -m tether.codec_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--ui-origin", action="append", help=f"an allowed origin (default {DEFAULT_UI_ORIGIN})"
    )
    parser.add_argument(
        "--allowed-host", action="append", help="a Host header to answer (default: loopback)"
    )
    parser.add_argument(
        "--namespace",
        action="append",
        help="a namespace whose payloads it opens (default: TEMPORAL_NAMESPACE, else default)",
    )
    parser.add_argument(
        "--jwks-url",
        help="also admit access tokens your identity provider signed (its JWKS URL), as "
        "a web UI with a login forwards them",
    )
    parser.add_argument("--jwt-audience", help="the audience an access token must name")
    parser.add_argument("--jwt-issuer", help="the issuer an access token must name")
    parser.add_argument("--allow-encode", action="store_true", help="serve /encode too")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    parser.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS)
    args = parser.parse_args(argv)
    default_namespace = os.environ.get("TEMPORAL_NAMESPACE") or "default"
    try:
        access_tokens = None
        if args.jwks_url:
            access_tokens = AccessTokens(
                args.jwks_url, audience=args.jwt_audience, issuer=args.jwt_issuer
            )
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
            token=os.environ.get(TOKEN_VARIABLE) or None,
            access_tokens=access_tokens,
            namespaces=args.namespace or [default_namespace],
            host=args.host,
            port=args.port,
            ui_origin=args.ui_origin or [DEFAULT_UI_ORIGIN],
            allowed_hosts=args.allowed_host or (),
            allow_encode=args.allow_encode,
            max_body_bytes=args.max_body_bytes,
            timeout_seconds=args.timeout,
            max_connections=args.max_connections,
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

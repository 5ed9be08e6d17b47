"""A codec server, so the Temporal web UI can show encrypted payloads to its user, and
the payloads a run's history only refers to (kept in TETHER_PAYLOAD_STORE).

    TETHER_ENCRYPTION_KEYS=... TETHER_PAYLOAD_STORE=... python -m tether.codec_server --port 8081

then start the dev server with `--ui-codec-endpoint http://localhost:8081` (dev.py does
when TETHER_CODEC_ENDPOINT is set) or set it in the UI under "Codec Server". The UI
posts `{"payloads": [...]}` (Temporal's Payloads in protobuf JSON) to /decode and
/encode; the keys never leave this process. Bind it to loopback, or put it behind
your own authentication: whoever reaches it can decrypt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import ExternalStorage, PayloadCodec

from tether._codec import EncryptionCodec
from tether._settings import ConfigurationError
from tether._storage import external_storage_from_env, resolve_references

DEFAULT_UI_ORIGIN = "http://localhost:8233"


def make_server(
    codec: PayloadCodec | None,
    *,
    storage: ExternalStorage | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    ui_origin: str,
) -> ThreadingHTTPServer:
    async def decode(payloads: list[Payload]) -> list[Payload]:
        if storage is not None:  # stored payloads are encoded: resolve first
            payloads = await resolve_references(storage, payloads)
        return payloads if codec is None else await codec.decode(payloads)

    async def encode(payloads: list[Payload]) -> list[Payload]:
        return payloads if codec is None else await codec.encode(payloads)

    class Handler(BaseHTTPRequestHandler):
        def do_OPTIONS(self) -> None:  # CORS preflight from the web UI
            self.send_response(200)
            self._cors()
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            route = self.path.rstrip("/").rsplit("/", 1)[-1]
            if route not in ("encode", "decode"):
                self._reply(404, b'{"error": "use /encode or /decode"}')
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payloads = json_format.Parse(body, Payloads())
                convert = encode if route == "encode" else decode
                result = asyncio.run(convert(list(payloads.payloads)))
            except (json_format.ParseError, ValueError, OSError) as e:
                self._reply(400, json_format.MessageToJson(_error(str(e))).encode())
                return
            out = json_format.MessageToJson(Payloads(payloads=result))
            self._reply(200, out.encode())

        def _reply(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _cors(self) -> None:
            self.send_header("Access-Control-Allow-Origin", ui_origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header(
                "Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization"
            )

        def log_message(self, format: str, *args: Any) -> None:
            pass  # payloads are sensitive: log nothing about them

    return ThreadingHTTPServer((host, port), Handler)


def _error(message: str) -> Struct:
    error = Struct()
    error.update({"error": message})
    return error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tether.codec_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--ui-origin", default=DEFAULT_UI_ORIGIN, help="the web UI's origin")
    args = parser.parse_args(argv)
    try:
        codec = EncryptionCodec.from_env()
        storage = external_storage_from_env()
    except ConfigurationError as e:
        print(f"codec server: {e}", file=sys.stderr)
        return 2
    if codec is None and storage is None:
        print(
            "codec server: set TETHER_ENCRYPTION_KEYS or TETHER_PAYLOAD_STORE (it has "
            "nothing to decode otherwise)",
            file=sys.stderr,
        )
        return 2
    server = make_server(
        codec, storage=storage, host=args.host, port=args.port, ui_origin=args.ui_origin
    )
    print(f"codec server on http://{args.host}:{server.server_port} for {args.ui_origin}")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

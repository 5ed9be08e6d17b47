"""The codec server decrypts only for a caller that shows its token, at its own Host
and from the web UI's origin; it does not encode unless asked to, refuses oversized
and malformed bodies in one line, and drops a client that stalls. Real HTTP on
loopback, raw enough to send what a browser or an attacker would."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from tether._codec import ENCODING, EncryptionCodec
from tether.codec_server import CodecServer, make_server

TOKEN = uuid.uuid4().hex
UI = "http://localhost:8233"
CODEC = EncryptionCodec({"k1": os.urandom(32)}, "k1")


def serve(**options: object) -> Iterator[CodecServer]:
    server = make_server(CODEC, token=TOKEN, ui_origin=UI, timeout_seconds=1.0, **options)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server() -> Iterator[CodecServer]:
    yield from serve()


def sealed_body() -> bytes:
    import asyncio

    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"Ada Lovelace"')
    sealed = asyncio.run(CODEC.encode([plain]))
    return json_format.MessageToJson(Payloads(payloads=sealed)).encode()


def request(
    server: CodecServer,
    path: str = "/decode",
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    sent = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    sent.update(headers or {})
    connection.request(method, path, body=sealed_body() if body is None else body, headers=sent)
    response = connection.getresponse()
    answer = (response.status, dict(response.getheaders()), response.read())
    connection.close()
    return answer


def decoded(data: bytes) -> list[bytes]:
    return [p.data for p in json_format.Parse(data, Payloads()).payloads]


def test_a_caller_with_the_token_reads_payloads(server: CodecServer) -> None:
    status, headers, data = request(server, headers={"Origin": UI})
    assert status == 200
    assert decoded(data) == [b'"Ada Lovelace"']
    assert headers["Access-Control-Allow-Origin"] == UI
    # The token as the endpoint's first path segment, for a UI that sends no header.
    status, _, data = request(server, f"/{TOKEN}/decode", headers={"Authorization": ""})
    assert (status, decoded(data)) == (200, [b'"Ada Lovelace"'])


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/decode", {"Authorization": ""}),
        ("/decode", {"Authorization": "Bearer wrong-token-of-some-length"}),
        ("/wrong-token-of-some-length/decode", {"Authorization": ""}),
        (f"/decode?token={TOKEN}", {"Authorization": ""}),
    ],
    ids=["none", "wrong-bearer", "wrong-path", "query-string"],
)
def test_without_the_token_it_answers_401_and_decrypts_nothing(
    server: CodecServer, path: str, headers: dict[str, str]
) -> None:
    status, _, data = request(server, path, headers=headers)
    assert status == 401
    assert json.loads(data) == {"error": "a valid token is required"}
    assert b"Ada" not in data


@pytest.mark.parametrize(
    "headers",
    [{"Host": "attacker.example:8081"}, {"Origin": "http://attacker.example"}],
    ids=["rebound-host", "foreign-origin"],
)
def test_a_foreign_host_or_origin_is_refused_even_with_the_token(
    server: CodecServer, headers: dict[str, str]
) -> None:
    status, answered, data = request(server, headers=headers)
    assert status == 403
    assert b"Ada" not in data
    assert "Access-Control-Allow-Origin" not in answered
    preflight, _, _ = request(server, method="OPTIONS", body=b"", headers=headers)
    assert preflight == 403


def test_encode_is_off_unless_asked_for() -> None:
    body = json_format.MessageToJson(
        Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    ).encode()
    for server in serve():
        assert request(server, "/encode", body=body)[0] == 403
    for server in serve(allow_encode=True):
        status, _, data = request(server, "/encode", body=body)
        assert status == 200
        [sealed] = json_format.Parse(data, Payloads()).payloads
        assert sealed.metadata["encoding"] == ENCODING


def test_bad_and_oversized_bodies_get_one_line_never_a_traceback() -> None:
    for server in serve(max_body_bytes=1024):
        too_big = request(server, body=b"x" * 2048)
        plaintext = request(
            server,
            body=json_format.MessageToJson(
                Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
            ).encode(),
        )
        garbage = request(server, body=b"{not json")
    assert too_big[0] == 413
    assert plaintext[0] == 400 and "not encrypted" in json.loads(plaintext[2])["error"]
    assert garbage[0] == 400 and "Traceback" not in garbage[2].decode()


def answered(raw: socket.socket) -> str:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := raw.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_a_bad_content_length_and_a_stalled_client_are_answered_and_dropped(
    server: CodecServer,
) -> None:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as raw:
        raw.sendall(
            f"POST /decode HTTP/1.1\r\nHost: 127.0.0.1:{server.server_port}\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: abc\r\n\r\n".encode()
        )
        answer = answered(raw)
    assert (
        answer.startswith("HTTP/1.0 400") and '{"error": "send a valid Content-Length"}' in answer
    )
    # Headers promise a body that never comes: the server gives up after its timeout.
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as raw:
        raw.sendall(
            f"POST /decode HTTP/1.1\r\nHost: 127.0.0.1:{server.server_port}\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n{{".encode()
        )
        started = time.monotonic()
        answer = answered(raw)
        assert time.monotonic() - started < 5
    assert answer.startswith("HTTP/1.0 408")


def test_a_short_token_is_refused_at_start() -> None:
    from tether import ConfigurationError

    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        make_server(CODEC, token="short")

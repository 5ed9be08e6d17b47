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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import WorkflowSerializationContext

from tether._codec import ENCODING, EncryptionCodec
from tether._codec_auth import AccessTokens
from tether.codec_server import CodecServer, make_server

TOKEN = uuid.uuid4().hex
UI = "http://localhost:8233"
CODEC = EncryptionCodec({"k1": os.urandom(32)}, "k1")


def serve(**options: object) -> Iterator[CodecServer]:
    settings: dict[str, object] = {"token": TOKEN, "ui_origin": UI, "timeout_seconds": 1.0}
    server = make_server(CODEC, **{**settings, **options})  # type: ignore[arg-type]
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


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/decode", {"Authorization": ""}),
        ("/decode", {"Authorization": "Bearer wrong-token-of-some-length"}),
        ("/wrong-token-of-some-length/decode", {"Authorization": ""}),
        # A token in a URL lands in the dev server's argv and the UI's public settings.
        (f"/{TOKEN}/decode", {"Authorization": ""}),
        (f"/decode?token={TOKEN}", {"Authorization": ""}),
    ],
    ids=["none", "wrong-bearer", "wrong-path", "right-path", "query-string"],
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
    [
        {"Host": "attacker.example:8081"},
        {"Origin": "http://attacker.example"},
        {"X-Namespace": "someone-elses"},
    ],
    ids=["rebound-host", "foreign-origin", "foreign-namespace"],
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


def test_it_opens_only_payloads_sealed_for_its_namespaces() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"Ada Lovelace"')
    context = WorkflowSerializationContext(namespace="someone-elses", workflow_id="wf")
    import asyncio

    sealed = asyncio.run(CODEC.with_context(context).encode([plain]))
    body = json_format.MessageToJson(Payloads(payloads=sealed)).encode()
    for server in serve():
        status, _, data = request(server, body=body)
    for server in serve(namespaces=["default", "someone-elses"]):
        opened = request(server, body=body)
    assert status == 400 and b"Ada" not in data
    assert "namespace 'someone-elses'" in json.loads(data)["error"]
    assert (opened[0], decoded(opened[2])) == (200, [b'"Ada Lovelace"'])


def test_a_client_that_drips_its_request_is_cut_off_and_connections_are_bounded() -> None:
    # Before, each byte reset the socket's timeout: 20 of 20 slow clients held threads
    # for as long as they liked.
    for server in serve(max_connections=2):
        port = server.server_port
        dripping = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        head = f"POST /decode HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        started = time.monotonic()
        time.sleep(0.2)  # both are being served
        with socket.create_connection(("127.0.0.1", port), timeout=10) as third:
            third.sendall(head.encode())
            busy = answered(third)
        dropped = []
        for raw in dripping:
            try:
                for char in head * 20:  # a byte every 0.05 s, never done
                    raw.sendall(char.encode())
                    time.sleep(0.05)
            except OSError:
                dropped.append(time.monotonic() - started)
            raw.close()
    assert busy.startswith("HTTP/1.0 503")
    assert len(dropped) == 2 and max(dropped) < 5  # cut off at 2 s: twice the timeout


@pytest.fixture
def identity_provider() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """A JWKS endpoint on loopback, serving one RSA key, as an identity provider does."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    keys = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(keys)))
            self.end_headers()
            self.wfile.write(keys)

        def log_message(self, *args: object) -> None:
            pass

    jwks = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=jwks.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{jwks.server_port}/jwks", key
    jwks.shutdown()
    jwks.server_close()


def test_a_ui_users_access_token_is_checked_against_the_identity_provider(
    identity_provider: tuple[str, rsa.RSAPrivateKey],
) -> None:
    url, key = identity_provider
    tokens = AccessTokens(url, audience="temporal-ui")
    now = int(time.time())
    claims = {"sub": "ada", "aud": "temporal-ui", "exp": now + 300}

    def signed(
        payload: dict[str, object], signer: rsa.RSAPrivateKey | str = key, alg: str = "RS256"
    ) -> str:
        return str(jwt.encode(payload, signer, algorithm=alg, headers={"kid": "k1"}))

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "valid": signed(claims),
        "expired": signed({**claims, "exp": now - 60}),
        "other-audience": signed({**claims, "aud": "someone-else"}),
        "no-expiry": signed({"sub": "ada", "aud": "temporal-ui"}),
        "not-the-providers-key": signed(claims, other_key),
        "shared-secret": signed(claims, "x" * 32, "HS256"),
    }
    for server in serve(token=None, access_tokens=tokens):
        answers = {
            case: request(server, headers={"Authorization": f"Bearer {token}"})[0]
            for case, token in cases.items()
        }
    assert answers == {case: 200 if case == "valid" else 401 for case in cases}

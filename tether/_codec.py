"""Payload encryption: AES-GCM over every payload a client or worker sends to Temporal.

Switched on by TETHER_ENCRYPTION_KEYS, a comma-separated list of `key-id=base64-key`
(16, 24 or 32 bytes each). New payloads are encrypted with TETHER_ENCRYPTION_KEY_ID
(default: the last key listed); each payload names its key id in its metadata, so old
histories stay readable while keys rotate: add the new key, make it active, and drop
the old one only once no history needs it.

    TETHER_ENCRYPTION_KEYS="2026-11=$(openssl rand -base64 32)"

With keys set the codec is strict: a payload that is not encrypted is refused, so a
client without the keys can neither start a run nor decide one, and nothing it sends
is read as if it came from a process that holds them. (TETHER_ENCRYPTION_ALLOW_PLAINTEXT=1
reads plaintext payloads again, for a namespace moving to encryption with runs in flight.)
Each ciphertext is bound (AES-GCM associated data) to its format version, encoding and
key id, and to the namespace and workflow it was made for: the SDK hands the codec that
context (`with_context`), the payload's metadata names it, and a process that reads it
for another workflow refuses it, so a decision sealed for one run cannot be replayed
onto another by a client without the keys. Metadata changed in history fails
authentication. Payloads written before either binding (versions 1 and 2) still open.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from tether._settings import ConfigurationError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
VERSION = "encryption-version"
NAMESPACE = "encryption-namespace"
WORKFLOW_ID = "encryption-workflow-id"
# Version 3 binds the namespace and workflow too; version 2 bound the format, encoding
# and key id; version 1 (no VERSION key) nothing.
BOUND_VERSION = b"3"
CURRENT_VERSION = b"2"
NONCE_BYTES = 12
ALLOW_PLAINTEXT = "TETHER_ENCRYPTION_ALLOW_PLAINTEXT"


def encrypting() -> bool:
    """Whether this process encrypts payloads (TETHER_ENCRYPTION_KEYS is set)."""
    return bool(os.environ.get("TETHER_ENCRYPTION_KEYS", "").strip())


class UnknownKeyError(ValueError):
    """A payload was encrypted with a key this process does not have."""


class PlaintextPayloadError(ValueError):
    """A strict codec was given a payload that is not encrypted."""


def associated_data(key_id: str) -> bytes:
    """What a version-2 ciphertext is bound to: its version, encoding and key id."""
    return b"tether/" + CURRENT_VERSION + b"|" + ENCODING + b"|" + key_id.encode()


def bound_data(key_id: str, namespace: str, workflow_id: str) -> bytes:
    """What a version-3 ciphertext is bound to: also the namespace and workflow."""
    fields = [BOUND_VERSION.decode(), ENCODING.decode(), key_id, namespace, workflow_id]
    return b"tether/" + json.dumps(fields, separators=(",", ":")).encode()


def _workflow_of(context: SerializationContext) -> tuple[str, str] | None:
    """The namespace and workflow id a payload is converted for, if it is a workflow's."""
    if isinstance(context, WorkflowSerializationContext):
        return context.namespace, context.workflow_id
    if isinstance(context, ActivitySerializationContext) and context.workflow_id:
        return context.namespace, context.workflow_id
    return None


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-GCM with a random nonce per payload; the key id travels in the metadata.

    Args:
        keys: Key id to key (16, 24 or 32 bytes).
        active_key_id: The key new payloads are encrypted with.
        strict: Refuse payloads that are not encrypted (`PlaintextPayloadError`).
    """

    def __init__(self, keys: dict[str, bytes], active_key_id: str, *, strict: bool = True) -> None:
        if active_key_id not in keys:
            raise ConfigurationError(
                f"TETHER_ENCRYPTION_KEY_ID {active_key_id!r} is not a known key id"
            )
        for key_id, key in keys.items():
            if len(key) not in (16, 24, 32):
                raise ConfigurationError(
                    f"encryption key {key_id!r} is {len(key)} bytes; AES needs 16, 24 or 32"
                )
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id
        self.strict = strict
        # The namespace and workflow id the SDK converts for (None: no workflow's, e.g.
        # the codec server's): payloads are sealed to it, and must be opened with it.
        self.workflow: tuple[str, str] | None = None

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """See base class: this codec, binding payloads to the context's workflow."""
        workflow = _workflow_of(context)
        if workflow is None:
            return self
        bound = copy.copy(self)
        bound.workflow = workflow
        return bound

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._keys[self.active_key_id]
        metadata = {"encoding": ENCODING, KEY_ID: self.active_key_id.encode()}
        if self.workflow is None:
            metadata[VERSION] = CURRENT_VERSION
            aad = associated_data(self.active_key_id)
        else:
            namespace, workflow_id = self.workflow
            metadata.update(
                {
                    VERSION: BOUND_VERSION,
                    NAMESPACE: namespace.encode(),
                    WORKFLOW_ID: workflow_id.encode(),
                }
            )
            aad = bound_data(self.active_key_id, namespace, workflow_id)
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), aad)
            out.append(Payload(metadata=metadata, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                if self.strict:
                    raise PlaintextPayloadError(
                        "refused a payload that is not encrypted: this process has "
                        "TETHER_ENCRYPTION_KEYS set, and so must whoever sent it"
                    )
                out.append(payload)  # written before encryption was switched on
                continue
            out.append(self._open(payload))
        return out

    def _open(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise UnknownKeyError(
                f"payload encrypted with key {key_id!r}, which is not in TETHER_ENCRYPTION_KEYS"
            )
        version = payload.metadata.get(VERSION)
        if version not in (None, CURRENT_VERSION, BOUND_VERSION):
            raise ValueError(f"payload encrypted in an unknown format (version {version!r})")
        # A version-1 payload was sealed without associated data. Dropping the version
        # (or the workflow) from a newer payload's metadata does not help a forger: its
        # tag covers the associated data, so it fails authentication without it.
        aad = associated_data(key_id) if version == CURRENT_VERSION else None
        if version == BOUND_VERSION:
            aad = self._bound_aad(key_id, payload)
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad)
        except InvalidTag:
            raise ValueError(
                f"payload encrypted with key {key_id!r} failed authentication: "
                "wrong key material or tampered data"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded

    def _bound_aad(self, key_id: str, payload: Payload) -> bytes:
        namespace = payload.metadata.get(NAMESPACE, b"").decode()
        workflow_id = payload.metadata.get(WORKFLOW_ID, b"").decode()
        if self.workflow is not None and self.workflow != (namespace, workflow_id):
            raise ValueError(
                f"refused a payload sealed for workflow {workflow_id!r} in namespace "
                f"{namespace!r}: this is {self.workflow[1]!r} in {self.workflow[0]!r}"
            )
        return bound_data(key_id, namespace, workflow_id)

    @classmethod
    def from_env(cls) -> EncryptionCodec | None:
        """The codec TETHER_ENCRYPTION_KEYS asks for, or None when it is unset."""
        if not encrypting():
            return None
        raw = os.environ["TETHER_ENCRYPTION_KEYS"].strip()
        keys: dict[str, bytes] = {}
        for item in raw.split(","):
            key_id, sep, encoded = item.strip().partition("=")
            if not sep or not key_id:
                raise ConfigurationError(
                    "TETHER_ENCRYPTION_KEYS must be comma-separated key-id=base64-key items"
                )
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise ConfigurationError(f"encryption key {key_id!r} is not valid base64") from None
        active = os.environ.get("TETHER_ENCRYPTION_KEY_ID") or list(keys)[-1]
        allow = os.environ.get(ALLOW_PLAINTEXT, "").strip().lower() in ("1", "true", "yes")
        return cls(keys, active, strict=not allow)

"""Payloads too big for a run's history go to external storage, a reference stays.

Temporal refuses payloads over 2 MiB and ends a history at 50 MB; a tool that returns a
5 MB document, or a chat that carries months of messages, needs somewhere else to keep
them. temporalio's `ExternalStorage` stores any payload over a threshold through a
driver and writes a small reference into history in its place; every client and worker
with the same store reads it back transparently (the CLI and the web UI's codec server
too).

TETHER_PAYLOAD_STORE chooses the store:
- a directory (`/var/lib/tether/payloads`, or `file:///...`): the embedded store, one
  file per payload named by its SHA-256. No service needed, but every worker and client
  must see the same directory: one machine, or a shared volume.
- `s3://bucket` or `s3://bucket/prefix`: Amazon S3 or any S3-compatible server, through
  the SDK's S3 driver (Tether's `s3` extra); credentials, region and endpoint
  come from the usual AWS variables (AWS_ENDPOINT_URL for a non-AWS server).
TETHER_PAYLOAD_STORE_THRESHOLD is the size in bytes from which a payload is stored
(default 256 KiB, the SDK's).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.converter import (
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from tether._settings import ConfigurationError
from tether._version import extra

if TYPE_CHECKING:
    from temporalio.contrib.aws.s3driver import S3StorageDriverClient

DEFAULT_THRESHOLD = 256 * 1024
FILE_DRIVER = "tether-files"
S3_EXTRA = f"S3 payload storage needs Tether's s3 extra: {extra('s3')}"


def payload_store_configured() -> bool:
    """Whether TETHER_PAYLOAD_STORE is set (so payloads may exceed 2 MiB)."""
    return bool(os.environ.get("TETHER_PAYLOAD_STORE", "").strip())


def external_storage_from_env() -> ExternalStorage | None:
    """The store TETHER_PAYLOAD_STORE names, or None."""
    where = os.environ.get("TETHER_PAYLOAD_STORE", "").strip()
    if not where:
        return None
    threshold = _threshold()
    parsed = urlparse(where)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigurationError(f"TETHER_PAYLOAD_STORE {where!r} names no bucket")
        return ExternalStorage(
            drivers=[s3_driver(parsed.netloc, parsed.path.strip("/"))],
            payload_size_threshold=threshold,
        )
    if parsed.scheme not in ("", "file"):
        raise ConfigurationError(
            f"TETHER_PAYLOAD_STORE {where!r}: give a directory or an s3://bucket URL"
        )
    directory = Path(parsed.path if parsed.scheme == "file" else where)
    return ExternalStorage(drivers=[FileStore(directory)], payload_size_threshold=threshold)


def _threshold() -> int:
    raw = os.environ.get("TETHER_PAYLOAD_STORE_THRESHOLD", "").strip()
    if not raw:
        return DEFAULT_THRESHOLD
    if not raw.isdigit():
        raise ConfigurationError(
            f"TETHER_PAYLOAD_STORE_THRESHOLD must be a whole number of bytes, got {raw!r}"
        )
    return int(raw)


class FileStore(StorageDriver):
    """The embedded store: each payload a file named by its SHA-256 (so storing the same
    payload twice, as a retry does, writes it once)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def name(self) -> str:
        return FILE_DRIVER

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        return await asyncio.to_thread(self._store, payloads)

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        return await asyncio.to_thread(self._retrieve, claims)

    def _store(self, payloads: Sequence[Payload]) -> list[StorageDriverClaim]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        claims = []
        for payload in payloads:
            data = payload.SerializeToString()
            digest = hashlib.sha256(data).hexdigest()
            path = self.directory / digest
            if not path.exists():
                partial = path.with_name(f"{digest}.{os.getpid()}.tmp")
                partial.write_bytes(data)
                partial.chmod(0o600)
                os.replace(partial, path)  # readers never see half a payload
            claims.append(StorageDriverClaim(claim_data={"sha256": digest}))
        return claims

    def _retrieve(self, claims: Sequence[StorageDriverClaim]) -> list[Payload]:
        payloads = []
        for claim in claims:
            digest = claim.claim_data.get("sha256", "")
            path = self.directory / digest
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"payload {digest} is not in {self.directory}: every worker and client "
                    "must share TETHER_PAYLOAD_STORE"
                ) from None
            if hashlib.sha256(data).hexdigest() != digest:
                raise ValueError(f"payload {digest} in {self.directory} was altered")
            payload = Payload()
            payload.ParseFromString(data)
            payloads.append(payload)
        return payloads


async def resolve_references(storage: ExternalStorage, payloads: list[Payload]) -> list[Payload]:
    """`payloads` with each reference to a stored payload replaced by the payload (for
    the codec server: the web UI shows what a run's history only refers to)."""
    drivers = {d.name(): d for d in storage.drivers}
    out = []
    for payload in payloads:
        if payload.metadata.get("messageType") != _REFERENCE_TYPE:
            out.append(payload)
            continue
        reference = json_format.Parse(payload.data, ExternalStorageReference())
        driver = drivers.get(reference.driver_name)
        if driver is None:
            out.append(payload)  # stored elsewhere: the reference is what can be shown
            continue
        claim = StorageDriverClaim(claim_data=dict(reference.claim_data))
        (stored,) = await driver.retrieve(StorageDriverRetrieveContext(), [claim])
        out.append(stored)
    return out


_REFERENCE_TYPE = ExternalStorageReference.DESCRIPTOR.full_name.encode()


def s3_driver(bucket: str, prefix: str) -> StorageDriver:
    """The SDK's S3 driver for `bucket`."""
    try:
        from temporalio.contrib.aws.s3driver import S3StorageDriver
    except ImportError:
        raise ConfigurationError(S3_EXTRA) from None
    if prefix:
        raise ConfigurationError(
            f"TETHER_PAYLOAD_STORE s3://{bucket}/{prefix}: the S3 driver keys payloads by "
            "run itself; give the bucket only"
        )
    return S3StorageDriver(client=_s3_client(), bucket=bucket)


def _s3_client() -> S3StorageDriverClient:
    try:
        import aioboto3
        from temporalio.contrib.aws.s3driver import S3StorageDriverClient
        from temporalio.contrib.aws.s3driver.aioboto3 import new_aioboto3_client
    except ImportError:
        raise ConfigurationError(S3_EXTRA) from None

    class PerCallClient(S3StorageDriverClient):
        """An aioboto3 client for each call: a client is an async context manager over
        an HTTP session, and one kept for the process is never closed (a data converter
        has no end). Stored payloads are few and large, so a connection each is cheap."""

        def __init__(self) -> None:
            self._session = aioboto3.Session()

        @asynccontextmanager
        async def _client(self) -> AsyncIterator[S3StorageDriverClient]:
            manager: Any = self._session.client("s3")
            async with manager as client:
                yield new_aioboto3_client(client)

        async def put_object(self, *, bucket: str, key: str, data: bytes) -> None:
            async with self._client() as client:
                await client.put_object(bucket=bucket, key=key, data=data)

        async def object_exists(self, *, bucket: str, key: str) -> bool:
            async with self._client() as client:
                return await client.object_exists(bucket=bucket, key=key)

        async def get_object(self, *, bucket: str, key: str) -> bytes:
            async with self._client() as client:
                return await client.get_object(bucket=bucket, key=key)

    return PerCallClient()

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
import contextlib
import hashlib
import os
import re
import stat
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

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

from tether._lost_payloads import PayloadLost, RunAwareStorage
from tether._settings import ConfigurationError
from tether._version import extra

if TYPE_CHECKING:
    from temporalio.contrib.aws.s3driver import S3StorageDriverClient

DEFAULT_THRESHOLD = 256 * 1024
# The file in a store's directory that names it (see FileStore._identity).
STORE_ID_FILE = ".tether-store-id"
FILE_DRIVER = "tether-files"
# The largest payload the file store keeps or reads back: a tool result may be 64 MiB
# (STORED_RESULT_BYTES_LIMIT), and JSON escapes may grow it.
MAX_STORED_BYTES = 256 * 1024 * 1024
# A file store's claim is the payload's SHA-256, and nothing else: a name in its
# directory, never a path.
CLAIM = re.compile(r"[0-9a-f]{64}")
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
        return RunAwareStorage(
            drivers=[s3_driver(parsed.netloc, parsed.path.strip("/"))],
            payload_size_threshold=threshold,
        )
    if parsed.scheme not in ("", "file"):
        raise ConfigurationError(
            f"TETHER_PAYLOAD_STORE {where!r}: give a directory or an s3://bucket URL"
        )
    directory = Path(parsed.path if parsed.scheme == "file" else where)
    return RunAwareStorage(drivers=[FileStore(directory)], payload_size_threshold=threshold)


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
    payload twice, as a retry does, writes it once).

    A reference comes from history, which any client may write to: it is read only if
    it names a digest, opened without following a link, only if it is a regular file,
    and at most `max_bytes` of it.
    """

    def __init__(self, directory: Path, max_bytes: int = MAX_STORED_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

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
        store = self._identity(create=True) or ""
        claims = []
        for payload in payloads:
            data = payload.SerializeToString()
            if len(data) > self.max_bytes:
                raise ValueError(
                    f"a payload of {len(data):,} bytes is over the store's {self.max_bytes:,}"
                )
            digest = hashlib.sha256(data).hexdigest()
            path = self.directory / digest
            if not path.exists():
                partial = path.with_name(f"{digest}.{os.getpid()}.tmp")
                partial.write_bytes(data)
                partial.chmod(0o600)
                os.replace(partial, path)  # readers never see half a payload
            claims.append(StorageDriverClaim(claim_data={"sha256": digest, "store": store}))
        return claims

    def _identity(self, *, create: bool = False) -> str | None:
        """This store's id (STORE_ID_FILE, made by its first write): a claim names the
        store it was written to, so a payload missing from that very store is known lost,
        while another directory (a worker not sharing the store) is a setting to fix."""
        path = self.directory / STORE_ID_FILE
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            if not create:
                return None
        partial = path.with_name(f"{STORE_ID_FILE}.{os.getpid()}.tmp")
        partial.write_text(uuid.uuid4().hex)
        with contextlib.suppress(FileExistsError):
            os.link(partial, path)  # the first writer's id stays
        partial.unlink()
        return path.read_text().strip() or None

    def _retrieve(self, claims: Sequence[StorageDriverClaim]) -> list[Payload]:
        payloads = []
        for claim in claims:
            digest = claim.claim_data.get("sha256", "")
            if not CLAIM.fullmatch(digest):
                raise ValueError(
                    f"refused a payload reference that names no stored payload: {digest[:80]!r}"
                )
            data = self._read(digest, claim.claim_data.get("store"))
            if hashlib.sha256(data).hexdigest() != digest:
                raise PayloadLost(f"payload {digest} in {self.directory} was altered")
            payload = Payload()
            payload.ParseFromString(data)
            payloads.append(payload)
        return payloads

    def _read(self, digest: str, stored_in: str | None) -> bytes:
        """The payload `digest` names, written to the store `stored_in` names."""
        where = f"payload {digest} in {self.directory}"
        path = self.directory / digest
        try:
            # A link, a FIFO (which would block the worker), a device: refused unopened.
            if not stat.S_ISREG(path.lstat().st_mode):
                raise ValueError(f"{where} is not a regular file")
            # And opened so that a file swapped in meanwhile is refused the same way.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            if stored_in is not None and stored_in == self._identity():
                raise PayloadLost(
                    f"payload {digest} is gone from the payload store {self.directory} "
                    "(deleted, or the store restored from an older backup): the run "
                    "cannot go on without it. Restore the file, or start the run again"
                ) from None
            raise FileNotFoundError(
                f"payload {digest} is not in {self.directory}: this process reads another "
                "store than the one it was written to; every worker and client must share "
                "TETHER_PAYLOAD_STORE"
            ) from None
        except OSError as e:
            raise OSError(f"{where} cannot be read: {e.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            found = os.fstat(f.fileno())
            if not stat.S_ISREG(found.st_mode):
                raise ValueError(f"{where} is not a regular file")
            if found.st_size > self.max_bytes:
                raise ValueError(f"{where} is over the store's {self.max_bytes:,} bytes")
            data = f.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ValueError(f"{where} is over the store's {self.max_bytes:,} bytes")
        return data


async def resolve_references(
    storage: ExternalStorage, payloads: list[Payload], namespaces: Collection[str]
) -> list[Payload]:
    """`payloads` with each reference to a stored payload replaced by the payload (for
    the codec server: the web UI shows what a run's history only refers to). Only
    references of its own drivers, and S3 objects of `namespaces`, are resolved; any
    other reference is what is shown."""
    drivers = {d.name(): d for d in storage.drivers}
    out = []
    for payload in payloads:
        if payload.metadata.get("messageType") != _REFERENCE_TYPE:
            out.append(payload)
            continue
        reference = json_format.Parse(payload.data, ExternalStorageReference())
        driver = drivers.get(reference.driver_name)
        claim = StorageDriverClaim(claim_data=dict(reference.claim_data))
        if driver is None or not _of_namespaces(driver, claim, namespaces):
            out.append(payload)  # stored elsewhere: the reference is what can be shown
            continue
        (stored,) = await driver.retrieve(StorageDriverRetrieveContext(), [claim])
        out.append(stored)
    return out


def _of_namespaces(
    driver: StorageDriver, claim: StorageDriverClaim, namespaces: Collection[str]
) -> bool:
    """Whether a claim is of one of `namespaces` (an S3 key names its namespace; the
    file store is one deployment's, its claims name none)."""
    if not isinstance(driver, OwnBucket):
        return True
    key = claim.claim_data.get("key", "")
    return any(key.startswith(f"v0/ns/{quote(n, safe='')}/") for n in namespaces)


class OwnBucket(StorageDriver):
    """The SDK's S3 driver, reading only its own bucket: a reference in history may name
    any bucket the worker's credentials reach."""

    def __init__(self, driver: StorageDriver, bucket: str) -> None:
        self._driver = driver
        self.bucket = bucket

    def name(self) -> str:
        return self._driver.name()

    def type(self) -> str:
        return self._driver.type()

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        return await self._driver.store(context, payloads)

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        for claim in claims:
            if claim.claim_data.get("bucket") != self.bucket:
                raise ValueError(
                    "refused a payload reference to another bucket than TETHER_PAYLOAD_STORE's"
                )
        return await self._driver.retrieve(context, claims)


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
    return OwnBucket(S3StorageDriver(client=_s3_client(), bucket=bucket), bucket)


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

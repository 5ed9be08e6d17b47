"""Connecting to Temporal through the SDK's environment config.

TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings and profiles
(TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE) all work as the Temporal CLI reads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, Plugin
from temporalio.contrib.pydantic import PydanticPayloadConverter, ToJsonOptions
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from tether._codec import EncryptionCodec
from tether._storage import external_storage_from_env

DEFAULT_ADDRESS = "localhost:7233"


class TemporalUnreachable(ConnectionError):
    """Temporal could not be reached; the message says how to start the dev server."""


def connect_config() -> dict[str, Any]:
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


class CompactPayloadConverter(PydanticPayloadConverter):
    """Pydantic JSON without the fields a payload's writer left at their defaults.

    Every payload lands in history, and most fields of Tether's models are defaults
    (nulls, empty lists) that decoding restores anyway: leaving them out cut a standard
    run's history by about a tenth. A model that must keep its defaults on record (the
    agent spec a run replays against) marks all its fields as set.
    """

    def __init__(self) -> None:
        super().__init__(ToJsonOptions(exclude_unset=True))


TETHER_CONVERTER = DataConverter(payload_converter_class=CompactPayloadConverter)


def data_converter() -> DataConverter:
    """Tether's data converter: pydantic JSON payloads, encrypted when
    TETHER_ENCRYPTION_KEYS is set (failure messages and stack traces too), large ones
    kept in TETHER_PAYLOAD_STORE; worker and starter must agree, so both build it here."""
    converter = TETHER_CONVERTER
    storage = external_storage_from_env()
    if storage is not None:
        converter = dataclasses.replace(converter, external_storage=storage)
    codec = EncryptionCodec.from_env()
    return converter if codec is None else with_codec(converter, codec)


def with_codec(converter: DataConverter, codec: PayloadCodec) -> DataConverter:
    """`converter` encoding payloads with `codec`, and failures' messages and stack
    traces as payloads too (otherwise they stay plaintext in history)."""
    return dataclasses.replace(
        converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(
    converter: DataConverter | None = None,
    *,
    runtime: Runtime | None = None,
    plugins: Sequence[Plugin] = (),
) -> Client:
    """A client from the environment config (TEMPORAL_ADDRESS, profiles, ...), with
    Tether's data converter (encrypting when TETHER_ENCRYPTION_KEYS is set).

    Args:
        converter: Build it first to check its settings (a ConfigurationError) before
            connecting; None builds it here.
        runtime: The SDK runtime (telemetry); None is the SDK's default.
        plugins: Client plugins, e.g. `TetherPlugin` for a worker's client.

    Raises:
        TemporalUnreachable: nothing answers at the configured address.
    """
    config = connect_config()
    converter = converter or data_converter()
    try:
        return await Client.connect(
            **config, data_converter=converter, runtime=runtime, plugins=list(plugins)
        )
    except RuntimeError as e:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {config['target_host']} "
            f"(namespace {config.get('namespace', 'default')}): start the dev server with "
            "`python3 dev.py server`, or set TEMPORAL_ADDRESS"
        ) from e

"""Connecting to Temporal through the SDK's environment config.

TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings and profiles
(TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE) all work as the Temporal CLI reads them.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

DEFAULT_ADDRESS = "localhost:7233"


class TemporalUnreachable(ConnectionError):
    """Temporal could not be reached; the message says how to start the dev server."""


def connect_config() -> dict[str, Any]:
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


async def connect(*, runtime: Runtime | None = None) -> Client:
    """A client from the environment's config; `runtime` None means the SDK's default."""
    config = connect_config()
    try:
        return await Client.connect(
            **config, data_converter=pydantic_data_converter, runtime=runtime
        )
    except RuntimeError as e:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {config['target_host']} "
            f"(namespace {config.get('namespace', 'default')}): start the dev server with "
            "`python3 dev.py server`, or set TEMPORAL_ADDRESS"
        ) from e

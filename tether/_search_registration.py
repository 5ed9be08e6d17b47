"""Making sure Tether's search attributes exist before runs upsert them.

Upserting an attribute the namespace does not know fails the workflow task, and the
run then retries that task forever. So the worker checks at start: it registers the
attributes where it may (dev server, test server, self-hosted clusters) and otherwise
warns once and tells runs not to upsert them (runs still work, just unsearchable).
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tether._logs import get_logger
from tether._search_attributes import SEARCH_ATTRIBUTES

log = get_logger("tether._search_attributes")

INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


async def ensure_search_attributes(client: Client) -> bool:
    """True when every Tether search attribute is registered in the client's namespace."""
    missing = dict(SEARCH_ATTRIBUTES)
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        missing = {k: v for k, v in missing.items() if k not in listed.custom_attributes}
    except RPCError as e:
        if e.status != RPCStatusCode.UNIMPLEMENTED:  # the test server cannot list
            return _unsearchable(client, str(e))
    if not missing:
        return True
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={k: INDEXED_TYPES[v] for k, v in missing.items()},
            )
        )
    except RPCError as e:
        if e.status != RPCStatusCode.ALREADY_EXISTS:
            return _unsearchable(client, str(e))
    log.info("registered search attributes", names=sorted(missing), namespace=client.namespace)
    return True


def _unsearchable(client: Client, why: str) -> bool:
    commands = "; ".join(
        f"temporal operator search-attribute create --namespace {client.namespace} "
        f"--name {name} --type {kind}"
        for name, kind in SEARCH_ATTRIBUTES.items()
    )
    log.warning(
        "search attributes are not registered and could not be added; runs will not be "
        f"searchable by agent or status until you run: {commands}",
        reason=why,
    )
    return False

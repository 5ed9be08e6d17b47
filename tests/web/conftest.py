"""The web tests' own dev server: an inbox lists the runs of its whole namespace, and
the runs the rest of the suite leaves waiting on the session's server (their workers
gone) would make each listing wait out a query per run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tether.testing import dev_server


@pytest.fixture(scope="package")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server for the web tests alone."""
    async with dev_server() as env:
        yield env

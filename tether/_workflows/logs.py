"""The logger of Tether's workflow code: replay-safe (a replay logs nothing again), and
under Tether's own name, so a process that configures no logging sees none of it."""

from __future__ import annotations

import logging

from temporalio import workflow

log = workflow.LoggerAdapter(logging.getLogger("tether.workflow"), None)
# The workflow's details are in the record's fields (`temporal_workflow`) already.
log.workflow_info_on_message = False

"""Does a test catch what it guards? One-line mutations of Tether's seams, each applied
alone, with the tests that should then fail: a mutation every test passes is a gap.

    .venv/bin/python -m tests.mutations                 # every mutation below
    .venv/bin/python -m tests.mutations budget-gte ...  # only these
    .venv/bin/python -m tests.mutations --list

Run by hand, not in CI: each mutation runs its tests once (seconds to a minute). The
source is edited in place, so worker and starter subprocesses run the mutant too, and
restored (with its timestamp, so no stale bytecode is used) after each, Ctrl-C included.
Each line says caught or SURVIVED and which tests failed; tests/MUTATIONS.md records
what a run found. To check a new test: add the mutation it guards against here, see it
caught, and see it survive without the test.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T = "tests/"
STUCK = T + "cli/test_cli_when_stuck.py::"
CHAT = T + "cli/test_cli_chat.py::"
TRUTHFUL = T + "engine/test_truthful_outcomes.py::"
INTERRUPTS = T + "engine/test_interrupts.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest node ids or files
    # Why no test can catch it (it changes no behaviour, only e.g. a message): a known
    # survivor, reported as such rather than as a gap.
    equivalent: str = ""


MUTATIONS = [
    # Budgets
    Mutation(
        "budget-after-chat-turn",
        "tether/_workflows/agent.py",
        '                    self._chat.inbox.answered(answer or "")\n'
        "                    if spent := self._limits.spent(self._spend):\n"
        "                        return self._finish(spent, answer)\n",
        '                    self._chat.inbox.answered(answer or "")\n',
        (T + "engine/test_conversations.py",),
    ),
    Mutation(
        "budget-gte",
        "tether/_workflows/run_state.py",
        "usage.total_tokens >= limit",
        "usage.total_tokens > limit",
        (T + "engine/test_conversations.py", T + "engine/test_subagents.py"),
    ),
    Mutation(
        "budget-before-turn",
        "tether/_workflows/agent.py",
        "            spent = None if isinstance(first, LlmReply) else "
        "self._limits.spent(self._spend)\n"
        "            if spent:\n"
        "                return self._finish(spent, None)\n",
        "",
        (T + "engine/test_conversations.py", T + "engine/test_subagents.py"),
    ),
    Mutation(
        "budget-usage-summed",
        "tether/_workflows/run_state.py",
        "    def add_call(self, reply: LlmReply) -> None:\n        self.usage += reply.usage",
        "    def add_call(self, reply: LlmReply) -> None:\n        self.usage = reply.usage",
        (T + "engine/test_agent_workflow.py", T + "engine/test_conversations.py"),
    ),
    Mutation(
        "budget-child-gets-what-is-left",
        "tether/_workflows/run_state.py",
        "return None if limit is None else limit - usage.total_tokens",
        "return limit",
        (T + "engine/test_subagents.py",),
    ),
    Mutation(
        "budget-max-turns",
        "tether/_workflows/agent.py",
        "for _ in range(self._limits.max_turns):",
        "for _ in range(self._limits.max_turns + 1):",
        (T + "engine/test_conversations.py", T + "engine/test_agent_workflow.py"),
    ),
    Mutation(
        "budget-deadline",
        "tether/_workflows/run_state.py",
        "self.deadline = now + timedelta(seconds=seconds) if seconds else None",
        "self.deadline = None",
        (T + "engine/test_conversations.py",),
    ),
    # LLM errors
    Mutation(
        "llm-429-retryable",
        "tether/_activities/llm_errors.py",
        "RETRYABLE_STATUS = {408, 409, 429}",
        "RETRYABLE_STATUS = {408, 409}",
        (T + "engine/test_llm_errors.py", T + "engine/test_llm_boundary.py"),
    ),
    Mutation(
        "llm-500-retryable",
        "tether/_activities/llm_errors.py",
        "status in RETRYABLE_STATUS or status >= 500",
        "status in RETRYABLE_STATUS or status > 500",
        (T + "engine/test_llm_errors.py", T + "engine/test_llm_boundary.py"),
    ),
    Mutation(
        "llm-context-length-final",
        "tether/_activities/llm_errors.py",
        'type="ContextLengthExceeded",\n        non_retryable=True,',
        'type="ContextLengthExceeded",\n        non_retryable=False,',
        (T + "engine/test_llm_errors.py", T + "engine/test_llm_boundary.py"),
    ),
    Mutation(
        "llm-retry-after-ms-scale",
        "tether/_activities/llm_errors.py",
        "delay = _seconds(ms, scale=0.001)",
        "delay = _seconds(ms)",
        (T + "engine/test_llm_errors.py", T + "engine/test_llm_boundary.py"),
    ),
    Mutation(
        "llm-retry-after-cap",
        "tether/_activities/llm_errors.py",
        "min(max(seconds, 0.0), MAX_RETRY_AFTER.total_seconds())",
        "max(seconds, 0.0)",
        (T + "engine/test_llm_errors.py",),
    ),
    Mutation(
        "llm-retry-after-zero",
        "tether/_activities/llm_errors.py",
        "        if delay is None:  # not `or`",
        "        if not delay:  # not `or`",
        (T + "engine/test_llm_errors.py",),
    ),
    Mutation(
        "llm-retry-now",
        "tether/_activities/llm_errors.py",
        "next_retry_delay=RETRY_NOW if delay == timedelta(0) else delay,",
        "next_retry_delay=delay,",
        (T + "engine/test_llm_errors.py", T + "engine/test_llm_boundary.py"),
    ),
    Mutation(
        "llm-client-gives-up-first",
        "tether/_activities/timeouts.py",
        "total = max((limit - TOTAL_MARGIN).total_seconds(), limit.total_seconds() / 2)",
        "total = limit.total_seconds()",
        (T + "engine/test_llm_boundary.py",),
    ),
    Mutation(
        "llm-fallback-on-missing-model",
        "tether/_workflows/llm_calls.py",
        'cause.type == "ModelNotFound"',
        'cause.type == "ModelMissing"',
        (T + "engine/test_llm_boundary.py",),
    ),
    # Tool execution
    Mutation(
        "tool-limit-in-bytes",
        "tether/_tools.py",
        "    if len(data) <= max_bytes:",
        "    if len(content) <= max_bytes:",
        (T + "engine/test_tools.py", T + "engine/test_tool_execution.py"),
    ),
    Mutation(
        "tool-own-limit",
        "tether/_activities/tools.py",
        "limit = (recorded.max_result_bytes if recorded else None) or spec.max_tool_result_bytes",
        "limit = spec.max_tool_result_bytes",
        (T + "engine/test_tool_execution.py",),
    ),
    Mutation(
        "tool-error-to-model",
        "tether/_tools.py",
        "except ToolError as e:",
        "except LookupError as e:",
        (
            T + "engine/test_tools.py",
            T + "engine/test_tool_execution.py",
            T + "engine/test_agent_workflow.py",
        ),
    ),
    Mutation(
        "tool-fast-is-local",
        "tether/_workflows/tool_activities.py",
        "    return tool.fast and (local or (tool.mcp is not None and tool.mcp.session is not"
        " None))",
        "    return False",
        (T + "engine/test_tool_execution.py",),
    ),
    Mutation(
        "tool-waits-for-cancellation",
        "tether/_workflows/tool_activities.py",
        "cancellation=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,",
        "cancellation=ActivityCancellationType.TRY_CANCEL,",
        (T + "engine/test_tool_execution.py",),
    ),
    Mutation(
        "tool-results-in-order",
        "tether/_workflows/agent.py",
        "zip(calls, outcomes, strict=True)",
        "zip(calls, reversed(outcomes), strict=True)",
        (T + "engine/test_tool_execution.py", T + "engine/test_agent_workflow.py"),
    ),
    Mutation(
        "tool-attempt",
        "tether/_activities/tools.py",
        "attempt=info.attempt,",
        "attempt=1,",
        (T + "engine/test_tool_execution.py",),
    ),
    # Approvals
    Mutation(
        "approval-needed",
        "tether/_workflows/tool_calls.py",
        "    if tool.gated:\n        approved = await approvals.wait(",
        "    if False:\n        approved = await approvals.wait(",
        (T + "engine/test_approvals.py",),
    ),
    Mutation(
        "approval-already-decided",
        "tether/_workflows/person_waits.py",
        "    if call_id in settled:\n"
        '        raise ValueError(f"{kind.noun} {call_id!r} {kind.settled}")\n',
        "",
        (T + "engine/test_approvals.py", T + "engine/test_questions.py"),
    ),
    Mutation(
        "approval-rejection-honoured",
        "tether/_workflows/approvals.py",
        "        )\n        if not decision.approve:\n            why",
        "        )\n        if decision.approve is None:\n            why",
        (T + "engine/test_approvals.py",),
    ),
    Mutation(
        "approval-edited-arguments",
        "tether/_workflows/approvals.py",
        'return call.model_copy(update={"arguments": decision.arguments})',
        "return call",
        (T + "engine/test_approvals.py",),
    ),
    Mutation(
        "approval-reused-call-id",
        "tether/_workflows/approvals.py",
        "            del self._decided[call.id]\n",
        "            pass\n",
        (T + "engine/test_approvals.py",),
    ),
    Mutation(
        "approval-digest-checked",
        "tether/_workflows/approvals.py",
        "        if call.digest is not None and decision.digest != call.digest:",
        "        if False:",
        (T + "engine/test_approvals.py",),
    ),
    Mutation(
        "approval-checked-before-asking",
        "tether/_workflows/tool_calls.py",
        "            rules=context.rules(spec, tool),\n            policy=context.gate(",
        "            rules=None,\n            policy=context.gate(",
        (T + "engine/test_approvals.py",),
    ),
    Mutation(
        "approval-approvers",
        "tether/_workflows/approvals.py",
        "        if rules is not None:\n            check_person(\n",
        "        if False:\n            check_person(\n",
        (T + "engine/test_approvals.py",),
    ),
    Mutation(
        "approval-signature-verified",
        "tether/_signing.py",
        "        key.verify(signature, signed())\n",
        "",
        (T + "engine/test_signed_decisions.py", T + "engine/test_questions.py"),
    ),
    Mutation(
        "answer-checked-against-its-schema",
        "tether/_workflows/questions.py",
        "        answer_value(answer.value, question.answer_schema)\n\n",
        "\n",
        (T + "engine/test_questions.py",),
    ),
    Mutation(
        "answer-by-an-answerer",
        "tether/_workflows/questions.py",
        "        check_person(self._rules[question.call_id], answer.answerer, prove, ANSWERER)",
        "        pass",
        (T + "engine/test_questions.py",),
    ),
    Mutation(
        "payload-sealed-for-its-workflow",
        "tether/_codec.py",
        "        if self.workflow is not None and self.workflow != (namespace, workflow_id):",
        "        if False:",
        (T + "engine/test_signed_decisions.py",),
    ),
    Mutation(
        "payload-reference-is-a-name",
        "tether/_storage.py",
        "            if not CLAIM.fullmatch(digest):",
        "            if False:",
        (T + "ops/test_payload_references.py",),
    ),
    Mutation(
        "approval-execution-digest",
        "tether/_activities/tools.py",
        "    if expected is None or arguments_digest(request.call.arguments) == expected:",
        "    if True:",
        (T + "engine/test_tool_scope.py",),
    ),
    Mutation(
        "approval-timeout-recorded",
        "tether/_workflows/approvals.py",
        "self._decided[call.id] = ApprovalDecision(call_id=call.id, approve=False)",
        "pass",
        (T + "engine/test_approvals.py",),
        equivalent="a late decision is refused either way, as 'already decided' or as "
        "'no tool call waits': only the message differs",
    ),
    # Idempotency
    Mutation(
        "idempotency-key-turn",
        "tether/_workflows/tool_calls.py",
        "{info.first_execution_run_id}:{turn}:{call.id}",
        "{info.first_execution_run_id}:{call.id}",
        (T + "engine/test_tool_execution.py", T + "engine/test_agent_workflow.py"),
    ),
    Mutation(
        "idempotency-key-run",
        "tether/_workflows/tool_calls.py",
        "    if context.bound:\n        key = ",
        "    if False:\n        key = ",
        (T + "engine/test_tool_scope.py",),
    ),
    Mutation(
        "idempotency-key-to-tool",
        "tether/_activities/tools.py",
        "idempotency_key=request.idempotency_key,",
        "idempotency_key=request.call.id,",
        (T + "engine/test_tool_execution.py", T + "engine/test_agent_workflow.py"),
    ),
    Mutation(
        "idempotency-refund-lookup",
        "activities/support_tools.py",
        "            _same_call(done, ctx)\n            return _refund(done)\n",
        "            pass\n",  # an empty body would not compile
        (T + "demo/test_support_desk.py",),
    ),
    Mutation(
        "idempotency-email-conflict",
        "activities/support_tools.py",
        '" ON CONFLICT (idempotency_key) DO NOTHING",',
        '"",',
        (T + "demo/test_support_desk.py",),
    ),
    Mutation(
        "idempotency-other-arguments",
        "activities/support_tools.py",
        "    if stored is not None and stored != ctx.arguments_digest:",
        "    if False:",
        (T + "demo/test_support_desk.py",),
    ),
    # Who a run acts for
    Mutation(
        "scope-order-owner",
        "activities/support_tools.py",
        '" WHERE o.id = ? AND o.customer_id = ?",',
        '" WHERE o.id = ? AND ? IS NOT NULL",',
        (T + "demo/test_support_desk.py",),
    ),
    Mutation(
        "scope-email-recipient",
        "activities/support_tools.py",
        'if row is None or to.strip().lower() != row["email"].lower():',
        "if row is None:",
        (T + "demo/test_support_desk.py",),
    ),
    # Start input
    Mutation(
        "input-carried-first-start",
        "tether/_workflows/agent.py",
        "            if params.carried is not None and not workflow.info().continued_run_id:",
        "            if False:",
        (T + "engine/test_run_limits.py",),
    ),
    Mutation(
        "input-budget-capped",
        "tether/_workflows/run_state.py",
        "            self.max_turns = min(self.max_turns, spec.max_turns)\n",
        "",
        (T + "engine/test_run_limits.py",),
    ),
    # Encryption and the demo shop
    Mutation(
        "codec-from-environment",
        "tether/_temporal.py",
        "    return converter if codec is None else with_codec(converter, codec)\n",
        "    return converter\n",
        (T + "ops/test_secrets.py",),
    ),
    Mutation(
        "codec-strict",
        "tether/_codec.py",
        "                if self.strict:",
        "                if False:",
        (T + "ops/test_secrets.py",),
    ),
    Mutation(
        "codec-associated-data",
        "tether/_codec.py",
        "sealed = cipher.encrypt(nonce, payload.SerializeToString(), aad)",
        "sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)",
        (T + "ops/test_secrets.py",),
    ),
    Mutation(
        "codec-server-token",
        "tether/codec_server.py",
        "        if token is None or not self._policy.admits(token):",
        "        if False:",
        (T + "ops/test_codec_server.py",),
    ),
    Mutation(
        "codec-server-host",
        "tether/codec_server.py",
        '        if self.headers.get("Host", "") not in self._policy.allowed_hosts:',
        "        if False:",
        (T + "ops/test_codec_server.py",),
    ),
    Mutation(
        "shop-seeded-once",
        "activities/shop_db.py",
        '    conn.execute("BEGIN IMMEDIATE")\n',
        "",
        (T + "demo/test_shop_db.py",),
    ),
    # Seeing runs when something goes wrong (the CLI)
    Mutation(
        "script-failure-retried",
        "tether/_activities/llm_errors.py",
        '            type="ScriptFailed",\n            non_retryable=True,\n',
        '            type="ScriptFailed",\n',
        (STUCK + "test_run_says_each_retry_and_a_broken_script_fails_at_once",),
    ),
    Mutation(
        "decide-echoes-original-arguments",
        "tether/_workflows/approvals.py",
        "            call = call.model_copy(\n                update=",
        "            call.model_copy(\n                update=",  # the call as it waited
        (STUCK + "test_an_edited_approval_runs_with_the_edited_arguments_offline",),
    ),
    Mutation(
        "shut-down-worker-polls",
        "tether/_cli/reading.py",
        "p.identity not in gone or p.last_access_time.ToDatetime() > gone[p.identity]",
        "True",
        (STUCK + "test_without_a_worker_status_transcript_and_watch_read_the_history",),
    ),
    # Steering runs from the CLI: links, chats and prompts, words
    Mutation(
        "link-ends-in-slash",
        "tether/_cli/common.py",
        "if run_id else link",
        'if run_id else f"{link}/"',
        (T + "ops/test_web_ui.py::test_every_link_the_cli_prints_opens_its_run",),
    ),
    Mutation(
        "piped-chat-waits-later",
        "tether/_cli/chat.py",
        "leave_undecided=not approver.ask",
        "leave_undecided=False",
        (CHAT + "test_a_piped_chat_at_an_approval_says_how_to_decide_and_leaves",),
    ),
    Mutation(
        "ctrl-c-waits-for-enter",
        "tether/_cli/prompting.py",
        "threading.Thread(target=read, daemon=True).start()",
        "loop.run_in_executor(None, read)",  # asyncio.run waits for it at exit
        (CHAT + "test_ctrl_c_at_an_approval_prompt_leaves_at_once_and_the_run_goes_on",),
    ),
    Mutation(
        "approve-prompt-in-executor",
        "tether/_cli/control.py",
        'answer = await read_line(f"{verb} {shown_call(call)}? [y/N] ")',
        'answer = await asyncio.to_thread(input, f"{verb} {shown_call(call)}? [y/N] ")',
        (CHAT + "test_ctrl_c_at_an_approval_prompt_leaves_at_once_and_the_run_goes_on",),
    ),
    Mutation(
        "one-turns",
        "tether/_cli/ending.py",
        '("" if count == 1 else "s")',
        '"s"',
        (T + "cli/test_cli_small.py",),
    ),
    Mutation(
        "list-in-store-order",
        "tether/_cli/views.py",
        "    rows.sort(key=_started, reverse=True)\n",
        "",
        (T + "cli/test_cli_small.py",),
    ),
    Mutation(
        "canceled-spelt-two-ways",
        "tether/_cli/history.py",
        'WorkflowExecutionStatus.CANCELED: "cancelled"',
        'WorkflowExecutionStatus.CANCELED: "canceled"',
        (T + "cli/test_cli_small.py",),
    ),
    Mutation(
        "log-message-repeats-context",
        "tether/_logs.py",
        "workflow.logger.workflow_info_on_message = False",
        "workflow.logger.workflow_info_on_message = True",
        (T + "cli/test_cli_small.py",),
    ),
    # Evaluations: resumed where they were, approvals by the case's policy, the facts a
    # report holds, the verdict's arithmetic
    Mutation(
        "eval-resume-starts-again",
        "tether/evals.py",
        "        results = await follow(client.get_workflow_handle(eval_id), on_progress)\n",
        "        again = await start(client, params, eval_id + '.again')\n"
        "        results = await follow(again, on_progress)\n",
        (T + "evals/test_eval_crash.py",),
    ),
    Mutation(
        "eval-approvals-ignore-policy",
        "tether/_evals/activities.py",
        'approve = request.policy == "approve"',
        "approve = True",
        (T + "evals/test_eval_report.py", T + "evals/test_evals.py"),
    ),
    Mutation(
        "eval-facts-filled-in-place",
        "tether/_evals/history.py",
        "return RunFacts.model_validate(facts.model_dump()), result",
        "return facts, result",
        (T + "evals/test_eval_report.py",),
    ),
    Mutation(
        "eval-verdict-cheaper-inverted",
        "tether/_evals/report.py",
        "low, high = (a, b) if x < y else (b, a)",
        "low, high = (a, b) if x > y else (b, a)",
        (T + "evals/test_evals.py",),
    ),
    # Issue 31: slow and local models, truthful outcomes, the Responses API
    Mutation(
        "no-stall-timeout",
        "tether/_activities/timeouts.py",
        "    return openai.Timeout(stall, connect=min(stall, CONNECT_SECONDS))",
        "    return openai.Timeout(None, connect=min(stall, CONNECT_SECONDS))",
        (T + "engine/test_slow_models.py::test_a_silent_provider_is_a_stall_and_is_retried",),
    ),
    Mutation(
        "no-default-reply-cap",
        "tether/_policies.py",
        "DEFAULT_MAX_TOKENS = 2048",
        "DEFAULT_MAX_TOKENS = None",
        (T + "engine/test_slow_models.py::test_replies_are_capped_by_default_and_per_model",),
    ),
    Mutation(
        "model-queue-ignored",
        "tether/_workflows/llm_calls.py",
        "    model_queue = spec.llm_queue if spec.llm_queue and real_models() else None",
        "    model_queue = None",
        (T + "engine/test_slow_models.py::test_calls_beyond_the_model_slots_wait_in_temporal",),
    ),
    Mutation(
        "queued-call-not-shown",
        "tether/_cli/model_calls.py",
        'return f"queued{waited}: {self.what}, for a free model slot on a worker"',
        'return f"{self.what}"',
        (T + "engine/test_slow_models.py::test_calls_beyond_the_model_slots_wait_in_temporal",),
    ),
    Mutation(
        "cut-reply-unmarked",
        "tether/_activities/llm.py",
        '        message.truncated = finish_reason == "length"',
        "        message.truncated = False",
        (T + "engine/test_truthful_outcomes.py",),
    ),
    Mutation(
        "cut-reply-not-continued",
        "tether/_workflows/outcomes.py",
        '            self.pieces.append(message.content or "")\n            return "continue"',
        '            return "go_on"',
        (TRUTHFUL + "test_a_cut_reply_is_continued_and_joined",),
    ),
    Mutation(
        "dropped-tools-complete",
        "tether/_workflows/outcomes.py",
        "and self.has_tools and not self.tool_calls:",
        "and self.has_tools and not self.tool_calls and False:",
        (TRUTHFUL + "test_a_server_that_drops_tools_does_not_complete_the_run",),
    ),
    Mutation(
        "probe-trusts-text",
        "tether/_activities/tool_support.py",
        '    return "drops"',
        '    return "passes"',
        (TRUTHFUL + "test_a_server_that_drops_tools_does_not_complete_the_run",),
    ),
    Mutation(
        "reasoning-not-carried",
        "tether/_activities/responses_api.py",
        "        items += m.reasoning",
        "        items += []",
        (T + "engine/test_responses_api.py::test_a_run_completes_carrying_its_reasoning",),
    ),
    Mutation(
        "model-serve-reads-stdin",
        "tether/_llamacpp.py",
        "        signal.sigwait(stops)",
        "        sys.stdin.read()",
        (
            T
            + "ops/test_model_serve.py::test_in_the_foreground_under_nohup_it_serves_until_sigterm",
        ),
    ),
    # tether web: who sees what, what reaches the page as markup, what a request carries
    Mutation(
        "web-everyone-sees-every-run",
        "tether/_web/access.py",
        "    if ANY in user.agents or run.agent in user.agents:\n        return True",
        "    if True:\n        return True",
        (T + "web/test_web_inbox.py",),
    ),
    Mutation(
        "web-pages-not-escaped",
        "tether/_web/context.py",
        "autoescape=True,",
        "autoescape=False,",
        (
            T
            + "web/test_web_live.py::test_an_edited_approval_runs_edited_and_model_text_stays_text",
        ),
    ),
    Mutation(
        "web-script-makes-markup",
        "tether/_web/static/app.js",
        "    li.textContent = text;",
        "    li.innerHTML = text;",
        (
            T
            + "web/test_web_live.py::test_an_edited_approval_runs_edited_and_model_text_stays_text",
        ),
    ),
    Mutation(
        "web-stream-ignores-from",
        "tether/_web/streams.py",
        "    return int(given) if given.isdigit() else 0",
        "    return 0",
        (T + "web/test_web_live.py::test_a_reload_mid_stream_loses_no_event_and_repeats_none",),
    ),
    Mutation(
        "web-stream-ignores-last-event-id",
        "tether/_web/streams.py",
        "    if last.isdigit():\n        return int(last) + 1",
        "    if False:\n        return int(last) + 1",
        (T + "web/test_web_streams.py",),
    ),
    Mutation(
        "web-any-host",
        "tether/_web/guard.py",
        "        if _hostname(host) not in self.hosts:",
        "        if False:",
        (T + "web/test_web_signin.py::test_passwords_sessions_csrf_host_and_origin",),
    ),
    Mutation(
        "web-no-csrf",
        "tether/_web/forms.py",
        "        if not csrf_ok(session, given):",
        "        if False:",
        (T + "web/test_web_signin.py::test_passwords_sessions_csrf_host_and_origin",),
    ),
    Mutation(
        "web-oidc-any-nonce",
        "tether/_web/oidc.py",
        'if not secrets.compare_digest(str(claims.get("nonce", "")), pending["nonce"]):',
        "if False:",
        (T + "web/test_web_signin.py",),
    ),
    Mutation(
        "web-inbox-newest-first",
        "tether/_web/runs.py",
        "found.calls), key=lambda c: c.since)",
        "found.calls), key=lambda c: c.since, reverse=True)",
        (T + "web/test_web_inbox.py",),
    ),
    Mutation(
        "web-decision-unsigned",
        "tether/_web/deciding.py",
        "        return await run.approve(\n            call, signer=signer,",
        "        return await run.approve(\n            call, signer=None,",
        (T + "web/test_web_inbox.py", T + "web/test_web_agui.py"),
    ),
    # Interrupting a turn: the model call stopped at once, local activities refused, the
    # model told of every tool call it asked for
    Mutation(
        "interrupt-waits-for-the-model",
        "tether/_workflows/interrupts.py",
        "await workflow.wait_condition(lambda: task.done() or self.requested)",
        "await workflow.wait_condition(lambda: task.done())",
        (INTERRUPTS,),
    ),
    Mutation(
        "interrupt-during-a-local-activity",
        "tether/_workflows/interrupts.py",
        "        if self.local:\n",
        "        if False:\n",
        (INTERRUPTS,),
    ),
    Mutation(
        "interrupt-cancel-taken-for-a-failure",
        "tether/_workflows/llm_calls.py",
        "                    raise  # the run was cancelled or reached its deadline: not a"
        " failure\n",
        "                    pass\n",
        (INTERRUPTS,),
    ),
    Mutation(
        "interrupt-leaves-tool-calls-unanswered",
        "tether/_workflows/agent.py",
        "                        self._answer_calls(calls, stopped.outcomes)\n",
        "",
        (INTERRUPTS,),
    ),
]


@dataclass
class Outcome:
    mutation: Mutation
    caught: bool
    failed: list[str]
    seconds: float
    note: str = ""


def mutated(mutation: Mutation) -> tuple[Path, str, str]:
    """The file, its text and its mutant; refuses a mutation that no longer fits."""
    path = ROOT / mutation.path
    text = path.read_text()
    found = text.count(mutation.old)
    if found != 1:
        sys.exit(f"mutation {mutation.name}: its line occurs {found} times in {mutation.path}")
    return path, text, text.replace(mutation.old, mutation.new)


def run_tests(tests: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o"]
    cmd += [f"timeout={timeout}", *tests]
    # No bytecode from a mutant is left behind for later runs to pick up.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


def failures(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The tests that failed, once each (a test can fail and then error in teardown)."""
    found = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.MULTILINE)
    return list(dict.fromkeys(found))


def apply_and_test(mutation: Mutation, timeout: int) -> Outcome:
    path, original, mutant = mutated(mutation)
    stat = path.stat()
    started = time.monotonic()
    try:
        path.write_text(mutant)
        done = run_tests(list(mutation.tests), timeout)
    finally:
        path.write_text(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # 1: tests failed. 0: all passed. Anything else (no tests, an internal error) is
    # neither, and says so rather than counting as caught.
    note = "" if done.returncode in (0, 1) else f"pytest exited {done.returncode}"
    return Outcome(mutation, done.returncode == 1, failures(done), time.monotonic() - started, note)


def report(outcome: Outcome) -> str:
    equivalent = outcome.mutation.equivalent
    verdict = "caught  " if outcome.caught else "survived" if equivalent else "SURVIVED"
    notes = [outcome.note] if outcome.note else []
    if equivalent and not outcome.caught:
        notes.append(f"equivalent: {equivalent}")
    line = f"{verdict} {outcome.mutation.name} ({outcome.seconds:.0f} s)"
    line += "".join(f" [{note}]" for note in notes)
    return line + "".join(f"\n           {test}" for test in outcome.failed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument("--timeout", type=int, default=120, help="per test, in seconds")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip running the tests unmutated first"
    )
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"no mutation named {', '.join(sorted(unknown))}")
    if args.list:
        for m in chosen:
            print(f"{m.name:32} {m.path}")
        return 0
    for m in chosen:
        mutated(m)  # every line still fits, before anything is changed
    if not args.no_baseline:
        # A test that fails unmutated would count every mutation as caught.
        tests = sorted({t for m in chosen for t in m.tests})
        baseline = run_tests(tests, args.timeout)
        if baseline.returncode != 0:
            print(baseline.stdout[-3000:], file=sys.stderr)
            sys.exit(f"the tests fail without any mutation: {failures(baseline)}")
        print(f"baseline: {len(tests)} test files pass unmutated", flush=True)
    outcomes = []
    for m in chosen:
        outcomes.append(apply_and_test(m, args.timeout))
        print(report(outcomes[-1]), flush=True)
    caught = sum(o.caught for o in outcomes)
    gaps = [o for o in outcomes if not o.caught and not o.mutation.equivalent]
    print(f"{caught} of {len(outcomes)} caught, {len(gaps)} gaps", flush=True)
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())

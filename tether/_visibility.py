"""What a run shows in the Temporal web UI: summary, current details, search attributes,
and the labels of its activities and timers.

Text from a prompt, a model or a tool (a ticket, a tool call's arguments, a tool's
result, a sub-agent's task, an error) goes into the details as code, so the UI shows it
as text and never renders it as markdown: a ticket or a model could otherwise put a
"click to approve" link or an image on an approver's page.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Sequence
from typing import Any

from temporalio.client import WorkflowExecution
from temporalio.common import SearchAttributeKey

from tether import _arguments
from tether._run_io import DecidedCall, PendingApproval, PendingQuestion, PolicyVerdict, RunState
from tether._search_attributes import AGENT_NAME, AGENT_STATUS, AGENT_TOKENS, AGENT_TURNS

AGENT_NAME_KEY = SearchAttributeKey.for_keyword(AGENT_NAME)
AGENT_STATUS_KEY = SearchAttributeKey.for_keyword(AGENT_STATUS)
AGENT_TURNS_KEY = SearchAttributeKey.for_int(AGENT_TURNS)
AGENT_TOKENS_KEY = SearchAttributeKey.for_int(AGENT_TOKENS)
SEARCH_KEYS: list[SearchAttributeKey[Any]] = [
    AGENT_NAME_KEY,
    AGENT_STATUS_KEY,
    AGENT_TURNS_KEY,
    AGENT_TOKENS_KEY,
]

# The memo key of the agent a run serves, set as Tether's clients start the run: a run
# that never upserts its search attributes (see Publisher.publish) is still listed by
# its agent's name, without a history read and without registered attributes.
AGENT_MEMO = "agent"

SUMMARY_PROMPT_CHARS = 80
DETAILS_INPUT_CHARS = 2_000
SUMMARY_ARGS_CHARS = 80
# What Temporal keeps of a summary (the server's limit.userMetadataSummarySize).
LABEL_BYTES = 400
# How much of a question a timer's label shows.
QUESTION_LABEL_CHARS = 120
SUMMARY_NAME_CHARS = 64
DETAILS_RESULT_CHARS = 600
# How a person decides a waiting call, whatever started the run.
CLI = "tether"

# The static details' part that explains the run page's rows (set when a run starts).
READING_GUIDE = (
    "**Reading this page.** `tether.llm` rows are model calls and `tether.tool` rows tool "
    "calls, each labelled with its summary (a `fast` tool runs as a local activity: its "
    "label is in *Event History*). A timer is a wait, labelled with what it waits for: a "
    "person's approval, the run's deadline, or the agent's own `wait`. "
    "`tether.describe_agent` records the agent's spec once, so the run replays against "
    "the agent it started with; `core_patch` markers record which version of Tether's "
    "workflow code the run follows. *Current details* (here) say what the run does now."
)


def agent_memo(agent: str) -> dict[str, Any]:
    """The memo an agent run starts with."""
    return {AGENT_MEMO: agent}


async def listed_agent(run: WorkflowExecution) -> str:
    """The agent a listed run serves: its search attribute, else its start memo, else
    (a run Tether did not start, or a memo this client cannot decode) its type."""
    name = run.typed_search_attributes.get(AGENT_NAME_KEY)
    if name is None:
        try:
            name = await run.memo_value(AGENT_MEMO, None, type_hint=str)
        except Exception:  # sealed with a key this client lacks, or not a string
            name = None
    return name or run.workflow_type


def run_summary(agent: str, prompt: str) -> str:
    """One line for the runs list: `support-desk: Order A-1001 arrived broken…`."""
    line = " ".join(prompt.split())
    if len(line) > SUMMARY_PROMPT_CHARS:
        line = line[: SUMMARY_PROMPT_CHARS - 1] + "…"
    return f"{agent}: {line}"


def start_details(label: str, text: str) -> str:
    """The static details a run starts with: what it was given, and how to read its page."""
    return f"**{label}**\n\n{code(text[:DETAILS_INPUT_CHARS])}\n\n{READING_GUIDE}"


def call_summary(name: str, arguments: str, chars: int = SUMMARY_ARGS_CHARS) -> str:
    """`lookup_order(order_id='A-1001')`, shortened, for an activity's or a timer's label
    (any text the model sent gives one)."""
    args = _json(arguments or "{}")
    shown = (
        ", ".join(f"{k}={v!r}" for k, v in args.items()) if isinstance(args, dict) else arguments
    )
    return f"{_short(name, SUMMARY_NAME_CHARS)}({_short(shown, chars)})"


def _short(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _json(text: str) -> Any:
    """`text` as JSON, or None if it is not JSON Tether reads (see `_arguments.loads`):
    what a model or a tool wrote is shown, never a reason for workflow code to fail."""
    try:
        return _arguments.loads(text)
    except ValueError:
        return None


def decide_command(workflow_id: str, call: PendingApproval, verb: str = "approve") -> str:
    """The command that decides exactly `call`: its id, and the digest of the arguments
    shown (a call that waits with other arguments is then refused)."""
    digest = f" --digest {call.digest}" if call.digest else ""
    return f"{CLI} {verb} {workflow_id} --call {call.call_id}{digest}"


def approval_summary(call: PendingApproval, workflow_id: str) -> str:
    """The label of the timer a call waits on for a person: the call with its arguments
    whole, as they will run, until when, and the command that decides it. Arguments
    too long for a label are not cut (the cut part may be the one that matters, and the
    command beside them would approve it): the label points to the current details."""
    until = f"until {call.expires_at:%Y-%m-%d %H:%M} UTC"
    label = (
        f"waiting for a person to approve {call.tool}({call.arguments}) · "
        f"{decide_command(workflow_id, call)} (or reject) · {until}"
    )
    if len(label.encode()) <= LABEL_BYTES:
        return label
    return (
        f"waiting for a person to approve {call.tool}: its arguments are too long for "
        f"this label, read them in the run's current details · {until}"
    )


def answer_command(workflow_id: str, question: PendingQuestion) -> str:
    """The command that answers exactly `question`."""
    return f"{CLI} answer {workflow_id} --call {question.call_id} ANSWER"


def question_summary(question: PendingQuestion, workflow_id: str) -> str:
    """The label of the timer a question waits on: the question (cut), until when, and
    the command that answers it; without the question and the command when they would
    not fit in a label (the current details have them)."""
    until = f"until {question.expires_at:%Y-%m-%d %H:%M} UTC"
    asked = _short(" ".join(question.question.split()), QUESTION_LABEL_CHARS)
    command = answer_command(workflow_id, question)
    label = f"waiting for a person to answer {asked!r} · {command} · {until}"
    if len(label.encode()) <= LABEL_BYTES:
        return label
    return (
        f"waiting for a person to answer a question (call {_short(question.call_id, 40)}): "
        f"read it in the run's current details · {until}"
    )


def question_details(pending: list[PendingQuestion], workflow_id: str) -> list[str]:
    """Markdown paragraphs for the questions that wait for a person."""
    lines: list[str] = []
    for question in pending:
        choices = question.choices
        lines += [
            f"**Waiting for a person** to answer (`{question.tool}`, call "
            f"`{question.call_id}`), until {question.expires_at:%Y-%m-%d %H:%M} UTC:",
            code(question.question),
            "Choices: " + ", ".join(inline(c) for c in choices)
            if choices
            else "The answer's schema: " + code(json.dumps(question.answer_schema)),
            f"Answer with `{answer_command(workflow_id, question)}`.",
        ]
    return lines


def policy_line(verdict: PolicyVerdict) -> str:
    """What an approval policy said of a call, for a person: the rule that matched, what
    it does, and a judge's verdict with its reasoning."""
    line = f"rule {verdict.rule!r} ({verdict.action.replace('_', ' ')})"
    if verdict.judge is not None:
        judge = verdict.judge
        line += f" · judge {judge.model} said {judge.verdict}: {judge.reasoning}"
    return line


def decision_line(taken: DecidedCall) -> str:
    """One decision of a run: what was decided, by whom, on which arguments, and why."""
    verb = "approved" if taken.approved else "rejected"
    line = f"{verb} {taken.tool} (call {taken.call_id}) by {taken.decided_by}"
    if taken.digest:
        line += f" · digest {taken.digest}"
    if taken.policy is not None:
        line += f" · {policy_line(taken.policy)}"
    if taken.reason and not (taken.policy and taken.policy.judge):  # a judge's is shown
        line += f" · {taken.reason}"
    return line


def approval_details(
    pending: list[PendingApproval], workflow_id: str, found: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """Markdown paragraphs for the calls that wait for a person, and what the run found
    before them (`found`: a tool's name and result), which is what a person decides on."""
    lines: list[str] = []
    for call in pending:
        lines += [
            f"**Waiting for a person** to approve `{call.tool}` (call `{call.call_id}`), "
            f"until {call.expires_at:%Y-%m-%d %H:%M} UTC; then it counts as rejected. "
            "The arguments:",
            code(_pretty(call.arguments)),
            *(
                [f"The approval policy asks a person: {code(policy_line(call.policy))}"]
                if call.policy is not None
                else []
            ),
            "Decide with "
            f"`{decide_command(workflow_id, call)}` (`--arguments JSON` to change "
            f"them) or `{decide_command(workflow_id, call, 'reject')} --reason TEXT`.",
        ]
    if pending and found:
        lines.append("What the run found before:")
        lines += [code(f"{name} →\n{_readable(result)}") for name, result in found]
    return lines


def current_details(
    state: RunState,
    max_turns: int,
    waiting_for: str | None,
    workflow_id: str = "",
    found: Sequence[tuple[str, str]] = (),
) -> str:
    """Markdown for the run's page, kept current at every transition."""
    lines = [
        f"**{state.agent}** · `{state.status}`",
        f"turn {state.turn} (at most {max_turns} per message) · "
        f"{state.usage.total_tokens:,} tokens"
        + (f" · ${state.cost_usd:.4f}" if state.cost_usd is not None else "")
        + f" · model `{state.model}`",
    ]
    if state.pending_approvals:
        lines += approval_details(state.pending_approvals, workflow_id, found)
    if state.pending_questions:
        lines += question_details(state.pending_questions, workflow_id)
    if waiting_for and not (state.pending_approvals or state.pending_questions):
        lines.append(f"waiting for: {waiting_for}")
    if state.error:
        lines += ["error:", code(state.error)]
    return "\n\n".join(lines)


def code(text: str) -> str:
    """`text` as a fenced code block that no backticks inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def inline(text: str) -> str:
    """`text` as inline code on one line, whatever backticks it holds."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def _pretty(arguments: str) -> str:
    value = _json(arguments)
    return arguments if value is None else json.dumps(value, indent=2, ensure_ascii=False)


def _readable(result: str) -> str:
    """A tool's result for a person: a JSON object one field a line, other text wrapped;
    at most DETAILS_RESULT_CHARS of it."""
    result = _short(result, DETAILS_RESULT_CHARS)
    value = _json(result)
    if value is None:
        return textwrap.fill(" ".join(result.split()), 68)
    return json.dumps(value, indent=2, ensure_ascii=False)

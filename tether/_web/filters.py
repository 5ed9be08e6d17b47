"""The inbox's filter: conditions on a waiting call, e.g. `agent=support-desk age>10m
amount>=100 order_id~A-10`.

Each condition is NAME OP VALUE. NAME is `agent`, `tool`, `run` (the workflow id), `age`
(how long the call has waited: `90s`, `10m`, `2h`, `1d`) or an argument of the call
(`customer.id` reaches into an object). OP is `=`, `!=`, `>`, `>=`, `<`, `<=` or `~`
(contains); numbers compare as numbers. Quote a value with spaces: `reason~"arrived broken"`.
"""

from __future__ import annotations

import operator
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tether._web.runs import WaitingCall

CONDITION = re.compile(r"^([A-Za-z_][\w.-]*)(>=|<=|!=|=|>|<|~)(.*)$", re.DOTALL)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_CONDITIONS = 20
_MISSING = object()
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class FilterError(ValueError):
    """A filter the inbox cannot read; its message says which part."""


@dataclass(frozen=True)
class Condition:
    name: str
    op: str
    value: str

    def holds(self, waiting: WaitingCall, now: datetime) -> bool:
        found = self._field(waiting, now)
        if found is _MISSING:
            return self.op == "!="
        if self.op == "~":
            return self.value.lower() in _as_text(found).lower()
        wanted: Any = self.value
        if self.name == "age":
            wanted = age_seconds(self.value)
        have, wanted = _comparable(found, wanted)
        try:
            return COMPARE[self.op](have, wanted)
        except TypeError:  # a number against a text: only (in)equality means something
            return self.op == "!="

    def _field(self, waiting: WaitingCall, now: datetime) -> Any:
        match self.name:
            case "agent":
                return waiting.run.agent
            case "tool":
                return waiting.call.tool
            case "run":
                return waiting.run.workflow_id
            case "age":
                return (now - waiting.since).total_seconds()
        value: Any = waiting.arguments
        for part in self.name.split("."):
            if not isinstance(value, dict) or part not in value:
                return _MISSING
            value = value[part]
        return value


def parse(text: str) -> list[Condition]:
    """The conditions of a filter (FilterError names the first it cannot read)."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise FilterError(f"filter: {e}") from None
    if len(words) > MAX_CONDITIONS:
        raise FilterError(f"filter: at most {MAX_CONDITIONS} conditions")
    conditions = []
    for word in words:
        match = CONDITION.match(word)
        if match is None:
            raise FilterError(f"filter: {word!r} is not NAME OP VALUE (e.g. amount>=100)")
        condition = Condition(*match.groups())
        if condition.name == "age":
            age_seconds(condition.value)  # refused now, not when first compared
        conditions.append(condition)
    return conditions


def age_seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if match is None:
        raise FilterError(f"filter: age {text!r} is not like 90s, 10m, 2h or 1d")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def matching(
    calls: list[WaitingCall], conditions: list[Condition], now: datetime
) -> list[WaitingCall]:
    return [c for c in calls if all(cond.holds(c, now) for cond in conditions)]


def _comparable(have: Any, wanted: Any) -> tuple[Any, Any]:
    """Both as numbers when both read as numbers, else both as text."""
    try:
        if not isinstance(have, bool):
            return float(have), float(wanted)
    except (TypeError, ValueError):
        pass
    return _as_text(have), str(wanted)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)

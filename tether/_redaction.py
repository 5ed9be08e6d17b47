"""Keeping secrets out of what leaves a process: failures, history and logs.

Some gateways echo the API key in a 401's message, URLs may carry credentials, and a
tool's exception may quote whatever it was working on. Provider errors and every log
line pass through `redact`: the configured secrets (OPENAI_API_KEY, TEMPORAL_API_KEY,
the encryption keys) and common key shapes become `[redacted]`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
# Shorter values would redact ordinary words; no real key is this short.
MIN_SECRET_CHARS = 8
KEY_SHAPES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI and look-alike provider keys
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(
        r"(?i)\b(api[_-]?key|access[_-]?token|secret|password)(\W{1,3})[A-Za-z0-9._~+/\-]{8,}"
    ),
)
URL_CREDENTIALS = re.compile(r"(//)[^/\s:@]+:[^/\s@]+@")
SECRET_VARIABLES = ("OPENAI_API_KEY", "TEMPORAL_API_KEY")


def configured_secrets() -> list[str]:
    """The secret values in this process's environment."""
    values = [os.environ.get(name, "") for name in SECRET_VARIABLES]
    for item in os.environ.get("TETHER_ENCRYPTION_KEYS", "").split(","):
        values.append(item.partition("=")[2].strip())
    return [v for v in values if len(v) >= MIN_SECRET_CHARS]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with `secrets` and anything shaped like a key replaced by [redacted]."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, REDACTED)
    for shape in KEY_SHAPES:
        text = shape.sub(_keep_label, text)
    return URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)


def _keep_label(match: re.Match[str]) -> str:
    """`api_key=[redacted]`: the name of what was hidden stays readable."""
    if match.re.groups >= 2:
        return f"{match.group(1)}{match.group(2)}{REDACTED}"
    return REDACTED

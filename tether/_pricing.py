"""An optional per-model price table, so runs report what they cost.

TETHER_PRICES holds JSON (or the path of a JSON file) mapping a model to its price in
USD per million tokens: {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from tether._messages import Usage
from tether._settings import ConfigurationError


class ModelPrice(BaseModel):
    input: float = Field(ge=0, description="USD per million prompt tokens.")
    output: float = Field(ge=0, description="USD per million completion tokens.")


class PriceTable(BaseModel):
    prices: dict[str, ModelPrice] = Field(default_factory=dict)

    def cost(self, model: str, usage: Usage) -> float | None:
        price = self.prices.get(model)
        if price is None:
            return None
        usd = usage.prompt_tokens * price.input + usage.completion_tokens * price.output
        return round(usd / 1_000_000, 8)

    @classmethod
    def from_env(cls) -> PriceTable:
        raw = os.environ.get("TETHER_PRICES", "").strip()
        if not raw:
            return cls()
        text = raw if raw.startswith("{") else _read(Path(raw))
        try:
            return cls(prices=json.loads(text))
        except (json.JSONDecodeError, ValidationError, TypeError) as e:
            raise ConfigurationError(
                'TETHER_PRICES must map models to {"input": USD, "output": USD} per '
                f"million tokens: {e}"
            ) from None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as e:
        raise ConfigurationError(f"TETHER_PRICES: cannot read {path}: {e.strerror}") from None

"""Token usage of a task's model calls, and its cost where the model's price is known or configured.

Prices are US dollars per million tokens (input, output). A few public list prices are built in; ``MODEL_PRICES``
(a JSON object, e.g. ``{"my-model": [0.2, 0.6]}``) adds or replaces entries. A model name matches an entry exactly
or by its longest prefix, so ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``; an unknown model has no cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ls_langchain.errors import ConfigurationError

__all__ = ["BUILT_IN_PRICES", "Usage", "parse_prices", "price_of"]

#: List prices per million tokens (input, output), as the providers published them; ``MODEL_PRICES`` overrides.
BUILT_IN_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}


def parse_prices(text: str | None) -> dict[str, tuple[float, float]]:
    """``MODEL_PRICES`` as a table; a malformed value is one line saying the expected shape."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError
        table = {str(name): (float(pair[0]), float(pair[1])) for name, pair in raw.items() if len(pair) == 2}
        if len(table) != len(raw):
            raise TypeError
    except (TypeError, ValueError, KeyError):
        raise ConfigurationError(
            'MODEL_PRICES must be a JSON object of [input, output] dollars per million tokens, e.g. {"my-model": '
            f"[0.2, 0.6]}}, got {text[:80]!r}."
        ) from None
    return table


def price_of(model: str | None, extra: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    """The (input, output) price of ``model``: the configured table first, then the built-in one."""
    if not model:
        return None
    for table in (extra, BUILT_IN_PRICES):
        if model in table:
            return table[model]
        prefixes = [name for name in table if model.startswith(name + "-")]
        if prefixes:
            return table[max(prefixes, key=len)]
    return None


@dataclass(frozen=True)
class Usage:
    """Tokens used by a task's model calls, and the model that answered."""

    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None

    @classmethod
    def of(cls, messages: Iterable[Any], fallback_model: str | None = None) -> Usage | None:
        """The summed ``usage_metadata`` of AI messages; None when no message reports any."""
        reports = [(m, m.usage_metadata) for m in messages if getattr(m, "usage_metadata", None)]
        if not reports:
            return None
        model = next((m.response_metadata.get("model_name") for m, _ in reports if m.response_metadata), None)
        return cls(
            input_tokens=sum(int(u.get("input_tokens", 0)) for _, u in reports),
            output_tokens=sum(int(u.get("output_tokens", 0)) for _, u in reports),
            model=model or fallback_model,
        )

    def cost_usd(self, prices: Mapping[str, tuple[float, float]]) -> float | None:
        price = price_of(self.model, prices)
        if price is None:
            return None
        return (self.input_tokens * price[0] + self.output_tokens * price[1]) / 1_000_000

    def as_meta(self, prices: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
        """The prediction ``meta`` entries: token counts, the model, and the cost when the price is known."""
        meta: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }
        if self.model:
            meta["model_name"] = self.model
        cost = self.cost_usd(prices)
        if cost is not None:
            meta["cost_usd"] = round(cost, 8)
        return meta

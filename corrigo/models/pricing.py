"""What model calls cost: a price table by model spec, in dollars per million tokens.

The table is the shipped ``prices.toml`` (next to this module) with the user's file laid
over it: ``CORRIGO_PRICES``, else ``prices.toml`` in the data directory when there is
one. Both have the same format, one entry per model spec or pattern::

    "openai:gpt-4o-mini" = { input = 0.15, output = 0.60 }
    "local:*" = { input = 0, output = 0 }

A spec's price is its exact entry, else the longest pattern that matches it (``*``
stands for any text, so ``openai:gpt-4o-mini-*`` wins over ``openai:*``). Models on
your own machine (``local:``, ``ollama:``) and scripts are free unless you price them.

A spec that matches nothing has no price. Its calls still run, but their cost is
unknown, and a run's cost is reported as unknown rather than as a guess; a cost budget
(``max_cost``) cannot be kept with such a model, so it is refused before a run starts.
A price file that cannot be read or parsed is a :class:`~corrigo.errors.ConfigError`.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from corrigo.config import Settings
from corrigo.errors import ConfigError
from corrigo.records import Budgets

PER = 1_000_000  # prices are per million tokens


@dataclass(frozen=True)
class Price:
    """Dollars per million input tokens and per million output tokens."""

    input: float
    output: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return round((tokens_in * self.input + tokens_out * self.output) / PER, 12)


def _pattern(key: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in key.split("*")))


class PriceTable:
    """Prices by model spec or pattern; :meth:`lookup` finds a spec's price."""

    def __init__(self, entries: Mapping[str, Price] | None = None) -> None:
        self.entries = dict(entries or {})
        self._patterns = [(k, _pattern(k)) for k in self.entries if "*" in k]

    def over(self, base: PriceTable) -> PriceTable:
        """This table's entries laid over ``base``'s."""
        return PriceTable({**base.entries, **self.entries})

    def lookup(self, spec: str) -> Price | None:
        """The exact entry, else the longest matching pattern's, else None (unknown)."""
        if spec in self.entries:
            return self.entries[spec]
        found = [key for key, pattern in self._patterns if pattern.fullmatch(spec)]
        if not found:
            return None
        return self.entries[max(found, key=lambda k: (len(k.replace("*", "")), k))]


def _dollars(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def parse_prices(text: str, source: str) -> PriceTable:
    """A price table from TOML text; ``source`` names it in errors (one line each)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"price file {source} is not valid TOML: {exc}") from None
    entries: dict[str, Price] = {}
    for key, value in data.items():
        shape = f"price file {source}: {key!r} must be {{ input = DOLLARS, output = DOLLARS }}"
        if not isinstance(value, dict) or set(value) != {"input", "output"}:
            raise ConfigError(f"{shape} (dollars per million tokens)")
        given, taken = _dollars(value["input"]), _dollars(value["output"])
        if given is None or taken is None:
            raise ConfigError(f"{shape} with numbers of 0 or more")
        if ":" not in key and key != "*":
            raise ConfigError(
                f"price file {source}: {key!r} is not a model spec (provider:name) or '*'"
            )
        entries[key] = Price(given, taken)
    return PriceTable(entries)


@functools.cache
def shipped_prices() -> PriceTable:
    """The table shipped with corrigo (read once per process)."""
    text = resources.files("corrigo.models").joinpath("prices.toml").read_text("utf-8")
    return parse_prices(text, "corrigo/models/prices.toml")


def load_prices(settings: Settings) -> PriceTable:
    """The shipped table with the user's file over it. ``CORRIGO_PRICES`` must name a
    readable file; ``prices.toml`` in the data directory is used only when present."""
    path = settings.prices_file
    if settings.prices is None and not path.exists():
        return shipped_prices()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read price file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"price file {path} is not UTF-8 text") from None
    return parse_prices(text, str(path)).over(shipped_prices())


def price_of(spec: str, settings: Settings) -> Price | None:
    return load_prices(settings).lookup(spec)


def require_prices(specs: Iterable[str], budgets: Budgets, settings: Settings) -> None:
    """With a cost budget, every model must have a price: else ConfigError, up front."""
    if budgets.max_cost is None:
        return
    table = load_prices(settings)
    unknown = sorted({s for s in specs if table.lookup(s) is None})
    if unknown:
        raise ConfigError(
            f"--max-cost needs a price for every model; none for {', '.join(unknown)} "
            f"(add it to {settings.prices_file})"
        )


def dollars(value: float | None) -> str:
    """A cost for people: ``$0.0123``; ``?`` when unknown (a model without a price)."""
    if value is None:
        return "?"
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.6f}"
    return f"${value:.4f}" if value < 10 else f"${value:,.2f}"

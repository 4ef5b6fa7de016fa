"""Unit costs per theme: what one event of a type at an agency costs, where the figure comes from, and
in which year's prices; a price index brings every figure to the file's one price year.

Data officers keep one versioned file per theme in `protocols/costs/<theme>.yaml` (JSON Schema beside
the protocol schema: `protocols/schema/costs.schema.json`). Errors point at `file:line key.path`, as
for protocols. The derive stage applies the costs to events whose partner sent no cost
(`pathways.unit_costs`); `unit_cost_table` and `unit_cost` are the public look-ups other themes use.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated

import pandas as pd
from pydantic import Field, StringConstraints, model_validator

from ptp_pipeline.errors import ProtocolError, Where
from ptp_pipeline.protocol.load import load_model
from ptp_pipeline.protocol.model import PROBLEM_SEP, Strict, at

COSTS_DIR = "costs"
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Year = Annotated[int, Field(ge=1990, le=2100)]
PENNY = Decimal("0.01")


class UnitCost(Strict):
    """One event type at one agency: its cost per event, in the prices of `price_year`."""

    agency: Name = Field(description="Partner id as in the protocols (partner.id), e.g. police.")
    event_type: Name = Field(description="The event type code as the partner's extract carries it.")
    unit_cost: Decimal = Field(
        ge=0,
        le=1_000_000,
        max_digits=12,
        decimal_places=2,
        description="Pounds per event, in the prices of price_year.",
    )
    price_year: Year = Field(description="The year whose prices unit_cost is in (the source's year).")
    source: Annotated[str, StringConstraints(min_length=5, strip_whitespace=True)] = Field(
        description="Publication, table and edition the figure comes from, so a reader can check it."
    )


class CostsFile(Strict):
    """A theme's unit costs, uprated to one price year with the price index given here."""

    theme: Name = Field(description="The theme these costs serve, e.g. alcohol_and_drugs; the file's name.")
    version: int = Field(ge=1, description="Raise on every change: the report names the version used.")
    price_year: Year = Field(description="Every cost is uprated to this year's prices.")
    index: dict[Year, Annotated[float, Field(gt=0)]] = Field(
        description="Price index by year (any base), e.g. the HM Treasury GDP deflator."
    )
    index_source: Annotated[str, StringConstraints(min_length=5, strip_whitespace=True)] = Field(
        description="Which index and which release."
    )
    costs: list[UnitCost] = Field(min_length=1)

    @model_validator(mode="after")
    def _years_indexed_and_unique(self) -> CostsFile:
        problems: list[str] = []
        if self.price_year not in self.index:
            problems.append(at("price_year", f"{self.price_year} has no price index value: add it under index:"))
        seen: dict[tuple[str, str], int] = {}
        for i, c in enumerate(self.costs):
            if c.price_year not in self.index:
                problems.append(
                    at(
                        f"costs.{i}.price_year",
                        f"{c.price_year} has no price index value, so this "
                        "cost cannot be uprated: add the year under index:",
                    )
                )
            key = (c.agency, c.event_type)
            if key in seen:
                problems.append(
                    at(
                        f"costs.{i}.event_type",
                        f"{c.agency}/{c.event_type} is already costed in "
                        f"entry {seen[key] + 1}: keep one unit cost per agency and event type",
                    )
                )
            seen.setdefault(key, i)
        if problems:
            raise ValueError(PROBLEM_SEP.join(problems))
        return self

    def uprated(self, cost: UnitCost) -> Decimal:
        """`cost` in the prices of this file's price year, to the penny."""
        factor = Decimal(str(self.index[self.price_year])) / Decimal(str(self.index[cost.price_year]))
        return (cost.unit_cost * factor).quantize(PENNY, rounding=ROUND_HALF_UP)


def costs_paths(protocols_dir: Path) -> list[Path]:
    return sorted((protocols_dir / COSTS_DIR).glob("*.yaml"))


def load_costs_file(path: Path) -> CostsFile:
    """One theme's file, checked; problems name file:line and the key, as protocol errors do."""
    costs = load_model(path, CostsFile)
    if costs.theme != path.stem:
        raise ProtocolError(
            f"theme '{costs.theme}' does not match the file name",
            where=Where(file=str(path), line=1, field="theme"),
            hint=f"Name the file {costs.theme}.yaml, or set theme: {path.stem}.",
        )
    return costs


def load_costs(protocols_dir: Path) -> list[CostsFile]:
    """Every theme's costs; an agency and event type costed by two themes is refused (which would apply?)."""
    files = [(p, load_costs_file(p)) for p in costs_paths(protocols_dir)]
    owner: dict[tuple[str, str], Path] = {}
    for path, f in files:
        for c in f.costs:
            other = owner.setdefault((c.agency, c.event_type), path)
            if other != path:
                raise ProtocolError(
                    f"{c.agency}/{c.event_type} is costed in {other.name} too",
                    where=Where(file=str(path), field="costs"),
                    hint="Keep each agency and event type in one theme's costs file.",
                )
    return [f for _, f in files]


def unit_cost_table(costs: list[CostsFile]) -> pd.DataFrame:
    """agency, event_type, unit_cost (uprated, float pounds), price_year (uprated to), source, original cost
    and year, theme and version: what the derive stage applies and the report's method notes show."""
    rows = [
        {
            "agency": c.agency,
            "event_type": c.event_type,
            "unit_cost": float(f.uprated(c)),
            "price_year": f.price_year,
            "source": c.source,
            "source_cost": float(c.unit_cost),
            "source_year": c.price_year,
            "theme": f.theme,
            "version": f.version,
        }
        for f in costs
        for c in f.costs
    ]
    columns = [
        "agency",
        "event_type",
        "unit_cost",
        "price_year",
        "source",
        "source_cost",
        "source_year",
        "theme",
        "version",
    ]
    return pd.DataFrame(rows, columns=columns)


def unit_cost(costs: list[CostsFile], agency: str, event_type: str) -> Decimal | None:
    """The uprated unit cost of one event type at one agency, or None when no theme costs it."""
    for f in costs:
        for c in f.costs:
            if (c.agency, c.event_type) == (agency, event_type):
                return f.uprated(c)
    return None

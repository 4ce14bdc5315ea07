"""The formulas of the impact tables, in one place, as Spark column expressions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column


def pct_of(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator × 100; missing when either is missing or the denominator is 0."""
    from pyspark.sql import functions as F

    return F.when(
        numerator.isNotNull() & denominator.isNotNull() & (denominator != 0),
        numerator / denominator * 100.0,
    )

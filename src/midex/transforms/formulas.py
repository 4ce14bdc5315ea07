"""The formulas of the impact tables, in one place, as Spark column expressions.

Every formula returns missing (null) rather than a number when an input is missing or a
denominator is zero; a published value is either computed from reported inputs or absent.
The definitions in schemas/tables/*.yaml describe the same formulas in words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import Column

# The targets and thresholds (0.7% of GNI, 3% and 5% remittance costs, the 20% asymmetry flag,
# the aggregates' coverage) are the `parameters` of their table definitions in schemas/tables/,
# and nowhere else: the functions below take them as arguments.


def _present(*columns: Column) -> Column:
    condition = F.lit(True)
    for c in columns:
        condition = condition & c.isNotNull()
    return condition


def ordered_sum(values: Column) -> Column:
    """An aggregate: the group's values added in ascending order, missing when there is none.

    Spark's sum adds doubles in the order the rows arrive, which depends on the partitioning:
    the same inputs published on 1 or on 8 cores differed in the last bits. Added in one order,
    a release's numbers (and its files' sha256) are the same wherever it is computed."""
    ordered = F.array_sort(F.collect_list(values.cast("double")))  # nulls are not collected
    return F.when(F.size(ordered) > 0, F.aggregate(ordered, F.lit(0.0), lambda a, x: a + x))


def ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator; missing when either is missing or the denominator is 0."""
    return F.when(_present(numerator, denominator) & (denominator != 0), numerator / denominator)


def pct_of(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator × 100; missing when either is missing or the denominator is 0."""
    return ratio(numerator, denominator) * 100.0


def per_n(numerator: Column, denominator: Column, n: float) -> Column:
    """numerator / denominator × n (per 1,000, per 100,000 …)."""
    return ratio(numerator, denominator) * float(n)


def share_of_population_and_group(group: Column, population: Column, n: float) -> Column:
    """group / (population + group) × n: the share of a group living outside the population.

    Emigration rate (n = 100) and refugees per 100,000 (SDG 10.7.4, n = 100,000) are computed this
    way: emigrants and refugees abroad are not in the resident population, so they are added to it.
    """
    return per_n(group, population + group, n)


def positive_ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator, only where the denominator is positive (net flows can be < 0)."""
    return F.when(_present(numerator, denominator) & (denominator > 0), numerator / denominator)


def mirror_asymmetry(side_a: Column, side_b: Column) -> Column:
    """(a − b) / mean(a, b): how far two reports of the same quantity disagree, relative to
    their mean; 0 when they agree, ±2 at the extremes. Missing when either side is missing or
    both are zero."""
    mean = (side_a + side_b) / 2.0
    return F.when(_present(side_a, side_b) & (mean != 0), (side_a - side_b) / mean)


def asymmetry_flag(*asymmetries: Column, threshold: float) -> Column:
    """True when any given asymmetry exceeds the threshold in absolute value, else false."""
    flag = F.lit(False)
    for a in asymmetries:
        flag = flag | F.coalesce(F.abs(a) > threshold, F.lit(False))
    return flag


def oda_given_usd(reported_usd: Column, reported_pct_gni: Column, gni_usd: Column) -> Column:
    """Donor's net ODA: as reported, else derived from a reported % of GNI × GNI / 100."""
    return F.coalesce(reported_usd, reported_pct_gni * gni_usd / 100.0)


def oda_pct_gni(oda_usd: Column, gni_usd: Column, reported_pct_gni: Column) -> Column:
    """ODA as % of GNI: computed from ODA and GNI when both are known, else as reported."""
    return F.coalesce(pct_of(oda_usd, gni_usd), reported_pct_gni)


def gap_to_target_usd(oda_usd: Column, gni_usd: Column, target_pct: float) -> Column:
    """max(0, target% × GNI − ODA): the US dollars a donor is short of the target."""
    return F.when(
        _present(oda_usd, gni_usd),
        F.greatest(F.lit(0.0), gni_usd * (target_pct / 100.0) - oda_usd),
    )


def at_least(value: Column, threshold: float) -> Column:
    """value ≥ threshold; missing when the value is."""
    return F.when(value.isNotNull(), value >= threshold)


def above(value: Column, threshold: float) -> Column:
    """value > threshold; missing when the value is."""
    return F.when(value.isNotNull(), value > threshold)


def savings_at_target_usd(remit_usd: Column, cost_pct: Column, target_pct: float) -> Column:
    """What senders would save if the cost fell to the target: remit × (cost − target) / 100
    where the cost is above the target, else 0; missing when either input is."""
    return F.when(
        _present(remit_usd, cost_pct),
        F.when(cost_pct > target_pct, remit_usd * (cost_pct - target_pct) / 100.0).otherwise(0.0),
    )

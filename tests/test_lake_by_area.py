"""Lake.write_spark_by_area: one file per area, sorted inside, Spark's types kept, other areas'
files kept as they are (the layout resolved/ and the release rely on)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from midex.storage.lake import Lake, area_of_file

pytestmark = pytest.mark.spark

SCHEMA = "REF_AREA string, K string, V double, AT timestamp, FLAGS array<string>"
AT = datetime(2026, 11, 29, 6, 30, 15, 123456, tzinfo=UTC)
ROWS = [
    ("MEX", "c", 3.0, AT, ["change_from_previous"]),
    ("AFG", "b", 2.0, AT, None),
    ("MEX", "a", 1.0, None, []),
    ("C/V", "z", None, AT, None),  # quoted in the file name
    ("AFG", "a", 4.0, AT, None),
    ("MEX", "b", 5.0, AT, None),
]

EXPECTED = {
    "AFG-0.parquet": [("a", 4.0), ("b", 2.0)],
    "C%2FV-0.parquet": [("z", None)],
    "MEX-0.parquet": [("a", 1.0), ("b", 5.0), ("c", 3.0)],
}


def _by_area(target) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for f in sorted(target.glob("*.parquet")):
        rows = pq.read_table(f).to_pylist()
        assert {r["REF_AREA"] for r in rows} == {area_of_file(f)}, f.name
        out[f.name] = [(r["K"], r["V"]) for r in rows]
    return out


def test_one_sorted_file_per_area_with_spark_types_and_kept_areas(spark, tmp_path) -> None:
    lake = Lake(tmp_path)
    # areas spread over several partitions: the writer gathers each one into one file
    df = spark.createDataFrame(ROWS, SCHEMA).repartition(3)
    target = tmp_path / "table"
    lake.write_spark_by_area(df, target, "REF_AREA", ["K"])
    assert _by_area(target) == EXPECTED
    back = spark.read.parquet(str(target))
    assert back.schema == df.schema  # timestamps, arrays and nulls as Spark wrote them
    assert sorted(back.collect()) == sorted(df.collect())

    # one area written again: its file is replaced, the others stay the same files
    kept = {f.name: f.stat().st_ino for f in target.glob("*.parquet")}
    mex = df.where("REF_AREA = 'MEX'").withColumn("V", df.V + 10)
    lake.write_spark_by_area(mex, target, "REF_AREA", ["K"], areas={"MEX"})
    assert _by_area(target)["MEX-0.parquet"] == [("a", 11.0), ("b", 15.0), ("c", 13.0)]
    for name in ("AFG-0.parquet", "C%2FV-0.parquet"):
        assert (target / name).stat().st_ino == kept[name]

    # already shuffled by area: no shuffle of its own, the same files
    clustered = tmp_path / "clustered"
    by_area = df.repartition(2, "REF_AREA")
    lake.write_spark_by_area(by_area, clustered, "REF_AREA", ["K"], clustered=True)
    assert _by_area(clustered) == EXPECTED

    # no rows: one empty file that keeps the schema
    empty = tmp_path / "empty"
    lake.write_spark_by_area(df.limit(0), empty, "REF_AREA", ["K"])
    assert [f.name for f in empty.glob("*.parquet")] == ["-0.parquet"]
    assert spark.read.parquet(str(empty)).schema == df.schema

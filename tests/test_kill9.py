"""kill -9 at each stage (issue 20): a `midex run` killed while it parses, harmonises, validates
or resolves, and a `midex publish` killed while it writes (the first publish after the killed
resolve, which resolves first), then run again: the release's tables
hold exactly what an uninterrupted run publishes, and nothing of the dead processes is left
(no claim, no open stage run, no temporary folder)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.fault, pytest.mark.slow]

MIDEX = str(Path(sys.executable).parent / "midex")
DEMO = REPO / "src" / "midex" / "demo"


def _big_template(path: Path) -> Path:
    """144,000 rows (monthly GDP, POP and REMIT_IN of 20 areas, 1900-2099): every stage takes
    long enough to be caught in the middle."""
    areas = ["MEX", "GTM", "HND", "SLV", "NIC", "CRI", "PAN", "COL", "PER", "ECU",
             "BOL", "CHL", "ARG", "URY", "PRY", "BRA", "VEN", "CUB", "DOM", "HTI",
             ]  # fmt: skip
    with path.open("w", encoding="utf-8") as out:
        out.write("REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n")
        for i, area in enumerate(areas):
            for indicator, base, mult in (("GDP", 100 + i, "9"), ("POP", 5 + i, "6"),
                                          ("REMIT_IN", 1 + i, "9")):  # fmt: skip
                for month in range(2400):
                    year, m = 1900 + month // 12, month % 12 + 1
                    value = base * (1 + month / 10_000)
                    out.write(f"{area},{indicator},{year}-{m:02d},{value:.6f},{mult}\n")
    return path


def _env(home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDEX_")}
    env["MIDEX_HOME"] = str(home)
    return {**env, **settings}


def _midex(
    home: Path, *args: str, code: int = 0, **settings: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([MIDEX, *args], env=_env(home, **settings), capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == code, done.stderr[-3000:]
    return done


def _prepare(home: Path, big: Path) -> None:
    _midex(home, "init")
    _midex(home, "provider", "add", "WB", "--name", "World Bank", "--kind", "agency")
    for name in ("wb_kmd_remittances_gdp_2018_2022.csv", "oecd_dac_oda_donors_2020_2022.csv"):
        _midex(home, "submit", str(DEMO / name), "--provider", "WB")
    _midex(home, "submit", str(big), "--provider", "WB")


def _open_stage(home: Path, stage: str) -> bool:
    from midex.storage.catalog import Catalog

    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    with catalog.session() as s:
        from sqlmodel import select

        from midex.storage.catalog import StageRun

        found = s.exec(
            select(StageRun).where(StageRun.stage == stage).where(StageRun.finished_at.is_(None))
        ).first()
    return found is not None


def _kill_when(home: Path, args: list[str], ready: Any, what: str, **settings: str) -> None:
    """Start `midex ARGS`, wait (bounded) until `ready()` says it is inside the stage, kill -9."""
    proc = subprocess.Popen([MIDEX, *args], env=_env(home, **settings), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 600
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(
                    f"midex {' '.join(args)} ended before {what}: {proc.stderr.read()[-2000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"midex {' '.join(args)} never reached {what}")
            time.sleep(0.02)  # polling a real process; bounded by the deadline
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(60)
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"{what}: the process ended on its own"


def _tables(home: Path) -> dict[str, list[tuple]]:
    """Every table of the latest release, without the columns that name when or in which
    submission a value arrived (they differ between two deployments by design)."""
    folder = max((home / "lake" / "published").iterdir(), key=lambda p: int(p.name))
    out = {}
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        keep = [c for c in table.column_names if "ACCEPTED_AT" not in c and "SUBMISSION" not in c]
        out[path.stem] = sorted(map(tuple, (r.values() for r in table.select(keep).to_pylist())),
                                key=repr)  # fmt: skip
    return out


def test_kill_9_at_each_stage_then_rerun_gives_the_uninterrupted_release(tmp_path: Path) -> None:
    big = _big_template(tmp_path / "big.csv")
    reference = tmp_path / "reference"
    _prepare(reference, big)
    _midex(reference, "run")
    _midex(reference, "publish")

    home = tmp_path / "killed"
    _prepare(home, big)
    lake = home / "lake"
    for stage in ("parse", "harmonise", "validate"):
        _kill_when(home, ["run"], lambda s=stage: _open_stage(home, s), f"the {stage} stage")
    resolved = lake / "resolved"
    _kill_when(home, ["run"], lambda: any(resolved.glob(".stage-*")), "resolve's writing")
    # no `midex run` after it: publish resolves what is accepted but unresolved first
    published = lake / "published"
    _kill_when(home, ["publish"], lambda: any(published.glob(".tmp-*")), "publish's writing")
    _midex(home, "publish")

    assert _tables(home) == _tables(reference)
    from midex.storage.catalog import Catalog

    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    assert catalog.claims() == []
    subs = catalog.submissions()
    assert [str(s.status) for s in subs] == ["accepted"] * 3
    for sub in subs:
        runs = catalog.stage_runs(sub.id)
        assert all(r.finished_at is not None for r in runs), runs
    interrupted = [r for s in subs for r in catalog.stage_runs(s.id) if r.ok is False]
    assert {r.stage for r in interrupted} >= {"parse", "harmonise", "validate"}
    # a dead process's run: interrupted (in a batch), or a failed attempt of the one
    # submission it held alone (one kill each is far from MIDEX_MAX_ATTEMPTS)
    assert all(r.message.startswith(("interrupted", "process died")) for r in interrupted)
    leftovers = [p for p in lake.rglob(".*") if p.name.startswith((".tmp-", ".stage-", ".batch-"))]
    assert not leftovers
    assert [r.number for r in catalog.releases()] == [1]


def test_a_submission_that_kills_its_process_each_time_is_given_up_and_the_next_goes_on(
    tmp_path: Path,
) -> None:
    """A file whose processing kills the process (the OOM killer, the Spark driver's JVM out of
    memory: here a real `midex run` killed with SIGKILL while it harmonises that file) is not
    retried for ever: a death in a batch counts against no one and sends its submissions
    through alone, after the others; a death while the file ran alone is a failed attempt;
    after MIDEX_MAX_ATTEMPTS (2 here) the next run marks it `failed` with a finding saying
    why, the other file is accepted, and only naming the file tries it again."""
    from midex.contract.findings import read_findings
    from midex.storage.catalog import Catalog, StageRun

    home = tmp_path / "home"
    _midex(home, "init")
    _midex(home, "provider", "add", "WB", "--name", "World Bank", "--kind", "agency")
    poisoned_file = tmp_path / "poisoned.csv"
    with poisoned_file.open("w", encoding="utf-8") as out:
        out.write("REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\n")
        out.writelines(f"MEX,GDP,{1900 + m // 12}-{m % 12 + 1:02d},{m}.5\n" for m in range(2400))
    _midex(home, "submit", str(poisoned_file), "--provider", "WB")
    _midex(home, "submit", str(DEMO / "wb_kmd_remittances_gdp_2018_2022.csv"), "--provider", "WB")
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    poisoned, innocent = (s.id for s in catalog.submissions())
    assert poisoned is not None and innocent is not None
    limit = {"MIDEX_MAX_ATTEMPTS": "2"}

    def harmonising(*sids: int) -> Callable[[], bool]:
        """Ready when each of `sids` has a harmonise run open, started after this call."""
        seen = max((r.id or 0 for sid in sids for r in runs_of(sid)), default=0)

        def ready() -> bool:
            return all(
                any(
                    r.stage == "harmonise" and r.finished_at is None and (r.id or 0) > seen
                    for r in runs_of(sid)
                )
                for sid in sids
            )

        return ready

    def runs_of(sid: int) -> list[StageRun]:
        return catalog.stage_runs(sid)

    # 1: killed while both are harmonised in one batch: no one's failed attempt (each death
    # is found, and its stage run closed, by the next run that claims the submission)
    _kill_when(home, ["run"], harmonising(poisoned, innocent), "the batch's harmonise", **limit)
    # 2: both go alone, the file first (both are as suspect), and it kills the process again
    _kill_when(home, ["run"], harmonising(poisoned), "harmonise alone", **limit)
    assert catalog.failed_attempts([poisoned, innocent]) == {}
    assert [r.message for r in runs_of(innocent) if r.ok is False] == [
        "interrupted: the process running this stage in a batch ended unexpectedly (killed, "
        "or out of memory); its submissions are processed one at a time next"
    ]
    # 3: the other file now goes first, to the end; the poisoned one kills the process again
    _kill_when(home, ["run"], harmonising(poisoned), "harmonise alone, again", **limit)
    assert str(catalog.submission(innocent).status) == "accepted"
    assert catalog.failed_attempts([poisoned, innocent]) == {poisoned: 1}
    assert str(catalog.submission(poisoned).status) == "parsed"  # still pending, until ...
    # 4: ... the next run finds the second death and gives the file up, saying why
    done = _midex(home, "run", code=1, **limit)
    failed = catalog.submission(poisoned)
    assert str(failed.status) == "failed"
    assert catalog.failed_attempts([poisoned, innocent]) == {poisoned: 2}
    assert "the process handling it ended unexpectedly 2 times" in done.stderr
    (finding,) = read_findings(
        home / "lake" / "reports" / f"submission={poisoned}" / "findings.json"
    )
    assert finding.rule == "process_died" and finding.message == failed.error
    for said in ("MIDEX_SPARK_DRIVER_MEMORY", "not retried automatically",
                 f"midex run --submission {poisoned}"):  # fmt: skip
        assert said in failed.error
    assert all(r.finished_at is not None for r in runs_of(poisoned))
    # 5: not taken again automatically
    before = len(runs_of(poisoned))
    _midex(home, "run", **limit)
    assert len(runs_of(poisoned)) == before and str(catalog.submission(poisoned).status) == "failed"
    # 6: named, it is tried again (and, not poisoned after all, accepted)
    _midex(home, "run", "--submission", str(poisoned), **limit)
    assert str(catalog.submission(poisoned).status) == "accepted"
    assert str(catalog.submission(innocent).status) == "accepted"
    assert catalog.claims() == []
    leftovers = [
        p for p in (home / "lake").rglob(".*") if p.name.startswith((".tmp-", ".stage-", ".batch-"))
    ]
    assert not leftovers

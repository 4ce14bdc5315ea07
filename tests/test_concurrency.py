"""Operators and concurrency (issue 20): claims, the release lock, leftovers of crashed processes.

Catalog-level behaviour runs on SQLite and on PostgreSQL; the lock and the dead-owner cases use
real second processes (multiprocessing), never a mock of one.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from midex.contract.clock import utcnow
from midex.contract.errors import MidexError
from midex.storage.catalog import Catalog, Claim, ProviderKind, Submission
from midex.storage.lake import remove_leftovers
from midex.storage.owners import HOST, owner_alive, owner_name

pytestmark = pytest.mark.fault


@pytest.fixture
def catalog(catalog_url: str) -> Catalog:
    cat = Catalog(catalog_url)
    SQLModel.metadata.drop_all(cat.engine)
    cat.init()
    cat.add_provider("WB", "World Bank", ProviderKind.agency)
    for i in range(4):
        cat.add_submission(
            Submission(
                provider_code="WB",
                file_name=f"{i}.csv",
                format="template",
                sha256=f"{i:064d}",
                size_bytes=1,
                landing_uri=f"/l/{i}.csv",
            )  # fmt: skip
        )
    return cat


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_a_submission_is_claimed_by_one_process_at_a_time(catalog: Catalog) -> None:
    a, b = owner_name(), owner_name()
    assert catalog.claim([1, 2, 3], a, 600) == [1, 2, 3]
    assert catalog.claim([2, 3, 4], b, 600) == [4]  # 2 and 3 are a's
    assert catalog.claim([1], a, 600) == [1]  # a claimer may renew its own claim
    catalog.release_claims(a)
    assert catalog.claim([1, 2, 3], b, 600) == [1, 2, 3]
    assert {c.owner for c in catalog.claims()} == {b}


def test_a_crashed_claimer_loses_its_claim(catalog: Catalog) -> None:
    gone = f"{HOST}:{_dead_pid()}:deadbeef"  # a claimer on this host whose process has ended
    assert not owner_alive(gone) and owner_alive(owner_name())
    assert catalog.claim([1], gone, 600) == [1]
    assert catalog.claim([1], owner_name(), 600) == [1]  # taken over at once
    elsewhere = "other-host:123:cafe0000"  # alive as far as we can tell: its lease decides
    assert catalog.claim([2], elsewhere, 0.0) == [2]
    assert catalog.claim([2], owner_name(), 600) == [2]  # its lease (0 s) has run out
    holder = "other-host:124:cafe0001"
    assert catalog.claim([3], holder, 600) == [3]
    assert catalog.claim([3], owner_name(), 600) == []  # a live lease holds
    catalog.renew_claims(holder, 1200)
    claim = next(c for c in catalog.claims() if c.submission_id == 3)
    expires = claim.expires_at if claim.expires_at.tzinfo else claim.expires_at.replace(
        tzinfo=utcnow().tzinfo)  # fmt: skip
    assert expires > utcnow() + timedelta(seconds=1100)
    assert isinstance(claim, Claim)


def test_open_stage_runs_of_a_claimed_submission_are_closed_as_interrupted(
    catalog: Catalog,
) -> None:
    run = catalog.start_stage(1, "harmonise")  # its process died: never finished
    other = catalog.start_stage(2, "parse")
    assert [r.id for r in catalog.close_interrupted_stages([1])] == [run]
    (closed,) = catalog.stage_runs(1)
    assert closed.id == run and closed.ok is False and closed.finished_at is not None
    assert "interrupted" in (closed.message or "")
    (still_open,) = catalog.stage_runs(2)  # not claimed here: left alone
    assert still_open.id == other and still_open.finished_at is None


def test_a_dead_process_counts_against_the_submission_it_ran_alone_only(
    catalog: Catalog,
) -> None:
    """A batch's run left open by a dead process is interrupted (no one's fault: its
    submissions run alone next); a run it held for one submission alone is that submission's
    failed attempt; a stop recorded by the process itself is neither."""
    from midex.stages.runner import alone_rank
    from midex.storage.catalog import DIED_IN_BATCH, PROCESS_DIED

    batch = [catalog.start_stage(i, "harmonise") for i in (1, 2)]
    alone = catalog.start_stage(3, "validate", alone=True)
    stopped = catalog.start_stage(4, "validate", alone=True)
    assert alone_rank(catalog.latest_stage_runs([3])[3]) == 2  # open: ranked before closing
    closed = catalog.close_interrupted_stages([1, 2, 3])
    assert [r.id for r in closed] == [*batch, alone]
    assert all(r.message.startswith(DIED_IN_BATCH) for r in closed[:2])
    assert closed[2].message.startswith(PROCESS_DIED)
    (cut,) = catalog.close_interrupted_stages([4], reason="the process was stopping")
    assert cut.id == stopped and cut.message == "interrupted: the process was stopping"
    assert catalog.close_interrupted_stages([1, 2, 3, 4]) == []  # nothing open any more
    assert catalog.failed_attempts([1, 2, 3, 4]) == {3: 1}
    latest = catalog.latest_stage_runs([1, 2, 3, 4])
    assert [alone_rank(latest[i]) for i in (1, 2, 3, 4)] == [1, 1, 2, 0]


def _hold_lock(url: str, name: str, ready, release) -> None:
    with Catalog(url).lock(name):
        ready.set()
        release.wait(60)


def test_the_release_lock_is_held_across_processes(catalog: Catalog, catalog_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(catalog_url, "release", ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        busy = pytest.raises(MidexError, match="another process holds midex's release lock")
        with busy, catalog.lock("release", wait=False):
            pass
        with catalog.lock("resolve", wait=False):  # another lock is free
            pass
    finally:
        release.set()
        holder.join(60)
    assert holder.exitcode == 0
    with catalog.lock("release", wait=False), catalog.lock("release", wait=False):  # re-entrant
        pass


def test_the_lock_of_a_killed_holder_is_free(catalog: Catalog, catalog_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(catalog_url, "release", ready, release))
    holder.start()
    assert ready.wait(60)
    holder.kill()  # kill -9 while it holds the lock
    holder.join(60)
    with catalog.lock("release", wait=True):
        pass


def test_leftovers_of_dead_processes_go_and_live_work_stays(tmp_path: Path) -> None:
    dead = tmp_path / f".stage-observations-{HOST}-{_dead_pid()}-0000aaaa"
    live = tmp_path / f".stage-observations-{HOST}-{os.getpid()}-0000bbbb"
    old_style = tmp_path / ".stage-observations-1234abcd"  # before folders were named by owner
    young_elsewhere = tmp_path / ".stage-observations-otherhost-42-0000cccc"
    for folder in (dead, live, old_style, young_elsewhere):
        folder.mkdir()
    removed = remove_leftovers(tmp_path, ".stage-observations-")
    assert sorted(removed) == sorted([dead, old_style])
    assert live.exists() and young_elsewhere.exists()


def _template(path: Path, area: str, value: float) -> Path:
    path.write_text(
        "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\n"
        f"{area},GDP,2020,{value}\n{area},GDP,2021,{value * 1.1}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.spark
def test_publish_first_resolves_what_a_crashed_run_left_unresolved(
    spark, ctx, tmp_path: Path, cli
) -> None:
    """A run that died after validation (before resolve) leaves an accepted submission outside
    observations, and a stage it had opened; the next run closes the stage as interrupted, and
    `midex publish` resolves first, so the release holds every accepted submission."""
    from midex.stages import needs_resolve, pending, process_batch

    assert cli("provider", "add", "WB", "--name", "World Bank", "--kind", "agency").code == 0
    first = cli("submit", str(_template(tmp_path / "a.csv", "MEX", 10)), "--provider", "WB",
                "--json").json()["id"]  # fmt: skip
    assert cli("run").code == 0
    second = cli("submit", str(_template(tmp_path / "b.csv", "GTM", 20)), "--provider", "WB",
                 "--json").json()["id"]  # fmt: skip
    interrupted = ctx.catalog.start_stage(second, "parse")  # a crashed process's stage
    results, failures = process_batch(ctx, spark, pending(ctx))  # processing, no resolve
    assert not failures and [s.status for s in results] == ["accepted"]
    assert needs_resolve(ctx)
    runs = ctx.catalog.stage_runs(second)
    assert runs[0].id == interrupted and runs[0].ok is False and "interrupted" in runs[0].message
    assert all(r.ok for r in runs[1:]) and [r.stage for r in runs[1:]] == [
        "parse", "harmonise", "validate"]  # fmt: skip

    published = cli("publish", "--json")
    assert published.code == 0, published.err
    manifest = (Path(published.json()["path"]) / "manifest.json").read_text()
    import json

    ids = {s["id"] for s in json.loads(manifest)["source_submissions"]}
    assert ids == {first, second}
    assert not needs_resolve(ctx)


@pytest.mark.slow
def test_two_runs_and_two_publishes_at_once(midex_home: Path, tmp_path: Path, cli) -> None:
    """Two `midex run` processes started together process each submission once (one run of each
    stage, catalog accepted_at = the lake's ACCEPTED_AT); two `midex publish` started together
    give releases 1 and 2, both complete, with nothing half-written left behind."""
    import pyarrow.parquet as pq

    from midex.stages import Context

    assert cli("init").code == 0
    assert cli("provider", "add", "WB", "--name", "World Bank", "--kind", "agency").code == 0
    areas = ["MEX", "GTM", "HND", "SLV", "NIC", "CRI"]
    ids = [
        cli(
            "submit",
            str(_template(tmp_path / f"{a}.csv", a, 10.0 + i)),
            "--provider",
            "WB",
            "--json",
        ).json()["id"]  # fmt: skip
        for i, a in enumerate(areas)
    ]
    midex = str(Path(sys.executable).parent / "midex")

    def together(*args: str) -> list[subprocess.CompletedProcess[str]]:
        procs = [
            subprocess.Popen(
                [midex, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )  # fmt: skip
            for _ in range(2)
        ]
        done = []
        for p in procs:
            out, err = p.communicate(timeout=600)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
        return done

    for done in together("run"):
        assert done.returncode == 0, done.stderr[-2000:]
    ctx = Context.open()
    for sid in ids:
        sub = ctx.catalog.submission(sid)
        assert str(sub.status) == "accepted"
        stages = [r.stage for r in ctx.catalog.stage_runs(sid)]
        assert stages == ["parse", "harmonise", "validate"], (sid, stages)  # once each
    assert ctx.catalog.claims() == []
    rows = pq.read_table(ctx.lake.resolved_dir("observations")).to_pylist()
    assert {r["SUBMISSION_ID"] for r in rows} == set(ids)
    for r in rows:
        accepted = ctx.catalog.submission(r["SUBMISSION_ID"]).accepted_at
        lake_time = r["ACCEPTED_AT"]
        assert lake_time.replace(tzinfo=None) == accepted.replace(tzinfo=None), r

    for done in together("publish", "--json"):
        assert done.returncode == 0, done.stderr[-2000:]
    assert [r.number for r in ctx.catalog.releases()] == [1, 2]
    published = ctx.lake.published_dir()
    assert sorted(p.name for p in published.iterdir()) == ["1", "2"]  # no .tmp-* left
    for number in ("1", "2"):
        assert (published / number / "manifest.json").exists()


def test_a_submission_that_crashed_too_often_is_not_retried_automatically(
    ctx, tmp_path: Path
) -> None:
    from midex.stages import pending, submit
    from midex.storage.catalog import BATCH_RETRIED, SubmissionStatus

    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    poisoned, other = (
        submit(ctx, _template(tmp_path / f"{a}.csv", a, 1.0), "WB").id for a in ("MEX", "GTM")
    )
    for sid in (poisoned, other):
        ctx.catalog.update_submission(sid, status=SubmissionStatus.failed)

    def crash(sid: int, message: str) -> None:
        ctx.catalog.finish_stage(ctx.catalog.start_stage(sid, "harmonise"), False, message)

    for _ in range(ctx.settings.max_attempts - 1):
        crash(poisoned, "java.lang.OutOfMemoryError")
    crash(poisoned, f"{BATCH_RETRIED}: a batch's failure is not this file's")
    ctx.catalog.start_stage(poisoned, "validate")
    ctx.catalog.close_interrupted_stages([poisoned])  # nor is a run a dead process left open
    assert {s.id for s in pending(ctx)} == {poisoned, other}
    crash(poisoned, "java.lang.OutOfMemoryError")  # the third crash of its own
    assert [s.id for s in pending(ctx)] == [other]
    assert [s.id for s in pending(ctx, poisoned)] == [poisoned]  # named, it is tried again


def test_a_submission_a_process_died_with_alone_too_often_is_given_up(ctx, tmp_path: Path) -> None:
    """What a claimer finds after a process died (kill -9, the OOM killer) while it ran one
    submission alone, MIDEX_MAX_ATTEMPTS times: that submission `failed`, with a finding that
    says why and how to retry it, and not taken again; the others go on. (The real process
    deaths are in tests/test_kill9.py; here the dead process's open runs are made by
    start_stage as a dead run leaves them.)"""
    from midex.contract.findings import read_findings
    from midex.stages import claimed, pending, submit
    from midex.storage.catalog import SubmissionStatus

    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    poisoned, other = (
        submit(ctx, _template(tmp_path / f"{a}.csv", a, 1.0), "WB").id for a in ("MEX", "GTM")
    )
    for attempt in range(1, ctx.settings.max_attempts + 1):
        ctx.catalog.start_stage(poisoned, "harmonise", alone=True)  # then the process died
        ctx.catalog.start_stage(other, "harmonise")  # in a batch: not its fault
        with claimed(ctx, ctx.catalog.submissions()) as mine:
            if attempt < ctx.settings.max_attempts:
                assert [s.id for s in mine.subs] == [poisoned, other] and not mine.given_up
                assert {s.id for s in pending(ctx)} == {poisoned, other}
        assert ctx.catalog.failed_attempts([poisoned, other]) == {poisoned: attempt}
    assert [s.id for s in mine.subs] == [other]
    (failed,) = mine.given_up
    assert failed.id == poisoned and failed.status == SubmissionStatus.failed
    assert ctx.catalog.submission(poisoned).status == SubmissionStatus.failed
    assert ctx.catalog.claims() == []
    (finding,) = read_findings(ctx.lake.findings_file(poisoned))
    assert finding.rule == "process_died" and finding.severity == "error"
    for said in (
        "the process handling it ended unexpectedly 3 times",
        "MIDEX_SPARK_DRIVER_MEMORY (4g)",
        "not retried automatically",
        f"midex run --submission {poisoned}",
        f"/api/submissions/{poisoned}/retry",
    ):
        assert said in finding.message and said in failed.error
    assert [s.id for s in pending(ctx)] == [other]  # not taken again automatically
    with claimed(ctx, pending(ctx, poisoned)) as again:  # named, it is taken again
        assert [s.id for s in again.subs] == [poisoned] and not again.given_up


@pytest.mark.spark
def test_a_stage_past_its_time_budget_fails_that_submission_and_says_why(
    spark, ctx, tmp_path: Path
) -> None:
    """MIDEX_STAGE_BUDGET_S: past it, the stage's Spark jobs are cancelled and the submission
    ends `failed` with a message saying why and what to do; within it, the same file goes on."""
    from midex.stages import pending, process_batch, submit
    from midex.storage.catalog import SubmissionStatus

    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    sub = submit(ctx, _template(tmp_path / "a.csv", "MEX", 1.0), "WB")
    ctx.settings.stage_budget_s = 0.001
    try:
        (result,), failures = process_batch(ctx, spark, pending(ctx))
    finally:
        ctx.settings.stage_budget_s = 3600.0
    assert result.status == SubmissionStatus.failed and len(failures) == 1
    assert f"harmonise of submission {sub.id} (a.csv) ran past its time budget" in result.error
    assert "split it" in result.error
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None  # cleared
    (again,), failures = process_batch(ctx, spark, pending(ctx))
    assert again.status == SubmissionStatus.accepted and not failures


def test_a_lock_one_thread_holds_is_not_another_threads(catalog: Catalog) -> None:
    """The service's request threads share one Catalog: a lock held by one of them is not
    re-entered by another (before, a second identical upload could register while the first
    held the submit lock: two submissions of one file). In the same thread it is re-entrant."""
    import threading

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with catalog.lock("submit"):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        with (
            pytest.raises(MidexError, match="holds midex's submit lock"),
            catalog.lock("submit", wait=False),
        ):
            pass
    finally:
        release.set()
        holder.join(30)
    assert not holder.is_alive()
    with catalog.lock("submit", wait=False), catalog.lock("submit", wait=False):
        pass  # free again, and re-entrant within a thread

"""The catalog: providers, submissions, their stage runs, releases. The pipeline's commit log.

SQLModel over SQLite (embedded default) or PostgreSQL (service). A stage commits by changing a
submission's status inside one transaction, after its output is in place.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Engine, UniqueConstraint, delete, event, func, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from midex.contract.clock import as_utc, utcnow
from midex.contract.errors import MidexError
from midex.contract.providers import ProviderKind  # kept importable from here
from midex.contract.settings import get_settings
from midex.storage.owners import owner_alive


class SubmissionMode(enum.StrEnum):
    merge = "merge"  # adds and revises the provider's values
    # also withdraws earlier values in the file's scope that it lacks
    replace = "replace"  # type: ignore[assignment]  # named like str.replace: mypy sees an override


class SubmissionStatus(enum.StrEnum):
    received = "received"  # landed unchanged, sha256 recorded
    parsed = "parsed"  # raw rows written to raw/
    harmonised = "harmonised"  # common schema written to harmonised/ (+ quarantine/)
    accepted = "accepted"  # validation passed (warnings allowed)
    rejected = "rejected"  # an error finding: contributes nothing to observations
    failed = "failed"  # a stage crashed; rerunnable with `midex run`

    @classmethod
    def pending(cls) -> tuple[SubmissionStatus, ...]:
        return (cls.received, cls.parsed, cls.harmonised, cls.failed)


class Provider(SQLModel, table=True):
    """A national statistics office or an agency allowed to submit."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=32)
    name: str
    kind: ProviderKind
    # ISO3 codes a national provider may report; empty for agencies (any area).
    areas: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Submission(SQLModel, table=True):
    """One file as a provider sent it, and how far it has travelled."""

    id: int | None = Field(default=None, primary_key=True)
    provider_code: str = Field(index=True, foreign_key="provider.code")
    file_name: str
    format: str
    sha256: str = Field(index=True, max_length=64)
    size_bytes: int
    landing_uri: str
    mode: SubmissionMode = SubmissionMode.merge
    received_at: datetime = Field(default_factory=utcnow)
    status: SubmissionStatus = Field(default=SubmissionStatus.received, index=True)
    parsed_at: datetime | None = None
    harmonised_at: datetime | None = None
    validated_at: datetime | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    rows_raw: int | None = None
    rows_harmonised: int | None = None
    rows_quarantined: int | None = None
    errors: int | None = None
    warnings: int | None = None
    error: str | None = None
    mapping_version: str | None = None
    # fingerprint of the exchange rates its LCU rows were converted with (None: no LCU rows)
    rates_version: str | None = None
    validation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # what the reader left out on purpose (aggregates, sub-national areas), one line each
    notes: list[str] | None = Field(default=None, sa_column=Column(JSON))


def stored_id(sub: Submission) -> int:
    """The id of a submission read from the catalog: set when it was added, None only before."""
    assert sub.id is not None
    return sub.id


# how a stage run's message starts when its failure is not the submission's own crash
# catalog ids and release numbers: positive 64-bit integers (what PostgreSQL's BIGINT and
# SQLite's INTEGER hold); the CLI and the service refuse any other number before a query
MAX_ID = 2**63 - 1

BATCH_RETRIED = "batch failed, retried alone"
INTERRUPTED = "interrupted"
# the message of a stage run while it runs for one submission alone (not in a batch): if its
# process dies, the death is that submission's
RUNNING_ALONE = "running alone"
# how the next claimer closes a run a dead process (kill -9, the OOM killer, the Spark driver's
# JVM out of memory) left open: in a batch, the death is no one's in particular (not counted;
# each of its submissions runs alone next); alone, it is that submission's (a failed attempt)
DIED_IN_BATCH = f"{INTERRUPTED}: the process running this stage in a batch ended unexpectedly"
PROCESS_DIED = "process died"


class Claim(SQLModel, table=True):
    """A process's claim on a submission it is processing: no other process takes it until the
    claim is released or its lease runs out (a crashed claimer's lease runs out; on its own
    host, a claimer whose process is gone loses it at once)."""

    submission_id: int = Field(primary_key=True, foreign_key="submission.id")
    owner: str = Field(max_length=200)  # host:pid:random, of the claiming process
    claimed_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class StageRun(SQLModel, table=True):
    """Every attempt of a stage on a submission, with its timestamps: the audit trail."""

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(index=True, foreign_key="submission.id")
    stage: str
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    ok: bool | None = None
    message: str | None = None


class Release(SQLModel, table=True):
    """An immutable, numbered set of published tables."""

    __table_args__ = (UniqueConstraint("number"),)
    id: int | None = Field(default=None, primary_key=True)
    number: int
    created_at: datetime = Field(default_factory=utcnow)
    as_of: datetime | None = None
    # before this instant (UTC) the release is not the default for consumers (`export` etc.)
    embargo_until: datetime | None = None
    path: str
    manifest_sha256: str
    tables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    submission_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON))

    def under_embargo(self, now: datetime) -> bool:
        if self.embargo_until is None:
            return False
        return as_utc(self.embargo_until) > now


class Token(SQLModel, table=True):
    """An API token of the HTTP service: only its sha256 is stored; the token is shown once.

    role provider (with provider_code), consumer or admin; revoked tokens stay for the audit."""

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(index=True, unique=True, max_length=64)
    role: str = Field(max_length=16)
    provider_code: str | None = Field(default=None, index=True, foreign_key="provider.code")
    name: str
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    expires_at: datetime | None = None  # after this instant the token no longer works


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@cache
def engine_for(url: str) -> Engine:
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Catalog:
    """Catalog operations over one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)
        # the locks each thread holds through this object (see lock): per thread, or a request
        # thread of the service would take another's lock for its own and walk in unlocked
        self._local = threading.local()

    def init(self) -> None:
        """Create the catalog (and the SQLite file's folder), or upgrade an existing one's schema
        in place, with its data, to this midex's (midex.storage.migrations); idempotent. Two processes
        starting at once take turns (the schema lock): the second finds the work done."""
        from midex.storage import migrations  # Alembic is imported only by what changes the schema

        database = self.engine.url.database
        if self.engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        with self.lock("schema"):
            migrations.upgrade(self.engine)

    def schema_revision(self) -> str | None:
        """The catalog's schema revision (None: not created, or made before migrations)."""
        from midex.storage import migrations

        with self.engine.connect() as conn:
            return migrations.current(conn)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    # providers
    def add_provider(
        self, code: str, name: str, kind: ProviderKind, areas: list[str] | None = None
    ) -> Provider:
        with self.session() as s:
            existing = s.exec(select(Provider).where(Provider.code == code)).first()
            if existing is not None:
                raise MidexError(
                    f"provider {code!r} already exists ({existing.name}, {existing.kind}); "
                    "choose another code"
                )
            provider = Provider(code=code, name=name, kind=kind, areas=sorted(areas or []))
            s.add(provider)
            s.commit()
            s.refresh(provider)
            return provider

    def provider(self, code: str) -> Provider:
        with self.session() as s:
            provider = s.exec(select(Provider).where(Provider.code == code)).first()
        if provider is None:
            raise MidexError(
                f"unknown provider {code!r}; register it first with "
                f"`midex provider add {code} --name NAME --kind national|agency`"
            )
        return provider

    def providers(self) -> list[Provider]:
        with self.session() as s:
            return list(s.exec(select(Provider).order_by(Provider.code)))

    # submissions
    def add_submission(self, submission: Submission) -> Submission:
        with self.session() as s:
            s.add(submission)
            s.commit()
            s.refresh(submission)
            return submission

    def submission(self, submission_id: int) -> Submission:
        with self.session() as s:
            sub = s.get(Submission, submission_id)
        if sub is None:
            raise MidexError(f"no submission {submission_id}; `midex status` lists them")
        return sub

    def submissions(self, statuses: tuple[SubmissionStatus, ...] | None = None) -> list[Submission]:
        with self.session() as s:
            query = select(Submission).order_by(col(Submission.id))
            if statuses:
                query = query.where(col(Submission.status).in_(statuses))
            return list(s.exec(query))

    def latest_submission(self, provider_code: str) -> Submission | None:
        """The provider's most recent submission, or None."""
        with self.session() as s:
            return s.exec(
                select(Submission)
                .where(Submission.provider_code == provider_code)
                .order_by(col(Submission.id).desc())
            ).first()

    def update_submission(self, submission_id: int, **changes: Any) -> Submission:
        """Commit a stage: change fields of one submission in one transaction."""
        with self.session() as s:
            sub = s.get(Submission, submission_id)
            if sub is None:
                raise MidexError(f"no submission {submission_id}")
            for key, value in changes.items():
                setattr(sub, key, value)
            s.add(sub)
            s.commit()
            s.refresh(sub)
            return sub

    def start_stage(self, submission_id: int, stage: str, alone: bool = False) -> int:
        """Open a stage run. `alone`: the process runs this stage for this submission only (not
        in a batch), so if the process dies meanwhile, the death counts against it."""
        with self.session() as s:
            run = StageRun(
                submission_id=submission_id, stage=stage, message=RUNNING_ALONE if alone else None
            )
            s.add(run)
            s.commit()
            s.refresh(run)
            assert run.id is not None
            return run.id

    def finish_stage(self, run_id: int, ok: bool, message: str | None = None) -> None:
        with self.session() as s:
            run = s.get(StageRun, run_id)
            if run is None:
                return
            run.finished_at = utcnow()
            run.ok = ok
            run.message = message
            s.add(run)
            s.commit()

    def close_interrupted_stages(
        self, submission_ids: list[int], reason: str | None = None
    ) -> list[StageRun]:
        """Close the stage runs of these submissions that never finished, ok false; the runs
        closed. Only for submissions the caller has claimed. Without `reason` their process
        died: a run it held alone is closed as PROCESS_DIED (a failed attempt of that
        submission), one of a batch as DIED_IN_BATCH (interrupted, not counted). With `reason`
        (a clean stop by the process itself) every run is closed as interrupted, saying it."""
        if not submission_ids:
            return []
        now = utcnow()
        closed: list[tuple[StageRun, str]] = []
        with self.session() as s:
            runs = list(
                s.exec(
                    select(StageRun)
                    .where(col(StageRun.submission_id).in_(submission_ids))
                    .where(col(StageRun.finished_at).is_(None))
                    .order_by(col(StageRun.id))
                )
            )
            for run in runs:
                if reason is not None:
                    message = f"{INTERRUPTED}: {reason}"
                elif run.message == RUNNING_ALONE:
                    message = (
                        f"{PROCESS_DIED}: the process running this stage for this submission "
                        "alone ended unexpectedly (killed, or out of memory); a failed attempt"
                    )
                else:
                    message = (
                        f"{DIED_IN_BATCH} (killed, or out of memory); its submissions are "
                        "processed one at a time next"
                    )
                # only if still open: the process may be finishing it as this runs (a stop)
                result = s.exec(
                    update(StageRun)
                    .where(col(StageRun.id) == run.id)
                    .where(col(StageRun.finished_at).is_(None))
                    .values(finished_at=now, ok=False, message=message)
                )
                if result.rowcount == 1:
                    closed.append((run, message))
            s.commit()
        for run, message in closed:  # as stored (after the commit: nothing more is written)
            run.finished_at, run.ok, run.message = now, False, message
        return [run for run, _ in closed]

    def latest_stage_runs(self, submission_ids: list[int]) -> dict[int, StageRun]:
        """Each submission's most recent stage run (none: not in the dict)."""
        if not submission_ids:
            return {}
        with self.session() as s:
            latest = (
                select(func.max(StageRun.id))
                .where(col(StageRun.submission_id).in_(submission_ids))
                .group_by(col(StageRun.submission_id))
            )
            runs = s.exec(select(StageRun).where(col(StageRun.id).in_(latest))).all()
        return {run.submission_id: run for run in runs}

    def failed_attempts(self, submission_ids: list[int]) -> dict[int, int]:
        """How many times each submission's processing crashed (stage runs that failed on their
        own, including a dead process's run that held it alone: not a batch retried alone, not
        a run interrupted by a stop or by the death of a process that ran a batch)."""
        if not submission_ids:
            return {}
        with self.session() as s:
            rows = s.exec(
                select(StageRun.submission_id, func.count())
                .where(col(StageRun.submission_id).in_(submission_ids))
                .where(col(StageRun.ok).is_(False))
                .where(~col(StageRun.message).startswith(BATCH_RETRIED))
                .where(~col(StageRun.message).startswith(INTERRUPTED))
                .group_by(col(StageRun.submission_id))
            ).all()
        return {int(sid): int(n) for sid, n in rows}

    def stage_runs(self, submission_id: int) -> list[StageRun]:
        with self.session() as s:
            return list(
                s.exec(
                    select(StageRun)
                    .where(StageRun.submission_id == submission_id)
                    .order_by(col(StageRun.id))
                )
            )

    # claims
    def claim(self, submission_ids: list[int], owner: str, lease_s: float) -> list[int]:
        """Claim the submissions for `owner` until now + lease_s; the ids claimed (in order).
        Each claim is one atomic statement (an insert, or an update of an expired or orphaned
        claim), so two processes never both hold one: SQLite serialises writers, PostgreSQL
        locks the row."""
        claimed = []
        for sid in submission_ids:
            now = utcnow()
            until = now + timedelta(seconds=lease_s)
            with self.session() as s:
                try:
                    s.add(Claim(submission_id=sid, owner=owner, claimed_at=now, expires_at=until))
                    s.commit()
                    claimed.append(sid)
                    continue
                except IntegrityError:
                    s.rollback()
                current = s.get(Claim, sid)
                stale = current is not None and (
                    current.owner == owner
                    or as_utc(current.expires_at) <= now
                    or not owner_alive(current.owner)
                )
                if current is None or not stale:
                    continue
                taken = s.exec(
                    update(Claim)
                    .where(col(Claim.submission_id) == sid)
                    .where(col(Claim.owner) == current.owner)
                    .values(owner=owner, claimed_at=now, expires_at=until)
                )
                s.commit()
                if taken.rowcount == 1:
                    claimed.append(sid)
        return claimed

    def renew_claims(self, owner: str, lease_s: float) -> None:
        with self.session() as s:
            s.exec(
                update(Claim)
                .where(col(Claim.owner) == owner)
                .values(expires_at=utcnow() + timedelta(seconds=lease_s))
            )
            s.commit()

    def drop_orphaned_claims(self) -> int:
        """Delete the claims no live process holds: expired, or of a process gone from this
        host (a killed claimer's claims on submissions no one takes again, such as one it
        finished). Those of pending submissions would be taken over anyway. How many."""
        now = utcnow()
        with self.session() as s:
            stale = [
                c
                for c in s.exec(select(Claim))
                if as_utc(c.expires_at) <= now or not owner_alive(c.owner)
            ]
            dropped = 0
            for c in stale:  # only if still held by the same owner, as seen
                dropped += (
                    s.exec(
                        delete(Claim)
                        .where(col(Claim.submission_id) == c.submission_id)
                        .where(col(Claim.owner) == c.owner)
                    ).rowcount
                    or 0
                )
            s.commit()
        return dropped

    def release_claims(self, owner: str) -> None:
        with self.session() as s:
            s.exec(delete(Claim).where(col(Claim.owner) == owner))
            s.commit()

    def claims(self) -> list[Claim]:
        with self.session() as s:
            return list(s.exec(select(Claim).order_by(col(Claim.submission_id))))

    # locks
    @contextmanager
    def lock(self, name: str, wait: bool = True) -> Iterator[None]:
        """An exclusive lock named `name`, across processes: held for the block, released when
        the block ends or its process dies. PostgreSQL: a session advisory lock (across
        machines); SQLite: an flock on a file beside the database. Waits for the holder.
        Re-entrant: a block inside another block of the same lock and catalog, in the same
        thread, does not wait; another thread waits (on SQLite each holder opens the lock file
        itself, and flock excludes open files, not processes).
        With wait=False, a lock held elsewhere is a MidexError at once."""
        held: set[str] = self._local.__dict__.setdefault("held", set())
        if name in held:
            yield
            return
        held.add(name)
        try:
            with self._acquire(name, wait):
                yield
        finally:
            held.discard(name)

    @contextmanager
    def _acquire(self, name: str, wait: bool) -> Iterator[None]:
        busy = MidexError(f"another process holds midex's {name} lock; try again when it ends")
        if self.engine.url.get_backend_name() == "postgresql":
            digest = hashlib.sha256(f"midex:{name}".encode()).digest()
            key = int.from_bytes(digest[:8], "big", signed=True)
            with self.engine.connect() as conn:
                if wait:
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                elif not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                    raise busy
                conn.commit()  # a session lock outlives the transaction: none is left open
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
            return
        database = self.engine.url.database
        if not database or database == ":memory:":  # one process by definition
            yield
            return
        path = Path(f"{database}.{name}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # releases
    def next_release_number(self) -> int:
        with self.session() as s:
            numbers = list(s.exec(select(Release.number)))
        return max(numbers, default=0) + 1

    def add_release(self, release: Release) -> Release:
        """Commit a release; its number must be the next one, checked in the same transaction
        (publish holds the release lock, so this only fails if something bypassed it)."""
        with self.session() as s:
            latest = s.exec(select(func.max(Release.number))).one()
            if release.number != (latest or 0) + 1:
                raise MidexError(
                    f"release {release.number} cannot be committed: the last release is "
                    f"{latest}; publish again"
                )
            s.add(release)
            s.commit()
            s.refresh(release)
            return release

    def releases(self) -> list[Release]:
        with self.session() as s:
            return list(s.exec(select(Release).order_by(col(Release.number))))

    def release(self, number: int | None = None) -> Release:
        releases = self.releases()
        if not releases:
            raise MidexError("nothing published yet; run `midex publish` first")
        if number is None:
            now = utcnow()
            public = [r for r in releases if not r.under_embargo(now)]
            if not public:
                latest = releases[-1]
                raise MidexError(
                    f"every release is under embargo (release {latest.number} until "
                    f"{latest.embargo_until:%Y-%m-%d %H:%M} UTC); "
                    f"name one with --release {latest.number} to read it anyway"
                )
            return public[-1]
        for r in releases:
            if r.number == number:
                return r
        known = ", ".join(str(r.number) for r in releases)
        raise MidexError(f"no release {number}; published releases: {known}")


def open_catalog(url: str | None = None) -> Catalog:
    if url is None:
        url = get_settings().catalog_url
    assert url is not None
    catalog = Catalog(url)
    return catalog

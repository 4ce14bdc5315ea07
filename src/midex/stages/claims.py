"""Claims: the submissions this process may work on, so two processes never process one twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from midex.storage.catalog import (
    Submission,
)
from midex.storage.owners import owner_name

if TYPE_CHECKING:
    pass
from midex.stages.context import Context
from midex.stages.record import give_up_after_deaths

log = logging.getLogger("midex")


@dataclass
class Claimed:
    """What a process claimed: the submissions to process, and those it gave up instead (a
    dead process's run held them alone once too often: now `failed`, see record)."""

    subs: list[Submission]
    given_up: list[Submission]


@contextmanager
def claimed(ctx: Context, subs: list[Submission]) -> Iterator[Claimed]:
    """The submissions of `subs` this process could claim (the others are being processed by
    another `midex run`, worker or Airflow task, and are skipped, with a log line), their claims
    renewed in the background while the block runs and released when it ends."""
    owner = owner_name()
    lease = ctx.settings.claim_lease_s
    ctx.catalog.drop_orphaned_claims()  # a killed claimer's, on what no one takes again
    ids = ctx.catalog.claim([s.id for s in subs if s.id is not None], owner, lease)
    skipped = [s.id for s in subs if s.id not in ids]
    if skipped:
        log.info("submissions %s are being processed by another process: skipped", skipped)
    # what is claimed now has no other live worker: a stage run still open was left by a dead
    # process; one it ran for a submission alone counts as that submission's failed attempt
    given_up = give_up_after_deaths(ctx, ctx.catalog.close_interrupted_stages(ids))
    for sub in given_up:
        log.error("submission %s failed: %s", sub.id, sub.error)
    dropped = {s.id for s in given_up}
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease / 3):
            ctx.catalog.renew_claims(owner, lease)

    keeper = threading.Thread(target=renew, name="midex-claims", daemon=True)
    keeper.start()
    try:
        # re-read: what was pending when listed may have moved on in another process
        yield Claimed([ctx.catalog.submission(i) for i in ids if i not in dropped], given_up)
    finally:
        stop.set()
        keeper.join()
        ctx.catalog.release_claims(owner)

"""Read a submitted file in a process of its own, under a time and a memory budget.

A file is the one input a provider controls completely, and the readers (pyarrow, openpyxl, xlrd,
pysdmx, our layouts) are Python and C++ code that no thread can interrupt: a file that makes one
of them run for an hour or take all the memory would stall the worker that reads it and every
submission behind it. So the parse stage reads each file in a child process, forked from a small
server process that imported the readers once (multiprocessing's `forkserver`: a fork of a clean,
single-threaded process, never of the service with its JVM and threads):

* memory: the child's address space is limited (RLIMIT_AS, MIDEX_PARSE_MEMORY_MB); an allocation
  past it fails inside the reader, which reports it, or kills the child; either way the
  submission ends `failed` saying so, and the worker goes on;
* time: past MIDEX_PARSE_BUDGET_S the child is killed (SIGKILL: nothing of it is kept, it wrote
  only into its own temporary folder);
* stop: when the service stops (SIGTERM), the child is killed at once and the stage is recorded
  as interrupted, not failed.

The child hands the table back as an Arrow IPC file in a temporary folder (memory-mapped by the
parent, so not copied through a pipe) and the reader's notes and format through a pipe.
"""

from __future__ import annotations

import multiprocessing
import resource
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyarrow as pa

from midex.contract.errors import BudgetExceeded, MidexError
from midex.contract.settings import Settings, pin_settings
from midex.formats.base import ParsedFile
from midex.storage.lake import owned_suffix, remove_leftovers

# what the server process imports once, so that each child starts reading at once
PRELOAD = ["midex.formats.warm", "pyarrow.csv", "pandas", "openpyxl"]
POLL_S = 0.05


class Interrupted(RuntimeError):
    """The process is stopping; the stage was cut short and is not counted as a failure."""


_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    global _context
    with _lock:
        if _context is None:
            _context = multiprocessing.get_context("forkserver")
            _context.set_forkserver_preload(PRELOAD)
        return _context


@contextmanager
def _main_not_rerun() -> Iterator[None]:
    """While a child is started: tell multiprocessing not to re-run the parent's main script in it.

    A forkserver child first runs the parent's `__main__` again (spawn.prepare) when the parent
    was started as a script: `airflow`, `pytest`, a job file. The reader needs none of it, and
    some mains cannot run twice: in an Airflow task, `airflow`'s import configures its database
    from a setting the task runner blanks, and the child died before reading (exit code 1). A
    main named `__main__` is the one case multiprocessing skips (spawn._fixup_main_from_name)."""
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is not None:
        yield  # started with -m: the child imports the module by name, as a module
        return
    main.__spec__ = ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = None


def _read_in_child(
    path: str,
    fmt: str,
    name: str,
    schemas: str,
    out: str,
    memory_bytes: int,
    settings: Settings,
    conn: Connection,
) -> None:
    """The child: load the schema of the folder `schemas` (once: the readers are given it), read
    `path`, write the table to `out`, send ("ok", format, notes) or ("refused" | "memory" |
    "crashed", message)."""
    pin_settings(settings)  # the parent's deployment, not the server's environment at its start
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from midex.contract.schema import load_schema
    from midex.formats import read_submission

    try:
        schema = load_schema(Path(schemas))
        parsed = read_submission(Path(path), fmt, schema, name)
        with pa.OSFile(out, "wb") as sink, pa.ipc.new_file(sink, parsed.table.schema) as writer:
            writer.write_table(parsed.table)
        conn.send(("ok", parsed.format, parsed.notes))
    except MidexError as exc:
        conn.send(("refused", str(exc)))
    except (MemoryError, pa.ArrowMemoryError) as exc:
        conn.send(("memory", f"{type(exc).__name__}: {exc}"))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent, said
        conn.send(("crashed", "".join(traceback.format_exception(exc))[-4000:]))
    finally:
        conn.close()


@contextmanager
def read_isolated(
    path: Path,
    fmt: str,
    name: str,
    *,
    settings: Settings,
    schemas: Path,
    seconds: float,
    memory_mb: int,
    workdir: Path,
    stop: threading.Event | None = None,
) -> Iterator[ParsedFile]:
    """`formats.read_submission(path, fmt, schema, name)` in a child process under the budgets
        (0: none), with the schema the child loads once from the folder `schemas` (the caller's:
        the parse stage gives its context's schema folder, settings.schemas) and the caller's
        `settings` (the readers' limits: the child's get_settings() returns them);
        the parsed file is valid inside the block (its table is memory-mapped from a temporary file
        removed after it; `workdir/parse-<owner>`, where the leftovers of dead processes are removed
    first). Raises MidexError (the file's own problem) as the reader does,
        BudgetExceeded past a budget or when the reader dies, Interrupted when `stop` is set."""
    ctx = _forkserver()
    workdir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(workdir, "parse-")
    folder = workdir / f"parse-{owned_suffix()}"
    folder.mkdir()
    try:
        out = folder / "table.arrow"
        receiving, sending = ctx.Pipe(duplex=False)
        child = ctx.Process(
            target=_read_in_child,
            args=(
                str(path),
                fmt,
                name,
                str(schemas),
                str(out),
                memory_mb * 2**20,
                settings,
                sending,
            ),
            name="midex-parse",
            daemon=True,
        )
        with _lock, _main_not_rerun():
            child.start()
        sending.close()
        try:
            message = _wait(child, receiving, name, seconds, memory_mb, stop)
        finally:
            if child.is_alive():
                child.kill()
            child.join()
            receiving.close()
        yield _answer(message, out, name, memory_mb, child.exitcode)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait(
    child: Any,
    receiving: Connection,
    name: str,
    seconds: float,
    memory_mb: int,
    stop: threading.Event | None,
) -> tuple[Any, ...] | None:
    """The child's message, or None if it ended without one; kills it past the time budget or
    when `stop` is set."""
    deadline = time.monotonic() + seconds if seconds else None
    while True:
        if receiving.poll(POLL_S):
            try:
                return receiving.recv()
            except EOFError:  # it died before saying anything
                return None
        if stop is not None and stop.is_set():
            child.kill()
            raise Interrupted(f"reading {name} was stopped: the process is shutting down")
        if deadline is not None and time.monotonic() > deadline:
            child.kill()
            raise BudgetExceeded(
                f"reading {name} ran past its time budget of {seconds:g} s (MIDEX_PARSE_BUDGET_S) "
                "and was stopped; the file is too big or too unusual to read: send it as CSV, "
                "split it, or ask the operator to raise the budget"
            )
        if not child.is_alive() and not receiving.poll(0):
            return None


def _answer(
    message: tuple[Any, ...] | None, out: Path, name: str, memory_mb: int, exitcode: int | None
) -> ParsedFile:
    too_big = (
        f"reading {name} needed more than its memory budget of {memory_mb} MB "
        "(MIDEX_PARSE_MEMORY_MB) and was stopped; send the file as CSV, split it, or ask the "
        "operator to raise the budget"
    )
    if message is None:
        # killed by a signal (the kernel's SIGKILL, an abort on a failed allocation) under a
        # memory limit: the budget; any other silent end is the reader process's own failure
        if memory_mb and exitcode is not None and exitcode < 0:
            raise BudgetExceeded(f"{too_big} (the reader was ended by signal {-exitcode})")
        raise RuntimeError(
            f"reading {name}: the reader process ended with exit code {exitcode} before it "
            "answered; the worker's log has its error"
        )
    kind, *rest = message
    if kind == "ok":
        table = pa.ipc.open_file(pa.memory_map(str(out))).read_all()
        return ParsedFile(table, rest[0], list(rest[1]))
    if kind == "refused":
        raise MidexError(rest[0])
    if kind == "memory" and memory_mb:
        raise BudgetExceeded(f"{too_big} ({rest[0]})")
    # the reader's own bug, not the file's problem: the traceback is for the operator (the
    # stage run's record keeps it), never shown to the provider (stages.record.failure_message)
    raise RuntimeError(f"reading {name} crashed:\n{rest[0]}")

"""The hostile corpus (issue 20, criterion 16): every file of tests/hostile_corpus.py is received
and parsed in one deployment, and answered with a clear finding (or, for a file name, a 4xx);
nothing is lost and no submission touches another.

For each file: the landed copy is the bytes sent; an accepted file's raw rows are exactly the
rows it has; a refused file has one error finding that names the file, says what to do, and
shows no server path, no traceback and nothing of /etc/passwd; no URL the file names is
fetched; the clean control submissions stay as they were. Only the parse stage runs: no Spark.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import signal
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from midex.contract.errors import MidexError
from tests.hostile_corpus import CASES, Accepted, Case, Refused, csv_text, obs

if TYPE_CHECKING:
    from midex.stages import Context

pytestmark = pytest.mark.fault

PROVIDER = "HX"
CONTROL = [
    obs("MEX", "2020", "1.5", "Côte d'Ivoire, “quoted”"),
    obs("FRA", "2021", "-0", "=1+1"),
    obs("DEU", "2022", "", "ok"),
]
# the advice every refusal gives, in some words
TO_DO = re.compile(
    r"\b(resubmit|save|send|export|use|keep|start from|check|delete|split|download|choose|"
    r"submit|try)\b"
)
try:
    PASSWD_LINE = Path("/etc/passwd").read_text().splitlines()[0]  # what an XXE would show
except (OSError, IndexError):
    PASSWD_LINE = "root:x:0:0"


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` in a reader hides it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Canary(http.server.ThreadingHTTPServer):
    """A local HTTP listener that files name in DTDs and entities: no request may arrive."""

    requests: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Record(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        body = b'<!ENTITY leak "fetched">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    server = Canary(("127.0.0.1", 0), _Record)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with urllib.request.urlopen(f"{server.url}/self-test", timeout=5) as answer:
        assert answer.status == 200  # the listener hears a fetch: its silence means something
    assert server.requests == ["/self-test"]
    server.requests.clear()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@dataclass(frozen=True)
class Kept:
    """What a submission is, as a later one could disturb it."""

    status: str
    rows_raw: int | None
    error: str | None
    landed_sha256: str
    raw: pa.Table | None
    findings: tuple[str, ...]


def kept(ctx: Context, submission_id: int) -> Kept:
    from midex.contract.findings import read_findings

    sub = ctx.catalog.submission(submission_id)
    folder = ctx.lake.submission_dir("raw", submission_id)
    return Kept(
        str(sub.status),
        sub.rows_raw,
        sub.error,
        hashlib.sha256(Path(sub.landing_uri).read_bytes()).hexdigest(),
        pq.read_table(folder) if folder.exists() else None,
        tuple(f.message for f in read_findings(ctx.lake.findings_file(submission_id))),
    )


def assert_same(before: Kept, after: Kept, what: str) -> None:
    assert (after.status, after.rows_raw, after.error, after.landed_sha256, after.findings) == (
        before.status,
        before.rows_raw,
        before.error,
        before.landed_sha256,
        before.findings,
    ), what
    if before.raw is None:
        assert after.raw is None, what
    else:
        assert after.raw is not None and after.raw.equals(before.raw), what


@dataclass
class Deployment:
    ctx: Context
    root: Path  # the deployment's folder and its neighbours: nothing may escape into them
    control: int
    control_kept: Kept
    queued: int  # a clean file received before the corpus, parsed after all of it
    done: dict[int, Kept] = field(default_factory=dict)  # every hostile submission, as it ended


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One embedded deployment for the whole corpus; the clean control is parsed first."""
    from midex.stages import Context, init, parse_stage, receive
    from midex.storage.catalog import ProviderKind

    root = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIDEX_HOME", str(root / "midex"))
        for var in ("MIDEX_LAKE", "MIDEX_LANDING", "MIDEX_CATALOG_URL"):
            mp.delenv(var, raising=False)
        for var in list(os.environ):
            if var.startswith("MIDEX_XLSX_"):  # the default limits, whatever the shell says
                mp.delenv(var)
        ctx = Context.open()
        init(ctx)
        ctx.catalog.add_provider(PROVIDER, "Hostile provider", ProviderKind.agency)
        clean = root / "clean"
        clean.mkdir()
        (clean / "control.csv").write_text(csv_text(CONTROL), "utf-8")
        (clean / "queued.csv").write_text(csv_text(CONTROL[:2]), "utf-8")
        control = receive(ctx, clean / "control.csv", PROVIDER, new=True).submission
        assert str(parse_stage(ctx, control.id).status) == "parsed"
        queued = receive(ctx, clean / "queued.csv", PROVIDER, new=True).submission
        assert control.id is not None and queued.id is not None
        yield Deployment(ctx, root, control.id, kept(ctx, control.id), queued.id)


def raw_rows(ctx: Context, submission_id: int) -> list[dict[str, object]]:
    return pq.read_table(ctx.lake.submission_dir("raw", submission_id)).to_pylist()


def assert_clear(message: str, file_name: str, deployment: Deployment, source: Path) -> None:
    """A finding a provider can act on, which gives nothing of the server away."""
    ctx = deployment.ctx
    assert message.startswith(f"{file_name}: "), message[:300]
    assert TO_DO.search(message), f"says nothing to do: {message[:300]}"
    assert "\n" not in message, message[:300]
    for secret in (str(ctx.settings.home), str(deployment.root), str(source.parent)):
        assert secret not in message, message[:300]
    assert not re.search(r"(^|[\s'\"(=:])/(work|tmp|home|root)\b", message), message[:300]
    assert "Traceback" not in message and PASSWD_LINE not in message, message[:300]


def _param(c: Case) -> object:
    marks = [pytest.mark.xfail(reason=c.xfail, strict=False)] if c.xfail else []
    return pytest.param(c, id=c.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_a_hostile_file_gets_a_clear_answer(
    case: Case,
    deployment: Deployment,
    canary: Canary,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from midex.contract.findings import read_findings
    from midex.stages import parse_stage, receive

    ctx = deployment.ctx
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if case.env:  # this case's limits are the deployment's settings (the reader is given them)
        from midex.contract.settings import get_settings

        monkeypatch.setattr(ctx, "settings", get_settings())
    outcome = case.build(canary.url)
    source = tmp_path / case.file_name
    source.write_bytes(outcome.data)
    before = len(canary.requests)

    with time_limit(case.budget_s):
        sub = receive(ctx, source, PROVIDER, case.fmt, new=True).submission
        assert sub.id is not None
        after = parse_stage(ctx, sub.id)

    # nothing lost: the landed copy is the file as sent, whatever became of it
    assert Path(after.landing_uri).read_bytes() == outcome.data
    findings = read_findings(ctx.lake.findings_file(sub.id))
    if isinstance(outcome, Accepted):
        assert str(after.status) == "parsed", after.error
        assert findings == []
        rows = raw_rows(ctx, sub.id)
        assert after.rows_raw == len(rows) == len(outcome.rows)
        assert [{k: r[k] for k in e} for r, e in zip(rows, outcome.rows, strict=True)] == (
            outcome.rows
        )
        assert not any(PASSWD_LINE in str(v) for r in rows for v in r.values())
    else:
        assert isinstance(outcome, Refused)
        assert str(after.status) == "rejected"
        assert [f.severity for f in findings] == ["error"]
        message = findings[0].message
        assert message == after.error
        assert re.search(outcome.says, message), message[:300]
        assert_clear(message, after.file_name, deployment, source)
        assert not ctx.lake.submission_dir("raw", sub.id).exists()

    assert canary.requests[before:] == [], "the file made midex fetch a URL"
    assert not any(deployment.root.rglob("escaped.txt")) and not Path("/abs/escaped.txt").exists()
    assert_same(deployment.control_kept, kept(ctx, deployment.control), "the control changed")
    deployment.done[sub.id] = kept(ctx, sub.id)


# ------------------------------------------------------------------------------ file names

# (name as the provider's file system has it, name it is landed and reported under)
OS_NAMES = [
    ("a\\..\\..\\b.csv", "b.csv"),
    ("con.csv", "con.csv"),
    ("x\ny.csv", "x_y.csv"),
    ("\u202egpj.csv", "gpj.csv"),
    ("$(reboot);rm -rf ~.csv", "reboot_rm_-rf_.csv"),
    ("....csv", "csv"),
    ("....", "submission"),
    (" .csv ", "csv"),
    ("Ω" * 120 + ".csv", "csv"),
    ("a" * 250 + ".csv", "a" * 200),
]


@pytest.mark.parametrize(("name", "landed"), OS_NAMES, ids=[repr(n)[:30] for n, _ in OS_NAMES])
def test_a_hostile_file_name_lands_under_a_safe_name(
    name: str, landed: str, deployment: Deployment, tmp_path: Path
) -> None:
    """A name the provider's machine allows is landed and reported under a plain name inside
    the landing folder; a finding names the file so."""
    from midex.stages import parse_stage, receive

    ctx = deployment.ctx
    source = tmp_path / name
    source.write_bytes(b"REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,G,2020,1,extra\n")
    sub = receive(ctx, source, PROVIDER, "template", new=True).submission
    assert sub.id is not None
    assert sub.file_name == landed
    assert ctx.settings.landing is not None
    landing = ctx.settings.landing.resolve()
    path = Path(sub.landing_uri).resolve()
    assert path.is_relative_to(landing) and path.name == landed
    after = parse_stage(ctx, sub.id)
    assert str(after.status) == "rejected" and after.error is not None
    assert after.error.startswith(f"{landed}: row 2 has 5 fields, expected 4")
    assert_clear(after.error, landed, deployment, source)
    assert_same(deployment.control_kept, kept(ctx, deployment.control), "the control changed")
    deployment.done[sub.id] = kept(ctx, sub.id)


UPLOAD_NAMES = [
    "../../x.csv",
    "..\\..\\x.csv",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "x\x00.csv",
    "x\ny.csv",
    "x\r.csv",
    "",
    "  ",
    "..",
    "a" * 300 + ".csv",
]


@pytest.mark.parametrize("name", UPLOAD_NAMES, ids=[repr(n)[:30] for n in UPLOAD_NAMES])
def test_the_service_refuses_an_upload_name_with_a_4xx(name: str) -> None:
    from midex.service.upload import UploadRefused, check_file_name

    with pytest.raises(UploadRefused) as refused:
        check_file_name(name)
    assert 400 <= refused.value.status < 500
    assert "passwd" not in refused.value.message and "Windows" not in refused.value.message


@pytest.mark.parametrize(
    ("name", "safe"),
    [("con.csv", "con.csv"), ("\u202egpj.csv", "gpj.csv"), ("México 2020.csv", "M_xico_2020.csv")],
)
def test_an_upload_name_without_folders_is_taken_plain(name: str, safe: str) -> None:
    from midex.service.upload import check_file_name

    assert check_file_name(name) == safe


@pytest.mark.parametrize(
    ("name", "safe"),
    [("x\x00..\\..\\y.csv", "y.csv"), ("../../etc/passwd", "passwd"), ("\x00", "submission")],
)
def test_landing_keeps_no_folder_nor_nul_of_any_name(name: str, safe: str) -> None:
    """Names no file system allows (a NUL) reach landing only through an upload or an
    object-store key: the landed name is still plain."""
    from midex.storage.landed import safe_file_name

    assert safe_file_name(name) == safe


# ------------------------------------------------------------------------- detection itself


def test_detection_opens_no_workbook_the_limits_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--format auto tries every layout on a workbook: none may open it before its limits are
    checked (a shared-strings bomb would be expanded once per layout tried)."""
    import openpyxl

    from midex.contract.schema import load_schema
    from midex.formats import detect_format, sheets
    from tests.hostile_corpus import a_part_that_claims_4gb

    path = tmp_path / "lying.xlsx"
    path.write_bytes(a_part_that_claims_4gb("").data)
    with pytest.raises(MidexError, match="over the limit"):
        sheets.check_xlsx(path, path.name)
    opened: list[object] = []
    real = openpyxl.load_workbook

    def spy(*args: object, **kwargs: object) -> object:
        opened.append(args[0] if args else kwargs.get("filename"))
        return real(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", spy)
    assert detect_format(path, load_schema()) == "template"  # then the template reader refuses it
    assert opened == []


# ------------------------------------------------------------------------- midex's own errors


def test_an_internal_error_is_not_shown_to_the_provider(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A stage that fails on midex's own error (a bug, a library naming server paths) leaves
    the submission `failed` with a message that says so and shows no path and no traceback;
    the traceback is the operator's, in the stage run's record; the file is kept."""
    from midex.stages import receive
    from midex.stages.record import run_stage

    ctx = deployment.ctx
    source = tmp_path / "fine.csv"
    source.write_text(csv_text(CONTROL[:1]), "utf-8")
    sub = receive(ctx, source, PROVIDER, new=True).submission
    assert sub.id is not None
    secret = str(ctx.settings.home / "lake" / "raw" / "part-0.parquet")

    def broken(_: object) -> object:
        raise KeyError(f"no such column in {secret}")

    with pytest.raises(KeyError):
        run_stage(ctx, sub, "parse", broken)  # type: ignore[arg-type]  # the stage's fn, broken
    after = ctx.catalog.submission(sub.id)
    assert str(after.status) == "failed" and after.error is not None
    assert after.error.startswith("parse failed: an error inside midex (KeyError)"), after.error
    assert secret not in after.error and "Traceback" not in after.error
    assert "retry" in after.error
    record = ctx.catalog.stage_runs(sub.id)[-1]
    assert record.message is not None and "Traceback" in record.message and secret in record.message
    assert Path(after.landing_uri).read_bytes() == source.read_bytes()
    assert_same(deployment.control_kept, kept(ctx, deployment.control), "the control changed")


# ------------------------------------------------------------------------------ afterwards


def test_no_submission_disturbed_another(deployment: Deployment) -> None:
    """After the whole corpus: every submission is as it ended, and the clean file received
    before the corpus parses to exactly its rows."""
    from midex.stages import parse_stage

    ctx = deployment.ctx
    assert_same(deployment.control_kept, kept(ctx, deployment.control), "the control changed")
    for submission_id, ended in deployment.done.items():
        assert_same(ended, kept(ctx, submission_id), f"submission {submission_id} changed")
    after = parse_stage(ctx, deployment.queued)
    assert str(after.status) == "parsed"
    rows = raw_rows(ctx, deployment.queued)
    assert [{k: r[k] for k in CONTROL[0]} for r in rows] == CONTROL[:2]
    assert [r["SOURCE_ROW"] for r in rows] == [2, 3]

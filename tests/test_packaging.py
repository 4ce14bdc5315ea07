"""An installed midex (not an editable checkout) has what it reads: the Alembic revisions as
package data, and schemas/, expectations/ and jobs/ under <prefix>/share/midex/, where the
settings look when there is no repository checkout. (Measured once by hand: the built wheel
installed with `pip install --prefix` loads its schema and migrations from there.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import midex
from midex.contract import settings as settings_module

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(midex.__file__).resolve().parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]


def test_every_package_data_pattern_matches_files() -> None:
    for pattern in PYPROJECT["setuptools"]["package-data"]["midex"]:
        assert list(PACKAGE.glob(pattern)), f"package-data {pattern!r} matches nothing"


def test_every_schema_suite_and_job_file_ships_as_data() -> None:
    shipped: set[Path] = set()
    for target, patterns in PYPROJECT["setuptools"]["data-files"].items():
        for pattern in patterns:
            files = list(ROOT.glob(pattern))
            assert files, f"data-files {pattern!r} matches nothing"
            assert all(target == f"share/midex/{f.parent.relative_to(ROOT)}" for f in files)
            shipped.update(files)
    wanted = {
        f
        for folder in ("schemas", "expectations", "jobs")
        for f in (ROOT / folder).rglob("*")
        if f.is_file() and "__pycache__" not in f.parts
    }
    assert wanted - shipped == set(), "files an installed midex would not have"


def test_without_a_checkout_settings_read_the_shipped_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("schemas", "expectations", "jobs"):
        monkeypatch.delenv(f"MIDEX_{name.upper()}", raising=False)
        (tmp_path / "share" / "midex" / name).mkdir(parents=True)
    installed = tmp_path / "lib" / "python3.11" / "site-packages" / "midex" / "contract"
    monkeypatch.setattr(settings_module, "__file__", str(installed / "settings.py"))
    monkeypatch.setattr(settings_module.sys, "prefix", str(tmp_path))
    got = settings_module.Settings()
    assert got.schemas == tmp_path / "share" / "midex" / "schemas"
    assert got.expectations == tmp_path / "share" / "midex" / "expectations"
    assert got.jobs == tmp_path / "share" / "midex" / "jobs"
    monkeypatch.undo()
    assert settings_module.Settings().schemas == ROOT / "schemas"  # the checkout, in the tests

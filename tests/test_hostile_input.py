"""Hostile input from a provider (issue 20): a format is a name from a closed list, never a path,
and no message shows a server path or the content of a file that is not a layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from midex.errors import MidexError
from midex.formats import check_format, read_submission
from tests.conftest import REPO, write

# names that reach files outside schemas/layouts/ if joined as a path
TRAVERSALS = [
    "layout:../areas/overrides",  # a YAML file of the schema: its content must not be echoed
    "layout:../../expectations/harmonised",
    "layout:/etc/passwd",
    "layout:..%2f..%2fareas%2foverrides",
    "layout:knomad_remittance_inflows/../../areas/overrides",
    "layout:",
    "../schemas/layouts/knomad_remittance_inflows",
]


@pytest.mark.parametrize("fmt", TRAVERSALS)
def test_a_format_outside_the_closed_list_is_refused_before_anything_is_opened(
    fmt: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "x.csv", "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,GDP,2020,1\n")
    for call in (lambda: check_format(fmt), lambda: read_submission(path, fmt)):
        with pytest.raises(MidexError) as info:
            call()
        message = str(info.value)
        assert any(s in message for s in ("unknown layout", "unknown format", "not a path"))
        assert str(REPO) not in message and "/schemas" not in message and "/etc" not in message
        assert "reporting_areas" not in message and "EL: GRC" not in message  # no file content
    assert check_format("layout:knomad_remittance_inflows") == "layout:knomad_remittance_inflows"


def test_submit_refuses_a_path_as_format(midex_home: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").code == 0
    assert cli("provider", "add", "WB", "--name", "World Bank", "--kind", "agency").code == 0
    path = write(tmp_path / "x.csv", "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,GDP,2020,1\n")
    out = cli("submit", str(path), "--provider", "WB", "--format", "layout:../areas/overrides")
    assert out.code != 0
    assert "a format is a name, not a path" in out.err and str(REPO) not in out.err
    assert not any((midex_home / "landing").rglob("x.csv"))  # refused before it was landed

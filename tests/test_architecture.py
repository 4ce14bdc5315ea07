"""The folders of src/midex/ import only downwards (docs/architecture.md): every import is read,
including those inside functions, and each known exception is named here, so a new door fails."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import midex

SRC = Path(midex.__file__).resolve().parent

# folder -> the folders it may import (besides itself and contract/, which all may import)
ALLOWED = {
    "contract": set(),
    "storage": set(),
    "runtime": set(),
    "formats": {"storage"},
    "transforms": {"runtime"},  # given DataFrames and rules: never the lake or the catalog
    "quality": {"transforms", "storage", "runtime"},
    "release": {"storage", "transforms", "quality", "runtime"},
    "stages": {"storage", "formats", "transforms", "quality", "release", "runtime"},
}
EDGES = {"cli", "service", "demo", "orchestration"}  # orchestration: midex.orchestration
# imports that break the rules, each a door to close (none today; name one here with its reason)
KNOWN: set[tuple[str, str]] = set()


def _module_of(target: str) -> str | None:
    """The module of src/midex an import names (`midex.a.b.name` -> `midex.a.b`)."""
    while target:
        parts = target.split(".")
        path = SRC.joinpath(*parts[1:])
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return target
        target = target.rpartition(".")[0]
    return None


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports() -> list[tuple[str, str]]:
    found = []
    for path in SRC.rglob("*.py"):
        module = ".".join(("midex", *path.relative_to(SRC).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import mod` imports the module mod; `from pkg import name`, pkg
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            found += [(module, t) for t in targets if t.startswith("midex.")]
    return found


def test_each_folder_imports_only_the_folders_below_it() -> None:
    wrong = []
    for module, target in _imports():
        here, there = _folder(module), _folder(target)
        if here in EDGES or here == "" or there in ("", here, "contract"):
            continue
        if here not in ALLOWED:
            wrong.append(f"{module}: folder {here!r} is not in docs/architecture.md")
        elif there not in ALLOWED[here] and not any(
            module == a and target.startswith(b) for a, b in KNOWN
        ):
            wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(sorted(set(wrong)))


def test_nothing_below_the_edges_imports_them() -> None:
    wrong = sorted(
        {
            f"{module} imports {target}"
            for module, target in _imports()
            if _folder(module) not in EDGES and _folder(target) in EDGES
        }
    )
    assert not wrong, "\n".join(wrong)


def test_only_the_cli_imports_the_cli() -> None:
    """The CLI is the outermost edge: the demo, the service and the DAGs' decisions are given
    what they need of it (the demo its table formatter), never import it."""
    wrong = sorted(
        {
            f"{module} imports {target}"
            for module, target in _imports()
            if _folder(target) == "cli" and _folder(module) != "cli"
        }
    )
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_through_others() -> None:
    """No import cycle, counting the imports inside functions (they hide cycles, not end them)."""
    graph: dict[str, set[str]] = {}
    for module, target in _imports():
        found = _module_of(target)
        if found and found != module:
            graph.setdefault(module, set()).add(found)
    cycles = []
    for start in graph:  # a path back to `start` from one of its imports
        stack, seen = [(start, [start])], {start}
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start and len(path) > 1:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_transforms_import_at_the_top_never_inside_a_function() -> None:
    """transforms/ needs Spark: it imports it (and all else) at the top, where a reader sees
    it. Imports inside functions are for the edges; the Spark-free parts that others read
    without Spark (resolution rules, groups) are in contract/. TYPE_CHECKING blocks are at the
    top, so they are allowed."""
    wrong = set()
    for path in sorted((SRC / "transforms").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                wrong |= {
                    f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}"
                    for node in ast.walk(func)
                    if isinstance(node, ast.Import | ast.ImportFrom)
                }
    assert not wrong, "imports inside functions in transforms/:\n" + "\n".join(sorted(wrong))


def test_what_runs_without_spark_does_not_import_it() -> None:
    """The CLI, the service, the DAGs' decisions and a release's readers never start Spark, so
    they must not import it (0.5 s): transforms/ now imports it at the top, and they reach
    only contract/ (resolution rules, groups) or import transforms/ where Spark runs."""
    modules = [
        "midex.cli.main",
        "midex.service.app",
        "midex.release.bundle",
        "midex.release.provenance",
        "midex.quality.table_checks",
        "midex.orchestration",
        "midex.stages",
    ]
    code = (
        f"import importlib, sys\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyspark'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]", proc.stdout

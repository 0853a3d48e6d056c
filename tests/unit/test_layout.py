"""The layout keeps its shape (DESIGN.md "Layout", docs/layout.md): the import-linter
contracts of pyproject.toml hold (imports point one way, bridge.testing only for the demo,
the sandbox apart), no module takes part in an import cycle (imports inside functions
count), and no SQL statement runs outside state/ and the sql adapter."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bridge", "state", "adapters", "mappings")
# their own databases, not the state file: the platform sandbox's and the fake sources'
OWN_DATABASES = ("bridge/sandbox/", "bridge/testing/")
SQL_CALLS = frozenset({"execute", "executemany", "executescript"})


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", "pyproject.toml", "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycles_finds_a_loop_and_nothing_else() -> None:
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert cycles({"a": ["b"], "b": [], "c": ["a", "b"]}) == []


def test_no_module_is_part_of_an_import_cycle() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    # a package's __init__ importing its own modules is how packages work, not a cycle
    edges = {m: {i for i in imported if not m.startswith(f"{i}.")}
             for m, imported in edges.items()}
    assert cycles(edges) == []


def sql_calls(path: Path) -> list[int]:
    """Lines of `x.execute(…)`, `x.executemany(…)` and `x.executescript(…)` calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_CALLS]


def test_sql_calls_finds_execute_calls(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("conn.execute('SELECT 1')\nrun(execute)\nc.cursor().executemany(q, [])\n",
                    encoding="utf-8")
    assert sql_calls(path) == [1, 3]


def test_no_sql_outside_state_and_the_sql_adapter() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if (package == "state" or rel.startswith(OWN_DATABASES)
                    or (package == "adapters" and path.name.startswith("sql"))):
                continue
            found += [f"{rel}:{line}" for line in sql_calls(path)]
    assert found == [], "SQL belongs in state/ (one StateStore method per statement)"

"""No import circles among netwright's modules, as import-linter's `grimp` graph has them.

Layers are `pyproject.toml`'s import-linter contracts; this test adds what a layers
contract cannot say about the modules it does not list: no two modules import each
other, directly or through others. Imports under `TYPE_CHECKING` and inside
functions count too (grimp sees every import statement): a circle that only the
type checker walks is still a circle in the design.
"""

from __future__ import annotations

import grimp
import pytest

#: Where a circle is never allowed (the engine and the kernel adapter, layered).
LAYERED = ("netwright.engine", "netwright.kernel")


def _graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("netwright", include_external_packages=False, cache_dir=None)
    mods = {m for m in graph.modules if m == "netwright" or m.startswith("netwright.")}
    return {m: graph.find_modules_directly_imported_by(m) & mods for m in mods}


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, plus self-imports
    (Tarjan's algorithm, iterative: the graph is a few hundred modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = [[m] for m in sorted(edges) if m in edges[m]]
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_circles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "d"}, "e": set()}
    assert sorted(_circles(edges)) == [["a", "b", "c"], ["d"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    return _graph()


@pytest.mark.parametrize("package", LAYERED)
def test_no_import_circle_in_the_engine_or_the_kernel(
    edges: dict[str, set[str]], package: str
) -> None:
    inside = {
        m: {d for d in deps if d.startswith(package + ".") or d == package}
        for m, deps in edges.items()
        if m == package or m.startswith(package + ".")
    }
    assert len(inside) > 10, f"{package}: the graph lists too few modules to mean anything"
    assert _circles(inside) == []


def test_no_import_circle_anywhere_in_netwright(edges: dict[str, set[str]]) -> None:
    assert _circles(edges) == []

"""No import circle between the packages of `fastmri_pl` (the standards: break circles rather than hide them).

Python only fails on a circle between modules, and only at module level; a circle between packages (memory
imports training, training imports memory) already means neither can be understood, tested or moved without
the other, and a function-level import hides it from Python. So every `import` of every module counts,
wherever it stands. Nodes are the packages (`memory`, `training`, ...), the top-level modules (`train`,
`errors`, ...) and `fastmri_pl` itself (`from fastmri_pl import CONFIG_DIR`). Dotted strings (Hydra
`_target_`s, `importlib`) are not imports and are not counted.
"""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = "fastmri_pl"
SOURCE = Path(__file__).resolve().parents[1] / PACKAGE

Graph = dict[str, dict[str, set[str]]]  # node -> node it imports -> the files that import it


def node_of(dotted: str) -> str | None:
    """The node a dotted name below `fastmri_pl` belongs to; None outside the package."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1:
        return PACKAGE
    head = parts[1]
    if (SOURCE / head / "__init__.py").is_file() or (SOURCE / f"{head}.py").is_file():
        return head
    return PACKAGE  # a name defined in fastmri_pl/__init__.py


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, package: str) -> set[str]:
    """Every dotted name a module of `package` imports, at module level and inside functions alike (relative
    imports resolved against `package`)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def package_graph() -> Graph:
    graph: Graph = defaultdict(lambda: defaultdict(set))
    for path in sorted(SOURCE.rglob("*.py")):
        name = module_name(path)
        source = node_of(name)
        assert source is not None
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in imported_names(path.read_text(), package):
            target = node_of(imported)
            if target is not None and target != source:
                graph[source][target].add(str(path.relative_to(SOURCE.parent)))
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One circle of `graph` as [a, b, ..., a], or None (depth-first search, nodes in sorted order)."""
    state: dict[str, str] = {}  # "open" while on the search path, "done" once every edge out is searched
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def describe(graph: Graph, cycle: list[str]) -> str:
    edges = [
        f"  {a} -> {b}: {', '.join(sorted(graph[a][b]))}" for a, b in zip(cycle, cycle[1:], strict=False)
    ]
    return "\n".join([f"import circle between packages: {' -> '.join(cycle)}", *edges])


def test_the_packages_import_each_other_without_a_circle() -> None:
    graph = package_graph()
    cycle = find_cycle(graph)
    assert cycle is None, describe(graph, cycle)


def test_the_scan_sees_the_imports_the_layering_rests_on() -> None:
    """Edges that must be there, so an empty or blind scan cannot pass the test above: memory traces the
    module training builds, fit calibrates with memory, the door reads the root package's `CONFIG_DIR`."""
    graph = package_graph()
    assert "fastmri_pl/memory/estimate.py" in graph["memory"]["training"]
    assert "fastmri_pl/fit/calibrate.py" in graph["fit"]["memory"]
    assert "fastmri_pl/runtime/command.py" in graph["runtime"][PACKAGE]


def test_imports_inside_functions_and_relative_ones_count() -> None:
    source = """
import torch
from . import batch
from ..training.build import build_module


def estimate():
    from fastmri_pl.fit import factory
    import fastmri_pl.callbacks.memory
"""
    names = imported_names(source, "fastmri_pl.memory")
    assert {node_of(name) for name in names} == {None, "memory", "training", "fit", "callbacks"}


def test_find_cycle_names_the_circle() -> None:
    graph: Graph = {"a": {"b": {"a.py"}}, "b": {"c": {"b.py"}}, "c": {"a": {"c.py"}, "d": {"c.py"}}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert describe(graph, ["a", "b", "c", "a"]).splitlines() == [
        "import circle between packages: a -> b -> c -> a",
        "  a -> b: a.py",
        "  b -> c: b.py",
        "  c -> a: c.py",
    ]
    assert find_cycle({"a": {"b": {"a.py"}}, "b": {"c": {"b.py"}}}) is None

"""The shape of the package, checked from its source: no import cycle, small modules and functions,
no private imports of kr8s or dask-kubernetes, one place that hand-writes API calls, pure cores.

Imports are read with ``ast``: module-level and function-level ones alike (a lazy import inside a
function still ties the two modules together), except those under ``if TYPE_CHECKING:``, which
never run. Each test lists every offender, with its file and line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "dask_kubeflow"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Only server-side apply may hand-write a request (kr8s has no method for it).
CALL_API_HOME = Path(PACKAGE, "kube", "api.py")
# Third-party packages whose underscore modules are private: their layout may change in any release.
PRIVATE_PREFIXES = ("kr8s", "dask_kubernetes")
# Pure modules: importing them must not pull in kr8s (render and policy run in the CLI, in tests and
# in notebooks without Kubernetes).
PURE_MODULES = (
    "dask_kubeflow.policy",
    "dask_kubeflow.render",
    "dask_kubeflow.kube.names",
    "dask_kubeflow.kube.kinds",
    "dask_kubeflow.kube.namespace_status",
)


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool
    text: str
    tree: ast.Module

    @property
    def where(self) -> str:
        return str(self.path.relative_to(SRC))


def _modules() -> dict[str, Module]:
    modules = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        is_package = rel.name == "__init__"
        name = ".".join(rel.parts[:-1] if is_package else rel.parts)
        text = path.read_text(encoding="utf-8")
        modules[name] = Module(name, path, is_package, text, ast.parse(text, filename=str(path)))
    return modules


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that can run: at module level or in a function, not under ``if TYPE_CHECKING``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from runtime_imports(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from runtime_imports(child)


def imported_names(module: Module, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Absolute dotted names an import statement asks for (``from x import y`` asks for x and x.y)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.name if module.is_package else module.name.rpartition(".")[0]
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    return [target, *(f"{target}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports: line of the first such import}, within the package.

    An import of a module's own parent package is left out: Python runs the package's ``__init__``
    first, so that edge can never close a cycle at import time.
    """
    graph: dict[str, dict[str, int]] = {}
    for module in MODULES.values():
        edges: dict[str, int] = {}
        for node in runtime_imports(module.tree):
            for target in imported_names(module, node):
                if target in MODULES and target != module.name and not module.name.startswith(target + "."):
                    edges.setdefault(target, node.lineno)
        graph[module.name] = edges
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def cycle_in(group: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """The shortest cycle through ``group[0]``, as ``module (line of its import) -> ... -> group[0]``."""
    members, start = set(group), group[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier and start not in parent:
        following = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w in members and w not in parent:
                    parent[w] = v
                    following.append(w)
        frontier = following
    chain, node = [], parent[start]
    while node != start:
        chain.append(node)
        node = parent[node]
    hops = [start, *reversed(chain)]
    return [*(f"{a} (line {graph[a][b]})" for a, b in zip(hops, [*hops[1:], start])), start]


def test_no_import_cycle():
    graph = import_graph()
    cycles = [" -> ".join(cycle_in(group, graph)) for group in strongly_connected(graph)]
    assert not cycles, "import cycles (break them by moving the shared part into its own module):\n  " + "\n  ".join(
        cycles
    )


def test_no_module_over_the_line_limit():
    long = [f"{m.where}: {len(m.text.splitlines())} lines" for m in MODULES.values()
            if len(m.text.splitlines()) > MAX_MODULE_LINES]
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by responsibility):\n  " + "\n  ".join(long)


def test_no_function_over_the_line_limit():
    long = []
    for module in MODULES.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{module.where}:{node.lineno} {node.name}: {length} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n  " + "\n  ".join(long)


def _private(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] in PRIVATE_PREFIXES and any(p.startswith("_") for p in parts[1:])


def test_no_private_imports_of_kr8s_or_dask_kubernetes():
    found = []
    for module in MODULES.values():
        for node in ast.walk(module.tree):  # TYPE_CHECKING imports too: they tie us to the layout as well
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            found += [f"{module.where}:{node.lineno} {n}" for n in names if _private(n)]
    assert not found, "private imports (use the public kr8s / dask_kubernetes API or dask_kubeflow.kube):\n  " + (
        "\n  ".join(found)
    )


def test_call_api_only_in_server_side_apply():
    found = [
        f"{m.where}:{number}"
        for m in MODULES.values()
        if m.path.relative_to(SRC) != CALL_API_HOME
        for number, line in enumerate(m.text.splitlines(), 1)
        if "call_api" in line
    ]
    assert not found, (
        f"call_api outside {CALL_API_HOME} (use kr8s objects, or kube.api.server_side_apply):\n  " + "\n  ".join(found)
    )


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_modules_do_not_import_kr8s(module):
    probe = f"import sys, {module}; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'kr8s')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing {module} loads kr8s: {result.stdout.strip()}"


# -- the walker itself, on small sources -------------------------------------------------------


def _module(name: str, source: str, is_package: bool = False) -> Module:
    return Module(name, SRC / (name.replace(".", "/") + ".py"), is_package, source, ast.parse(source))


def test_the_walker_sees_function_level_imports_and_skips_type_checking_ones():
    source = (
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "if TYPE_CHECKING:\n    from .hidden import A\nelse:\n    from .shown_else import B\n"
        "if typing.TYPE_CHECKING:\n    import dask_kubeflow.hidden2\n"
        "def f():\n    from ..other import thing\n    return thing\n"
        "class C:\n    def m(self):\n        import dask_kubeflow.lazy\n"
    )
    module = _module("dask_kubeflow.pkg.mod", source)
    names = {n for node in runtime_imports(module.tree) for n in imported_names(module, node)}
    assert {"dask_kubeflow.pkg.shown_else", "dask_kubeflow.other", "dask_kubeflow.lazy"} <= names
    assert not {"dask_kubeflow.pkg.hidden", "dask_kubeflow.hidden2"} & names


def test_the_walker_resolves_relative_imports_of_packages_and_modules():
    package = _module("dask_kubeflow.pkg", "from . import sub\nfrom .sub import x\n", is_package=True)
    names = {n for node in runtime_imports(package.tree) for n in imported_names(package, node)}
    assert {"dask_kubeflow.pkg.sub", "dask_kubeflow.pkg.sub.x"} <= names
    module = _module("dask_kubeflow.pkg.mod", "from ..kube.names import X\n")
    (node,) = runtime_imports(module.tree)
    assert imported_names(module, node)[0] == "dask_kubeflow.kube.names"


def test_cycles_are_found_and_named():
    graph = {"a": {"b": 3}, "b": {"c": 5}, "c": {"a": 7}, "d": {"a": 1}}
    (group,) = strongly_connected(graph)
    assert group == ["a", "b", "c"]
    assert cycle_in(group, graph) == ["a (line 3)", "b (line 5)", "c (line 7)", "a"]
    assert _private("kr8s._exceptions") and _private("dask_kubernetes.operator._objects")
    assert not _private("kr8s.asyncio.objects") and not _private("dask_kubeflow._x")

"""The package layering of `companion` (docs/architecture.md), read from the source with `ast`.

Every import counts, including those under `if TYPE_CHECKING:` and inside functions: a type
hint that reaches up a layer couples the packages as much as a runtime import does.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import companion

ROOT = Path(companion.__file__).parent

# Bottom to top. A package may import the packages its layer lists, and nothing else of ours.
DOMAIN = frozenset({"domain"})
# Settings, texts, prompts and process plumbing every layer may use; they import only each other.
BASICS = frozenset(
    {
        "config",
        "i18n",
        "prompts",
        "resources",
        "logging_setup",
        "event_loop",
        "gc_tuning",
        "shutdown",
    }
)
# Adapters to the outside world and to data: they know the domain, not each other.
ADAPTERS = frozenset({"storage", "llm", "speech", "personas"})
# Use cases: they reach each other only through domain ports wired by the composition root.
SERVICES = frozenset(
    {
        "dialogs",
        "memory",
        "billing",
        "privacy",
        "legal",
        # The owner's console and reaching out (issues 17 and 19).
        "mood",
        "analytics",
        "broadcasts",
        "outreach",
    }
)
# Prometheus metrics and their HTTP endpoint: they observe adapters (token usage of the model)
# and are fed by the Telegram layer and the root.
OBSERVABILITY = frozenset({"metrics", "metrics_server"})
FRONT = frozenset({"bot"})  # the Telegram layer: translates updates into service calls
TOP = frozenset({"app", "cli"})  # the composition root and the command line

ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    **{name: BASICS - {name} for name in BASICS},
    **{name: DOMAIN | BASICS for name in ADAPTERS},
    **{name: DOMAIN | BASICS | ADAPTERS for name in SERVICES},
    **{name: DOMAIN | BASICS | ADAPTERS for name in OBSERVABILITY},
    **{name: DOMAIN | BASICS | ADAPTERS | SERVICES | OBSERVABILITY for name in FRONT},
    "app": DOMAIN | BASICS | ADAPTERS | SERVICES | OBSERVABILITY | FRONT,
    "cli": DOMAIN | BASICS | ADAPTERS | SERVICES | OBSERVABILITY | FRONT | {"app"},
}

# Third-party frameworks that belong to one layer: Telegram stays out of the services.
FRAMEWORKS: dict[str, frozenset[str]] = {
    "aiogram": FRONT | TOP,
    "typer": frozenset({"cli"}),
}


def _package_of(path: Path) -> str:
    """`companion/bot/routers/chat.py` -> "bot"; `companion/config/services.py` -> "config"."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return parts[0]


def _module_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> list[tuple[str, int]]:
    return _imports_in(path.read_text(encoding="utf-8"), _module_of(path), path.name)


def _imports_in(text: str, module: list[str], filename: str) -> list[tuple[str, int]]:
    """Absolute names of every module the source imports, with the line; relative imports
    resolved against `module` (["companion", "bot", "runner"])."""
    tree = ast.parse(text, filename=filename)
    package = module if filename == "__init__.py" else module[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            found.append((name, node.lineno))
            # `from companion import billing` imports the package billing.
            found.extend((f"{name}.{alias.name}", node.lineno) for alias in node.names)
    return found


def _sources() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if p.parent != ROOT or p.name != "__init__.py")


def _ours(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "companion" or len(parts) < 2:
        return None
    name = parts[1]
    return name if (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file() else None


def package_graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> ["file:line", ...]."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in _sources():
        source = _package_of(path)
        for module, line in _imports(path):
            target = _ours(module)
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            if target is not None and target != source and where not in graph[source][target]:
                graph[source][target].append(where)
    return graph


def _cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_has_a_layer() -> None:
    packages = {_package_of(p) for p in _sources()}
    assert packages - set(ALLOWED) == set(), "add new packages to a layer in this test"


def test_the_package_graph_has_no_cycles() -> None:
    graph = package_graph()
    cycles = _cycles(graph)
    detail = {
        f"{a} -> {b}": graph[a][b][:3]
        for cycle in cycles
        for a in cycle
        for b in cycle
        if b in graph[a]
    }
    assert cycles == [], detail


def test_packages_import_only_their_layer_and_below() -> None:
    graph = package_graph()
    wrong = {
        f"{source} -> {target}": where[:3]
        for source, targets in graph.items()
        for target, where in targets.items()
        if target not in ALLOWED.get(source, frozenset())
    }
    assert wrong == {}, wrong


def test_frameworks_stay_in_their_layer() -> None:
    wrong: list[str] = []
    for path in _sources():
        package = _package_of(path)
        for module, line in _imports(path):
            framework = module.split(".")[0]
            if framework in FRAMEWORKS and package not in FRAMEWORKS[framework]:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line} imports {module}")
    assert wrong == [], wrong


# "About 400 lines": a module past this holds more than one concept; split it by concept.
MAX_MODULE_LINES = 420


def test_no_module_is_over_about_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT.parent)): lines
        for path in _sources()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_the_reader_sees_type_checking_lazy_and_relative_imports() -> None:
    """An import under TYPE_CHECKING or inside a function still couples the packages."""
    text = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from companion.app import Container\n"
        "def f():\n"
        "    import companion.bot.runner\n"
        "from . import crypto\n"
        "from ..domain.models import User\n"
    )
    names = {name for name, _ in _imports_in(text, ["companion", "storage", "probe"], "probe.py")}
    assert {_ours(name) for name in names} >= {"app", "bot", "storage", "domain"}
    assert "companion.storage.crypto" in names
    assert "companion.domain.models" in names

"""The package's import graph: no import cycle but the named ones, a domain that stands alone.

The graph is built from the package's own source with ``ast``, not by importing it:

* every ``import`` and ``from ... import`` counts, at module level or inside a function
  (an import deferred into a function still ties the two modules together; deferring it only
  hides the cycle from Python's loader), relative imports resolved against the module's
  package;
* imports under ``if TYPE_CHECKING:`` do not count: they never run;
* ``from package import name`` points at ``package.name`` when that is a module, otherwise
  at ``package`` itself; importing a submodule does not count as importing its parent
  packages (Python loads them, but every module of a package already depends on its
  ``__init__`` that way, which would make every re-exporting ``__init__`` a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "saleor_retention_plugin"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE

# Every cycle the package has today, each as the set of modules it runs through (a strongly
# connected component of the graph). This list only shrinks: a new cycle fails the test, and
# each entry must be removed (or cut down) in the change that fixes it; the test below fails
# once an entry no longer matches any cycle at all.
KNOWN_CYCLES: dict[str, frozenset[str]] = {
    # None today. The last four went in issue 13: the delivery registry (send_message moved
    # to delivery/sending.py), endpoints and delivery views (views load by name, like the
    # GraphQL views), reward codes and Saleor vouchers (the Saleor issuer is resolved by
    # its dotted path), graphql types and membership types (shared pieces moved to
    # graphql/pagination.py and graphql/translations.py).
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_sources() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_statements(
    tree: ast.AST, *, type_checking: bool = False
) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, with those under ``if TYPE_CHECKING:`` only if asked."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            if not type_checking and is_type_checking_block(child):
                assert isinstance(child, ast.If)
                for other in child.orelse:
                    visit(other)
                continue
            visit(child)

    visit(tree)
    return found


def own_module(name: str, modules: set[str]) -> str | None:
    """The module of ours that importing ``name`` loads, or None when it is not ours."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(
    module: str, path: Path, modules: set[str], *, type_checking: bool = False
) -> set[str]:
    """The modules of ours that ``module`` (at ``path``) imports."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in import_statements(tree, type_checking=type_checking):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for name in names:
            target = own_module(name, modules)
            if target is not None and target != module:
                targets.add(target)
    return targets


def import_graph() -> dict[str, set[str]]:
    sources = package_sources()
    modules = set(sources)
    return {module: imports_of(module, path, modules) for module, path in sources.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
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
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = sorted(
        f"  {source} -> {target}"
        for source in component
        for target in graph[source]
        if target in component
    )
    return "\n".join(edges)


def test_the_graph_resolves_relative_imports_to_modules():
    graph = import_graph()

    # domain/earning.py: `from .credit_trigger import CreditTrigger`, `from .orders import ...`
    assert {f"{PACKAGE}.domain.credit_trigger", f"{PACKAGE}.domain.orders"} <= graph[
        f"{PACKAGE}.domain.earning"
    ]
    # conf.py: `from .domain.contact_rules import FrequencyCap, QuietHours`
    assert f"{PACKAGE}.domain.contact_rules" in graph[f"{PACKAGE}.conf"]


def test_the_cycle_finder_finds_a_cycle_and_ignores_a_chain():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}

    assert cycles(graph) == [frozenset({"a", "b", "c"})]


def test_no_import_cycle_but_the_known_ones():
    graph = import_graph()

    unknown = [
        component
        for component in cycles(graph)
        if not any(component <= known for known in KNOWN_CYCLES.values())
    ]

    assert not unknown, "import cycles not in KNOWN_CYCLES:\n" + "\n\n".join(
        describe(component, graph) for component in unknown
    )


def test_every_known_cycle_still_exists():
    """A fixed cycle leaves the allow-list in the same change (the list is empty today)."""
    current = cycles(import_graph())

    gone = [
        name
        for name, known in sorted(KNOWN_CYCLES.items())
        if not any(component & known for component in current)
    ]

    assert gone == [], f"these cycles are gone: remove them from KNOWN_CYCLES: {gone}"


def test_the_domain_imports_nothing_of_ours_outside_it():
    """Not even for type checking: the rules must be readable and testable on their own."""
    sources = package_sources()
    modules = set(sources)
    domain = f"{PACKAGE}.domain"
    outside = {}
    for module, path in sources.items():
        if module == domain or module.startswith(f"{domain}."):
            targets = imports_of(module, path, modules, type_checking=True)
            stray = {t for t in targets if t != domain and not t.startswith(f"{domain}.")}
            if stray:
                outside[module] = sorted(stray)

    assert outside == {}

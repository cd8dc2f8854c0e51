"""The import layers of DESIGN.md hold: a package imports only its own layer's public
faces or lower ones (tasks, models < corpus, rewards < evaluation < train, probes < lab <
cli), and
train and probes never import each other. Read from the source with ``ast`` (function-level
imports count too), so a violation fails even when it is never executed."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "sparring"

# what each top-level module or package of sparring may import from sparring
BOTTOM = {"settings", "stats", "atomic", "runcard"}  # plain helpers every layer may use
ALLOWED: dict[str, set[str]] = {
    "tasks": set(),
    "models": BOTTOM,
    "settings": set(),
    "stats": set(),
    "atomic": set(),
    "runcard": {"atomic"},
    "corpus": {"tasks"} | BOTTOM,
    "rewards": {"tasks"} | BOTTOM,
    "evaluation": {"tasks", "models", "corpus"} | BOTTOM,
    "train": {"tasks", "models", "corpus", "rewards", "evaluation"} | BOTTOM,
    "probes": {"tasks", "models", "corpus", "rewards", "evaluation"} | BOTTOM,
    "lab": {"tasks", "models", "corpus", "rewards", "evaluation", "train", "probes"} | BOTTOM,
    "cli": {"tasks", "models", "corpus", "rewards", "evaluation", "train", "probes", "lab"} | BOTTOM,
    "__main__": {"cli"},
}
ROOT_NAMES = {"__version__"}  # what ``from sparring import ...`` may take from the root


def imported(path: Path, root: Path = SRC) -> set[str]:
    """The sparring top-level names a module under ``root`` imports (absolute or relative)."""
    parts = path.relative_to(root).parts
    depth = len(parts) - 1  # packages between the root and the file
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("sparring.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] == "sparring":
                mod = node.module.split(".")
                out |= {mod[1]} if len(mod) > 1 else {a.name for a in node.names}
            elif node.level == depth + 1:  # relative to the root package
                out |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
    return out


def test_no_module_imports_above_its_layer():
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).parts
        top = parts[0].removesuffix(".py")
        if top == "__init__":
            continue
        assert top in ALLOWED, f"{top}: a new top-level module needs its layer in ALLOWED"
        bad = imported(path) - ALLOWED[top] - {top} - ROOT_NAMES
        if bad:
            found[str(path.relative_to(SRC))] = sorted(bad)
    assert not found, f"imports above the layer: {found}"


def test_the_checker_sees_violations(tmp_path):
    """A control: the checker reports an upward import in each spelling."""
    pkg = tmp_path / "sparring"
    (pkg / "tasks" / "fam").mkdir(parents=True)
    (pkg / "tasks" / "fam" / "x.py").write_text(
        "def f():\n    from ...train import train\n    import sparring.probes.registry\n"
        "    from sparring.lab import spec\n"
    )
    assert imported(pkg / "tasks" / "fam" / "x.py", pkg) == {"train", "probes", "lab"}


def module_graph(root: Path = SRC) -> dict[str, set[str]]:
    """module -> the sparring modules it imports (function-level imports too), by dotted
    name below ``root`` (``probes.common``); a package is its ``__init__``."""

    def name_of(path: Path) -> str:
        parts = list(path.relative_to(root).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    raw: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        name = name_of(path)
        pkg = (name if path.name == "__init__.py" else name.rpartition(".")[0]).split(".") if name else []
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg[: len(pkg) - node.level + 1]
                deps |= (
                    {".".join(base + [node.module])} if node.module else {".".join(base + [a.name]) for a in node.names}
                )
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sparring."):
                deps.add(node.module.removeprefix("sparring."))
            elif isinstance(node, ast.Import):
                deps |= {a.name.removeprefix("sparring.") for a in node.names if a.name.startswith("sparring.")}
        raw[name] = deps

    def resolve(dep: str) -> str:  # "probes.result.bootstrap_ci" -> "probes.result"
        while dep and dep not in raw:
            dep = dep.rpartition(".")[0]
        return dep

    return {m: {resolve(d) for d in ds} - {m, ""} for m, ds in raw.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles among the modules inside each package (Tarjan's strongly connected
    components of size > 1); a package's ``__init__`` importing its children is left out."""
    out = []
    for top in sorted({m.split(".")[0] for m in graph}):
        nodes = [m for m in graph if m.startswith(top + ".")]
        sub = {m: {d for d in graph[m] if d in nodes} for m in nodes}
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []

        def strong(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            for w in sub[v]:
                if w not in index:
                    strong(w)
                    low[v] = min(low[v], low[w])
                elif w in stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while not comp or comp[-1] != v:
                    comp.append(stack.pop())
                if len(comp) > 1:
                    out.append(sorted(comp))

        for v in nodes:
            if v not in index:
                strong(v)
    return out


def test_no_import_circle_inside_a_package():
    assert circles(module_graph()) == []


def test_the_circle_finder_sees_one():
    graph = {
        "probes.a": {"probes.b"},
        "probes.b": {"probes.c"},
        "probes.c": {"probes.a"},
        "probes.d": {"probes.a"},
        "probes": {"probes.a"},
    }
    assert circles(graph) == [["probes.a", "probes.b", "probes.c"]]

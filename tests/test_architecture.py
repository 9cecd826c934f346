"""Structure rules of the package: no import cycles (also none hidden in function-level
imports), and modules of one job (at most ~400 lines; the few still above are listed and may
only shrink)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "dynamics"
MAX_LINES = 400
#: Modules still over the limit, with the size they may not exceed (to be split).
OVER_LIMIT = {
}


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = f
    return out


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in known:
                found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if f"{node.module}.{a.name}" in known}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
    return found


def test_no_import_cycles():
    mods = _modules()
    graph = {m: _imports(f, mods) - {m} for m, f in mods.items()}
    seen, on_path, cycles = set(), [], []

    def visit(m):
        if m in on_path:
            cycles.append(on_path[on_path.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        on_path.append(m)
        for d in sorted(graph[m]):
            visit(d)
        on_path.pop()

    for m in sorted(graph):
        visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_modules_have_one_job():
    sizes = {str(f.relative_to(ROOT)): len(f.read_text().splitlines())
             for f in PKG.rglob("*.py")}
    over = {p: n for p, n in sizes.items() if n > MAX_LINES}
    new = sorted(p for p in over if p not in OVER_LIMIT)
    assert not new, f"modules over {MAX_LINES} lines: {new}"
    grown = sorted(p for p, n in over.items() if n > OVER_LIMIT[p])
    assert not grown, f"listed modules grew: {[(p, over[p], OVER_LIMIT[p]) for p in grown]}"


def test_the_library_never_imports_the_cli():
    mods = _modules()
    cli = {m for m in mods if m == "dynamics.cli" or m.startswith("dynamics.cli.")}
    assert {"dynamics.cli.main", "dynamics.cli.common", "dynamics.cli.train"} <= cli
    assert not (PKG / "cli.py").exists(), "the command line is the dynamics/cli/ package"
    bad = sorted((m, d) for m, f in mods.items() if m not in cli and m != "dynamics.__main__"
                 for d in _imports(f, mods) & cli)
    assert not bad, f"library modules importing the CLI: {bad}"

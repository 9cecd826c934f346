"""Structure rules of the package (docs/ARCHITECTURE.md): engine by layer, studies by theory.

* Layers: core < numerics < predictors / metrics / losses < train < verify < plots < theories <
  workflows < cli. No module imports a package of a higher layer (module-level or
  function-level imports alike), and no two packages import each other (no package cycles).
* Inside a theory package: the model and its symbolic check never import the theory's
  predictions or figures; predictions never import figures; a theory imports another theory's
  model only.
* Every theory package defines ``PAPER`` with its own key, and its predictions and figures carry
  that key as their prefix; adding a theory is one folder (checked on a toy theory).
* Modules of one job (at most ~400 lines) and a library that never imports the CLI.
"""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "dynamics"
MAX_LINES = 400
#: Modules still over the limit, with the size they may not exceed (to be split).
OVER_LIMIT = {
}
#: The layers of the engine, lowest first (the core is every module directly in dynamics/).
LAYERS = ("core", "numerics", ("predictors", "metrics", "losses"), "train", "verify", "plots",
          "theories", "workflows", "cli")
RANK = {name: i for i, layer in enumerate(LAYERS)
        for name in ((layer,) if isinstance(layer, str) else layer)}


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = f
    return out


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Every module of the package that ``path`` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names
                    if f"{node.module}.{a.name}" in known}
            found |= subs
            if node.module in known and len(subs) < len(node.names):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(f, mods) - {m} for m, f in mods.items()}


def layer(module: str) -> str:
    """The layer of a module: its top-level package, or ``core`` for dynamics/*.py."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] == "__main__":
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "core"


def package(module: str, mods: dict[str, Path]) -> str:
    """The package a module belongs to (itself for a package's __init__)."""
    return module if mods[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def theory_part(module: str) -> tuple[str, str] | None:
    """``(key, part)`` for a module of ``dynamics.theories.<key>``: part is ``predictions``,
    ``figures`` or ``model`` (everything else: the equations, the symbolic check, helpers)."""
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "theories":
        return None
    rest = parts[3:]
    return parts[2], rest[0] if rest and rest[0] in ("predictions", "figures") else "model"


def test_every_package_has_a_layer():
    tops = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert tops == set(RANK) - {"core"}, f"packages without a layer: {tops - set(RANK)}"


def test_no_module_imports_a_higher_layer():
    bad = sorted((m, d) for m, deps in _graph().items() for d in deps
                 if RANK[layer(d)] > RANK[layer(m)])
    assert not bad, "imports upward: " + "; ".join(f"{m} -> {d}" for m, d in bad)


def test_no_import_cycles():
    graph = _graph()
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


def _package_graph() -> dict[str, set[str]]:
    """Package -> the packages it imports (a package's own sub- and parent packages
    excluded: containment is not a dependency)."""
    mods = _modules()
    pg: dict[str, set[str]] = {}
    for m, deps in _graph().items():
        pm = package(m, mods)
        for d in deps:
            pd = package(d, mods)
            if pd != pm and not pd.startswith(pm + ".") and not pm.startswith(pd + "."):
                pg.setdefault(pm, set()).add(pd)
    return pg


def test_no_package_cycles():
    """Package-level graph: no strongly connected component larger than one package."""
    pg = _package_graph()
    index, low, stack, on, comps = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in pg.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(pg):
        if v not in index:
            strong(v)
    assert not comps, f"package cycles: {comps}"


def test_theory_packages_keep_their_parts_apart():
    order = {"model": 0, "predictions": 1, "figures": 2}
    bad = []
    for m, deps in _graph().items():
        tm = theory_part(m)
        if tm is None:
            continue
        for d in deps:
            td = theory_part(d)
            if td is None:
                continue
            if td[0] != tm[0] and td[1] != "model":
                bad.append(f"{m} -> {d} (another theory's {td[1]})")
            elif td[0] == tm[0] and order[td[1]] > order[tm[1]]:
                bad.append(f"{m} -> {d} ({tm[1]} importing {td[1]})")
    assert not bad, "; ".join(sorted(bad))


def test_each_theory_is_named_once():
    from dynamics.plots import FIGURES
    from dynamics.verify import PAPERS, PREDICTIONS
    from dynamics.verify.papers import theory_names

    assert list(PAPERS) and set(PAPERS) == set(theory_names())
    for key, paper in PAPERS.items():
        assert paper.key == key and paper.authors and paper.title
    assert all(pid.split(".", 1)[0] in PAPERS for pid in PREDICTIONS)
    for name, spec in FIGURES.items():
        assert spec.paper in PAPERS and name.startswith(spec.paper)
        assert spec.module.startswith(f"dynamics.theories.{spec.paper}.")
        assert set(spec.predictions) <= set(PREDICTIONS), name
    assert "PAPERS = " not in (PKG / "plots" / "base.py").read_text()


TOY = {
    "__init__.py": '''
        """A toy theory."""
        from dynamics.verify.papers import Paper
        PAPER = Paper("zz_toy", "Nobody", "A toy", "nowhere 2099", 2099)
        ''',
    "model.py": '''
        """The toy model."""
        def answer():
            """42."""
            return 42
        ''',
    "predictions.py": '''
        """The toy prediction."""
        from dynamics.theories.zz_toy.model import answer
        from dynamics.verify import Outcome, prediction
        @prediction("zz_toy.answer", "the answer is 42", "nowhere", "simulation")
        def check(ctx):
            return Outcome.judged(answer() == 42, theory="42", measured=str(answer()),
                                  rule="equal")
        ''',
    "figures.py": '''
        """The toy figure."""
        from dynamics.plots.base import figure
        @figure("zz_toy_answer", "the answer", predictions=("zz_toy.answer",))
        def make(out_dir, *, quick=False):
            raise NotImplementedError
        ''',
}


def test_adding_a_theory_is_one_folder(tmp_path):
    """A new package under dynamics/theories/ (here on an extra path of that package) is found
    by the papers, the predictions and the figures, with no edit anywhere else."""
    root = tmp_path / "zz_toy"
    root.mkdir()
    for name, text in TOY.items():
        (root / name).write_text(textwrap.dedent(text).lstrip())
    code = textwrap.dedent(f'''
        import dynamics.theories
        dynamics.theories.__path__.append({str(tmp_path)!r})
        from dynamics.plots import FIGURES
        from dynamics.verify import PAPERS, PREDICTIONS, Context
        assert "zz_toy" in PAPERS, list(PAPERS)
        out = PREDICTIONS["zz_toy.answer"].evaluate(Context("smoke", {str(tmp_path)!r}))
        assert out.status == "confirmed", out
        assert FIGURES["zz_toy_answer"].paper == "zz_toy"
        print("ok")
        ''')
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]


def test_a_prediction_outside_its_theory_prefix_is_refused():
    import pytest

    from dynamics.verify import prediction

    def evaluate(ctx):
        return None

    evaluate.__module__ = "dynamics.theories.isoloss.predictions"
    with pytest.raises(ValueError, match="must start with 'isoloss.'"):
        prediction("halvagal.rates", "c", "s", "simulation")(evaluate)


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

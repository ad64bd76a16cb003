"""The package's layers: imports go only downwards, with no cycles (docs/architecture.md).

physics → io → model → inference → workflows → report → the top (cli, job, demo, the package itself).
The test parses every module (no import is executed) and fails on an upward import, an import
cycle between modules, or a bayesmusr import hidden inside a function.
"""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "bayesmusr"
LAYERS = ("physics", "io", "model", "inference", "workflows", "report")
TOP = len(LAYERS)  # cli.py, job.py, demo.py, __init__.py, __main__.py
#: third-party modules that may be imported inside a function: optional, isolated in a child
#: process, or heavy enough that only the commands that plot should pay for them
LOCAL_OK = ("pyhdf", "mudpy", "musr2py", "matplotlib", "arviz", "uproot")


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    if module == "bayesmusr._version":
        return -1  # below every layer
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else TOP


def _imports(path: pathlib.Path):
    """(imported bayesmusr module, line, inside a function?) of one file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            yield name, node.lineno, id(node) in local


def _modules():
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _edges():
    mods = _modules()
    edges = {}
    for name, path in mods.items():
        for imp, line, _ in _imports(path):
            if imp in mods and imp != name:
                edges.setdefault(name, {})[imp] = line
    return mods, edges


def test_imports_only_go_down():
    mods, edges = _edges()
    bad = [f"{mods[a].relative_to(PACKAGE.parent)}:{line} imports {b} ({LAYERS[_layer(a)] if _layer(a) < TOP else 'top'}"
           f" → {LAYERS[_layer(b)] if _layer(b) < TOP else 'top'})"
           for a, targets in edges.items() for b, line in targets.items() if _layer(b) > _layer(a)]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles():
    mods, edges = _edges()
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in edges.get(m, {}):
            # a package's __init__ importing its own submodules is not a cycle of the design
            if state.get(n) == 1 and not m.startswith(n + "."):
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(mods):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_imports_at_module_level():
    hidden = []
    for path in PACKAGE.rglob("*.py"):
        for name, line, local in _imports(path):
            if local and not name.split(".")[0] in LOCAL_OK and "." not in name.split(".")[0]:
                top = name.split(".")[0]
                if top == "bayesmusr" or top not in LOCAL_OK:
                    hidden.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} inside a function")
    assert not sorted(set(hidden)), "\n".join(sorted(set(hidden)))


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_exists_and_says_what_it_owns(layer):
    init = PACKAGE / layer / "__init__.py"
    assert init.exists()
    assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))


def test_every_module_has_a_docstring():
    missing = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
               if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not missing, missing


def _undocumented():
    """Public functions and methods whose docstring lacks numpydoc Parameters (if they take any) or Returns."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                funcs = [node]
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                funcs = [n for n in node.body if isinstance(n, ast.FunctionDef)]
            else:
                continue
            for f in funcs:
                if f.name.startswith("_"):
                    continue
                doc = ast.get_docstring(f) or ""
                args = [a.arg for a in f.args.args + f.args.kwonlyargs if a.arg not in ("self", "cls")]
                args += [a.arg for a in (f.args.vararg, f.args.kwarg) if a is not None]
                is_property = any(isinstance(d, ast.Name) and d.id == "property" for d in f.decorator_list)
                returns = any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(f))
                if (args and "Parameters" not in doc) or (returns and not is_property and "Returns" not in doc):
                    out.append(f"{path.relative_to(PACKAGE.parent)}:{f.lineno} {f.name}")
    return out


def test_public_functions_document_parameters_and_returns():
    missing = _undocumented()
    assert not missing, f"{len(missing)} public functions without numpydoc Parameters/Returns:\n" + "\n".join(missing)

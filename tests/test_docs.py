"""The documentation stays true to the code: generated parameter tables, links, file paths, API names.

* the parameter tables of docs/models-priors.md are exactly what ``docs/gen_params.py`` writes
  from ``bayesmusr.model.parameters`` (fix: ``.venv/bin/python docs/gen_params.py``);
* every relative link in docs/*.md and README.md points to an existing file;
* every repository path and every ``bayesmusr.…`` name written in backticks exists.
"""
import importlib
import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
FIX = ".venv/bin/python docs/gen_params.py"


def _gen_params():
    spec = importlib.util.spec_from_file_location("gen_params", DOCS / "gen_params.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rel(page: pathlib.Path) -> str:
    return str(page.relative_to(ROOT))


def test_parameter_tables_are_generated_from_the_declarations():
    gen = _gen_params()
    text = gen.PAGE.read_text(encoding="utf-8")
    names = [m.group("name") for m in gen.MARKER.finditer(text)]
    assert sorted(set(names)) == sorted(gen.BLOCKS), (
        f"docs/models-priors.md should hold every generated table once; markers found: {names}")
    assert gen.render(text) == text, f"docs/models-priors.md has stale parameter tables; run: {FIX}"


def test_setup_option_table_is_generated_from_the_declaration():
    gen = _gen_params()
    text = gen.SETUP_PAGE.read_text(encoding="utf-8")
    assert len(gen.SETUP_MARKER.findall(text)) == 1, "docs/coming-from-musrfit.md needs one setup:options table"
    assert gen.render_setup(text) == text, f"docs/coming-from-musrfit.md has a stale set-up table; run: {FIX}"
    from bayesmusr.io.setup import SETUP_OPTIONS
    assert all(f"| `{o.name}` | `{o.flag}` |" in text for o in SETUP_OPTIONS)


def test_generated_tables_list_every_declared_parameter():
    from bayesmusr.model.parameters import PHYSICS_PARAMETERS, RUN_PARAMETERS, SCAN_PARAMETERS

    text = (DOCS / "models-priors.md").read_text(encoding="utf-8")
    for p in [*(p for ps in PHYSICS_PARAMETERS.values() for p in ps), *(p for p, _, _ in RUN_PARAMETERS),
              *SCAN_PARAMETERS]:
        assert f"| `{p.name}` | {p.unit} | {p.default_prior().short()} |" in text, (p.name, FIX)


_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_point_to_existing_files(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for m in _LINK.finditer(text):
        target = m.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{_rel(page)}: links to missing files: {broken}"


#: `path/to/file` in backticks, starting with a folder of the repository
_PATH = re.compile(r"`((?:bayesmusr|docs|tests|benchmarks|examples)/[^`\s<>*]*?)(?:::[\w\[\]-]+)?`")
#: folders the tools write into (git-ignored), named in the docs as outputs
OUTPUTS = {"examples/output/"}


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_repository_paths_in_backticks_exist(page):
    text = page.read_text(encoding="utf-8")
    missing = sorted({m.group(1) for m in _PATH.finditer(text) if m.group(1) not in OUTPUTS and not (ROOT / m.group(1)).exists()})
    assert not missing, f"{_rel(page)}: these files or folders do not exist: {missing}"


#: `bayesmusr.name.name` in backticks (optionally called: `bayesmusr.ea(t, ...)`), or a ::: directive
_NAME = re.compile(r"(?:`|^::: )(bayesmusr(?:\.[A-Za-z_]\w*)+)", flags=re.M)


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        try:
            for attr in parts[k:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_bayesmusr_names_in_the_docs_exist(page):
    text = page.read_text(encoding="utf-8")
    stale = sorted({m.group(1) for m in _NAME.finditer(text) if not _resolves(m.group(1))})
    assert not stale, f"{_rel(page)}: names that do not exist in the package (moved or renamed?): {stale}"

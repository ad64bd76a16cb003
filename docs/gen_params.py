"""Write the parameter tables of docs/models-priors.md from the declarations in bayesmusr.model.parameters.

Each table sits between ``<!-- params:NAME -->`` and ``<!-- /params -->``; NAME is one of
:data:`BLOCKS`.  Run from the repository top:

    .venv/bin/python docs/gen_params.py          # rewrite the page
    .venv/bin/python docs/gen_params.py --check  # exit 1 if a table is stale (tests/test_docs.py does this)
"""
from __future__ import annotations

import pathlib
import re
import sys

from bayesmusr.io.setup import options_table
from bayesmusr.model.parameters import (CONVENTIONAL_PARAMETERS, HOLDER_PARAMETER, KT_SCAN_PARAMETERS,
                                        NOISE_PARAMETERS, PHYSICS_PARAMETERS, POOL_PARAMETER, RUN_PARAMETERS,
                                        SCAN_PARAMETERS, TWO_STATE_PARAMETERS, markdown_table)

PAGE = pathlib.Path(__file__).resolve().parent / "models-priors.md"
MARKER = re.compile(r"<!-- params:(?P<name>[\w:-]+) -->\n.*?<!-- /params -->", flags=re.S)
#: the run set-up table of docs/coming-from-musrfit.md, from bayesmusr.io.setup.SETUP_OPTIONS
SETUP_PAGE = PAGE.with_name("coming-from-musrfit.md")
SETUP_MARKER = re.compile(r"<!-- setup:options -->\n.*?<!-- /setup -->", flags=re.S)


def _switches() -> str:
    """Which run kinds have each nuisance, and the fit option that switches it on."""
    out = ["| name | runs | switched on by |", "|---|---|---|"]
    for p, kinds, option in RUN_PARAMETERS:
        out.append(f"| `{p.name}` | {', '.join(kinds)} | {f'`{option}`' if option else 'always'} |")
    return "\n".join(out)


#: marker name → the table it holds
BLOCKS = {
    **{f"physics:{m}": (lambda ps=ps: markdown_table(ps)) for m, ps in PHYSICS_PARAMETERS.items()},
    "run": lambda: markdown_table(p for p, _, _ in RUN_PARAMETERS),
    "run-switches": _switches,
    "scan": lambda: markdown_table(SCAN_PARAMETERS),
    "holder": lambda: markdown_table([HOLDER_PARAMETER]),
    "pool": lambda: markdown_table([POOL_PARAMETER]),
    "kt-scan": lambda: markdown_table(KT_SCAN_PARAMETERS),
    "noise": lambda: markdown_table(NOISE_PARAMETERS),
    "conventional": lambda: markdown_table(CONVENTIONAL_PARAMETERS),
    "two-state": lambda: markdown_table(TWO_STATE_PARAMETERS),
}


def render(text: str) -> str:
    """``text`` with every marked table regenerated (KeyError for an unknown marker name)."""
    def block(m: re.Match) -> str:
        name = m.group("name")
        if name not in BLOCKS:
            raise KeyError(f"unknown parameter table {name!r} in {PAGE.name}; known: {sorted(BLOCKS)}")
        return f"<!-- params:{name} -->\n\n{BLOCKS[name]()}\n\n<!-- /params -->"
    return MARKER.sub(block, text)


def render_setup(text: str) -> str:
    """``text`` with its run set-up option table regenerated."""
    return SETUP_MARKER.sub(lambda m: f"<!-- setup:options -->\n\n{options_table()}\n\n<!-- /setup -->", text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stale = 0
    for page, fn in ((PAGE, render), (SETUP_PAGE, render_setup)):
        old = page.read_text(encoding="utf-8")
        new = fn(old)
        if new != old and "--check" in argv:
            print(f"{page} has stale generated tables; run: .venv/bin/python docs/gen_params.py")
            stale = 1
        elif new != old:
            page.write_text(new, encoding="utf-8")
            print(f"rewrote {page}")
    return stale


if __name__ == "__main__":
    raise SystemExit(main())

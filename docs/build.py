"""Build the API reference from the docstrings: ``python docs/build.py [OUTPUT_DIR]``.

Every module of the package gets a page (Google-style docstrings rendered by pdoc, offline). Any
warning pdoc raises (a docstring it cannot parse, a name it cannot resolve) fails the build, so
CI keeps the reference whole.
"""

from __future__ import annotations

import pkgutil
import sys
import warnings
from pathlib import Path

import pdoc

import dcl


def modules() -> list[str]:
    """Every importable module of ``dcl`` (``__main__`` scripts left out)."""
    found = pkgutil.walk_packages(dcl.__path__, prefix="dcl.")
    return ["dcl", *sorted(m.name for m in found if not m.name.endswith("__main__"))]


def main(output: Path) -> None:
    """Render every module into ``output`` (HTML, with search)."""
    pdoc.render.configure(docformat="google", footer_text=f"dcl {dcl.__version__}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # pdoc reports problems as warnings
        # Packages with ``__all__`` hide their submodules from pdoc's walk, so every module is
        # named; pdoc then notes the ones it had already found through a package.
        warnings.filterwarnings("ignore", message=".*has already been added", category=UserWarning)
        pdoc.pdoc(*modules(), output_directory=output)
    pages = sorted(output.rglob("*.html"))
    print(f"API reference: {len(pages)} pages in {output} (open {output / 'index.html'})")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/api"))

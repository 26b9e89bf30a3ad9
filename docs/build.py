"""Build the documentation site: ``python docs/build.py [OUTPUT_DIR]``.

Every module of the package gets a page (Google-style docstrings rendered by pdoc, offline), and
the README and the guides (``docs/*.md``, plus the result pages they link to) are rendered into
``OUTPUT_DIR/guide/`` beside it, the README as ``guide/index.html``, each page linking the others
and the API reference; ``OUTPUT_DIR/index.html`` links them all. Any warning pdoc raises (a
docstring it cannot parse, a name it cannot resolve) and any broken relative link in the README
or the guides (``docs/links.py``) fails the build, so CI keeps the site whole.
"""

from __future__ import annotations

import html
import pkgutil
import re
import sys
import warnings
from pathlib import Path

import markdown2  # pdoc's own Markdown renderer, installed with it
import pdoc
import pdoc.render_helpers

import dcl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import links  # noqa: E402  (docs/links.py, beside this script)

EXTRAS = {"code-friendly", "cuddled-lists", "fenced-code-blocks", "header-ids", "tables", "strike"}
"""The extras of pdoc's Markdown rendering that the guides use (pdoc's settings for each)."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - dcl</title>
<style>body{{max-width:52rem;margin:2rem auto;padding:0 1rem;font:16px/1.5 sans-serif}}
nav{{font-size:.9rem;border-bottom:1px solid #ccc;padding-bottom:.5rem}}
pre,code{{background:#f5f5f5}}pre{{padding:.5rem;overflow-x:auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .4rem}}</style>
</head><body><nav>{nav}</nav><main>{body}</main>
<footer><small>dcl {version}</small></footer></body></html>
"""


def modules() -> list[str]:
    """Every importable module of ``dcl`` (``__main__`` scripts left out)."""
    found = pkgutil.walk_packages(dcl.__path__, prefix="dcl.")
    return ["dcl", *sorted(m.name for m in found if not m.name.endswith("__main__"))]


def html_name(page: Path, root: Path) -> str:
    """The file name a rendered page gets in ``guide/``: the README is the index.

    Args:
        page: A Markdown file of the repository.
        root: The repository root.

    Returns:
        ``index.html`` for the README, ``NAME.html`` for ``docs/NAME.md``, and the path with
        ``/`` as ``-`` for any other page (``results-README.html``).
    """
    relative = page.resolve().relative_to(root)
    if relative == Path("README.md"):
        return "index.html"
    if relative.parent == Path("docs"):
        return relative.with_suffix(".html").name
    return "-".join(relative.with_suffix(".html").parts)


def guide_pages(root: Path) -> list[Path]:
    """The README, the guides, and every other Markdown file of the repository they link to."""
    found = links.pages(root)
    for page in list(found):
        for target in links.links(page):
            path = target.partition("#")[0]
            if path.endswith(".md") and not links.EXTERNAL.match(target):
                linked = (page.parent / path).resolve()
                if linked.exists() and linked not in {p.resolve() for p in found}:
                    found.append(linked)
    return found


def to_html(text: str, page: Path, root: Path) -> str:
    """One page's Markdown as HTML, its links to other pages pointing at their rendered pages.

    Heading ids are set to GitHub's (``links.slug``), so ``page.md#anchor`` links work on GitHub
    and in the site alike.
    """

    def relink(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        path, hash_, anchor = target.partition("#")
        if path.endswith(".md") and not links.EXTERNAL.match(target):
            path = html_name(page.parent / path, root)
        return f"[{label}]({path}{hash_}{anchor})"

    body = markdown2.markdown(
        re.sub(r"\[([^\]]*)\]\(([^)\s]+)\)", relink, text),
        extras={k: v for k, v in pdoc.render_helpers.markdown_extensions.items() if k in EXTRAS},
    )
    ids = iter(links.anchors(text))
    return re.sub(r"<h([1-6]) id=\"[^\"]*\">", lambda m: f'<h{m[1]} id="{next(ids, "")}">', body)


def render_guides(output: Path, root: Path) -> list[Path]:
    """Render the README and the guides into ``output/guide/``.

    Args:
        output: The site's folder (the API reference's).
        root: The repository root.

    Returns:
        The HTML files written.
    """
    pages = guide_pages(root)
    folder = output / "guide"
    folder.mkdir(parents=True, exist_ok=True)
    nav = " | ".join(
        f'<a href="{html_name(p, root)}">{html.escape(title(p, root))}</a>' for p in pages
    )
    nav += ' | <a href="../dcl.html">API reference</a> | <a href="../index.html">index</a>'
    written = []
    for page in pages:
        text = page.read_text()
        out = folder / html_name(page, root)
        body = to_html(text, page, root)
        out.write_text(
            PAGE.format(
                title=html.escape(title(page, root)), nav=nav, body=body, version=dcl.__version__
            )
        )
        written.append(out)
    return written


def write_index(output: Path, root: Path) -> Path:
    """Write the site's ``index.html``: links to every guide page and to the API reference.

    It replaces pdoc's own index, which only redirects to the package's page.

    Args:
        output: The site's folder.
        root: The repository root.

    Returns:
        The index written.
    """
    items = "".join(
        f'<li><a href="guide/{html_name(p, root)}">{html.escape(title(p, root))}</a></li>'
        for p in guide_pages(root)
    )
    body = (
        f"<h1>dcl {dcl.__version__}</h1><h2>Guides</h2><ul>{items}</ul>"
        '<h2>API reference</h2><ul><li><a href="dcl.html">dcl</a> (every module, with search)'
        "</li></ul>"
    )
    index = output / "index.html"
    index.write_text(PAGE.format(title="index", nav="", body=body, version=dcl.__version__))
    return index


def title(page: Path, root: Path) -> str:
    """A page's short name in the navigation: ``README`` or the path under the repository."""
    relative = page.resolve().relative_to(root)
    return "README" if relative == Path("README.md") else str(relative.with_suffix(""))


def main(output: Path) -> None:
    """Check the links, then render every module and every guide into ``output``."""
    problems = links.broken_links(links.pages())
    if problems:
        sys.exit("Broken links:\n" + "\n".join(problems))
    pdoc.render.configure(docformat="google", footer_text=f"dcl {dcl.__version__}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # pdoc reports problems as warnings
        # Packages with ``__all__`` hide their submodules from pdoc's walk, so every module is
        # named; pdoc then notes the ones it had already found through a package.
        warnings.filterwarnings("ignore", message=".*has already been added", category=UserWarning)
        pdoc.pdoc(*modules(), output_directory=output)
    pages = sorted(output.rglob("*.html"))
    guides = render_guides(output, links.ROOT)
    index = write_index(output, links.ROOT)
    print(f"API reference: {len(pages)} pages and {len(guides)} guide pages in {output}")
    print(f"Open {index}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/api"))

"""Check the relative links of the README and the guides: ``python docs/links.py``.

Every relative link in ``README.md`` and ``docs/*.md`` must name an existing file, and a
``#anchor`` must name a heading of the page it points at (GitHub's heading ids). Links to other
sites (``https://...``, ``mailto:``) are not followed. ``docs/build.py`` runs this check and fails
the build on a broken link; it exits with status 1 when run alone.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```.*?^```[^\n]*$", flags=re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", flags=re.M)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def pages(root: Path = ROOT) -> list[Path]:
    """The pages whose links are checked: the README, then every ``docs/*.md``.

    Args:
        root: The repository root.

    Returns:
        The pages, README first, the guides in name order.
    """
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The Markdown without its fenced code blocks and code spans, where links are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens.

    Args:
        heading: The heading's text, without the leading ``#``s.

    Returns:
        The anchor, e.g. ``"7-published-accuracies-convnet-test-accuracy-"``.
    """
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> list[str]:
    """The heading ids of a Markdown page in order, repeated headings numbered as GitHub does."""
    seen: dict[str, int] = {}
    found = []
    for heading in HEADING.findall(FENCE.sub("", text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.append(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    """Every link target written in a page's prose (code blocks and spans left out)."""
    return LINK.findall(prose(page.read_text()))


def broken_links(paths: list[Path]) -> list[str]:
    """The relative links of ``paths`` that point at no file, or at no heading of their page.

    Args:
        paths: Markdown files to check.

    Returns:
        One line per broken link, ``"PAGE: TARGET (why)"``; empty when every link resolves.
    """
    problems = []
    for page in paths:
        for target in links(page):
            if EXTERNAL.match(target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page.resolve()
            if not file.exists():
                problems.append(f"{page}: {target} (no file {file})")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
                problems.append(f"{page}: {target} (no heading #{anchor} in {file.name})")
    return problems


def main() -> int:
    """Print every broken link of the README and the guides; 1 if there is any, else 0."""
    problems = broken_links(pages())
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

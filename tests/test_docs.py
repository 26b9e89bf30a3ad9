"""The link check of ``docs/build.py``: a broken link or anchor fails, the real pages pass."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def links() -> ModuleType:
    """``docs/links.py``, which is a script beside the docs rather than a package module."""
    spec = importlib.util.spec_from_file_location("docs_links", ROOT / "docs" / "links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_and_the_guides_have_no_broken_link(links):
    pages = links.pages()
    assert pages[0] == ROOT / "README.md" and ROOT / "docs" / "methods.md" in pages
    assert links.broken_links(pages) == []


def test_a_link_to_a_missing_file_or_heading_is_reported(links, tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section, with commas\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md) [ok](other.md#a-section-with-commas) [ok](#page)\n"
        "[web](https://example.org/missing.md) `[code](missing.md)`\n\n"
        "```bash\necho [not a link](missing.md)\n```\n\n"
        "[bad](missing.md) [bad](other.md#no-such-heading) [bad](#nowhere)\n"
    )
    problems = links.broken_links([page])
    assert len(problems) == 3, problems
    assert "missing.md (no file" in problems[0]
    assert "other.md#no-such-heading (no heading" in problems[1]
    assert "#nowhere (no heading" in problems[2]


def test_heading_ids_are_githubs(links):
    text = "# dcl: one\n\n## 7. Accuracies (ConvNet, %)\n\n```\n# not a heading\n```\n"
    text += "\n## Notes\n## Notes\n"
    assert links.anchors(text) == ["dcl-one", "7-accuracies-convnet-", "notes", "notes-1"]

"""The README's Python example runs as written, and ``import dcl`` exposes the public API."""

from __future__ import annotations

import re
from pathlib import Path

import dcl

README = Path(__file__).resolve().parents[1] / "README.md"


def test_public_names_are_importable_from_dcl():
    for name in dcl.__all__:
        assert getattr(dcl, name) is not None, name
    assert dcl.SynthesisModule.__module__ == "dcl.synthesis.module"


def test_the_readmes_python_example_runs(tmp_path, monkeypatch, capsys, digits_cache):
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCL_CACHE_DIR", str(digits_cache))
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    printed = {words[0]: float(words[1]) for words in lines if words[:1] in (["dm"], ["random"])}
    assert set(printed) == {"dm", "random"}
    assert all(0.0 <= accuracy <= 100.0 for accuracy in printed.values())

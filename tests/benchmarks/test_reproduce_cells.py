"""The unattended driver of published cells: order, skipping, failures, the shipped list."""

import json
import sys

import pytest

import benchmarks.reproduce_cells as cells_module
from benchmarks.common import REPO
from benchmarks.reproduce_cells import load_cells, main
from benchmarks.reproduce_options import build_parser as reproduce_parser
from dcl.evaluation.parser import build_parser as evaluate_parser

# A stand-in command: appends its name to a journal, then writes its output, or fails.
STAND_IN = (
    "import sys, pathlib; name, out, journal = sys.argv[1:4]; "
    "pathlib.Path(journal).open('a').write(name + '\\n'); "
    "sys.exit(3) if name == 'broken' else pathlib.Path(out).write_text('{}')"
)


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setattr(cells_module, "ENTRY_POINTS", {"reproduce": ["-c", STAND_IN]})


def write_cells(path, names, journal):
    cells = [
        {"name": n, "output": str(path.parent / f"{n}.json"), "reproduce": [n, "{output}", journal]}
        for n in names
    ]
    path.write_text(json.dumps(cells))  # JSON is YAML
    return path


def journal_of(path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_cells_run_in_order_and_a_rerun_starts_at_the_first_unfinished(tmp_path, stand_in):
    journal = tmp_path / "journal"
    cells = write_cells(tmp_path / "cells.yaml", ["a", "broken", "c"], str(journal))
    status = main([str(cells), "--log-dir", str(tmp_path / "logs")])
    assert journal_of(journal) == ["a", "broken", "c"]  # a failure ends its cell only
    assert status["broken"] == {"rc": 3, "seconds": status["broken"]["seconds"], "finished": False}
    assert status["a"]["finished"] and status["c"]["finished"]
    saved = json.loads((tmp_path / "logs" / "status.json").read_text())
    assert saved == status
    main([str(cells), "--log-dir", str(tmp_path / "logs")])
    assert journal_of(journal) == ["a", "broken", "c", "broken"]  # only the unfinished again


def test_only_and_dry_run(tmp_path, stand_in, capsys):
    journal = tmp_path / "journal"
    cells = write_cells(tmp_path / "cells.yaml", ["a", "c"], str(journal))
    main([str(cells), "--only", "c", "--dry-run", "--log-dir", str(tmp_path / "logs")])
    assert journal_of(journal) == [] and "c: " in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--only names no cell .*: zz"):
        main([str(cells), "--only", "zz"])


def test_a_missing_placeholder_or_command_is_a_clear_error(tmp_path):
    path = tmp_path / "cells.yaml"
    path.write_text(json.dumps([{"name": "x", "output": "o.json", "evaluate": ["{data}"]}]))
    with pytest.raises(SystemExit, match=r"uses \{data\}; give it with --set data=VALUE"):
        load_cells(path, {})
    assert load_cells(path, {"data": "/d"})[0]["command"][-1] == "/d"
    path.write_text(json.dumps([{"name": "x", "output": "o.json"}]))
    with pytest.raises(SystemExit, match="cell 1 needs a name, an output and one of"):
        load_cells(path, {})


def test_the_shipped_list_parses_with_both_tools():
    values = {"mnist_root": "/data", "cifar10_root": "/data/c", "extractor": "/e.pt"}
    cells = load_cells(REPO / "benchmarks" / "configs" / "published_cells.yaml", values)
    assert len(cells) == 14 and len({c["name"] for c in cells}) == 14
    for cell in cells:
        command = cell["command"]
        assert command[0] == sys.executable
        if command[1:3] == ["-m", "benchmarks.reproduce"]:
            args = reproduce_parser().parse_args(command[3:])
            assert args.num_models == 20 and args.checkpoint_every
            assert cell["output"].name == f"{args.method}_{args.dataset}_ipc{args.ipc}_full.json"
        else:
            assert command[1] == "evaluate.py"
            cfg = evaluate_parser().parse_args(command[2:])
            assert cfg.num_models == 20 and cfg.output == str(cell["output"])

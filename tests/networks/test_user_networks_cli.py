"""A user's network named by class path through both commands: synthesis and evaluation."""

import re
from pathlib import Path

import pytest

from dcl.cli import train_main
from dcl.data.synthetic import SyntheticSet
from dcl.evaluation.cli import main as evaluate_main
from dcl.networks import NETWORK_NAMES
from dcl.seeding import INIT, generator, step_seed
from tests.networks.test_user_networks import TINY


@pytest.fixture(scope="module")
def dm_run(tmp_path_factory, digits_cache):
    """Two DM steps on digits with TinyNet (no ``embed`` method) as the backbone."""
    root = tmp_path_factory.mktemp("user-backbone")
    args = ["fit", "--data.dataset", "digits", "--model.method", "dm", "--model.backbone", TINY]
    args += ["--trainer.max_steps", "2", "--model.batch_real", "8", "--seed_everything", "5"]
    args += ["--trainer.default_root_dir", str(root), "--data.cache_dir", str(digits_cache)]
    args += ["--trainer.callbacks=[]", "--trainer.enable_progress_bar", "false"]
    args += ["--trainer.accelerator", "cpu"]
    return train_main(args)


def test_dm_synthesis_with_a_class_path_backbone(dm_run):
    assert dm_run.trainer.global_step == 2
    syn = SyntheticSet.load(Path(dm_run.trainer.log_dir) / "synthetic.pt")
    assert syn.backbone == TINY and syn.step == 2
    # The images moved from their real initialisation: the fallback embedding carried gradients.
    real = dm_run.datamodule.train.sample(1, generator(step_seed(5, 0, 0, INIT))).flatten(0, 1)
    moved = (dm_run.model.images.detach() - real).abs().amax()
    assert moved > 1e-3


def test_evaluation_trains_the_class_path_named_in_models(dm_run, digits_cache):
    path = str(Path(dm_run.trainer.log_dir) / "synthetic.pt")
    fast = ["--num_models", "1", "--epochs", "2", "--device", "cpu"]
    fast += ["--cache_dir", str(digits_cache)]
    doc = evaluate_main(["--synthetic", path, "--models", f"ConvNet,{TINY}", *fast])
    assert list(doc["results"]) == ["ConvNet", TINY]
    assert 0.0 <= doc["results"][TINY]["mean"] <= 100.0
    assert doc["settings"]["recipes"][TINY]["augment"] == "dsa"  # a DM set: DSA, as ConvNet
    # The default pool S keeps the set's class-path backbone as it is.
    default = evaluate_main(["--synthetic", path, *fast])
    assert list(default["results"]) == [TINY]


def test_evaluation_reports_a_class_path_that_cannot_be_imported(dm_run, digits_cache, capsys):
    path = str(Path(dm_run.trainer.log_dir) / "synthetic.pt")
    with pytest.raises(SystemExit):
        evaluate_main(["--synthetic", path, "--models", "nosuchpkg.Net"])
    assert "no module named 'nosuchpkg'" in capsys.readouterr().err


def test_backbone_help_lists_every_registry_name_and_class_paths(capsys):
    with pytest.raises(SystemExit) as exc:
        train_main(["fit", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    start = re.search(r"^ +--model\.backbone BACKBONE", out, re.MULTILINE).end()
    section = out[start : out.index("\n  --", start)]  # up to the next option
    words = set(re.findall(r"[\w.]+", section))
    assert set(NETWORK_NAMES) <= words
    assert "mypkg.nets.MyNet" in words


def test_an_unknown_backbone_fails_before_training(tmp_path, digits_cache):
    args = ["fit", "--data.dataset", "digits", "--model.backbone", "nosuch.Net"]
    args += ["--trainer.default_root_dir", str(tmp_path), "--data.cache_dir", str(digits_cache)]
    with pytest.raises(ValueError, match="unknown backbone 'nosuch.Net'.*no module named 'nosuch'"):
        train_main(args)
    assert not list(tmp_path.rglob("*.ckpt"))

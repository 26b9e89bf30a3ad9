"""Every shipped config parses and runs one step; the documented overrides work."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from dcl.cli import train_main
from dcl.data.synthetic import SyntheticSet

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PUBLISHED = sorted(CONFIGS.glob("*/*.yaml"))


def test_every_published_setting_has_a_config():
    names = {f"{p.parent.name}/{p.stem}" for p in PUBLISHED}
    for method in ("dc", "dsa", "dm"):
        for dataset in ("mnist", "fashionmnist", "svhn", "cifar10", "cifar100"):
            for ipc in (1, 10, 50):
                assert f"{method}/{dataset}_ipc{ipc}" in names
    assert {"dm/tinyimagenet_ipc1", "dm/tinyimagenet_ipc10", "dm/tinyimagenet_ipc50"} <= names


# MTT configs need an expert buffer: tests/synthesis/test_mtt.py runs each one on a tiny buffer.
@pytest.mark.parametrize(
    "path",
    [p for p in PUBLISHED if p.parent.name not in ("mtt", "tesla")],  # need buffers: test_method
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_published_config_runs_one_step(tmp_path, path):
    config = yaml.safe_load(path.read_text())
    # The published dataset may be absent here: same settings, bundled digits, one step.
    config["trainer"]["callbacks"] = [config["trainer"]["callbacks"][0]]
    config["data"].update(dataset="digits", cache_dir=str(tmp_path / "cache"))
    small = tmp_path / "config.yaml"
    small.write_text(yaml.safe_dump(config))
    args = ["fit", "--config", str(small), "--trainer.max_steps", "1", "--model.batch_real", "8"]
    args += ["--trainer.default_root_dir", str(tmp_path), "--trainer.enable_progress_bar", "false"]
    cli = train_main(args)
    assert cli.trainer.global_step == 1
    assert cli.model.hparams.method == config["model"]["method"]
    assert cli.model.ipc == config["model"]["ipc"]
    assert SyntheticSet.load(Path(cli.trainer.log_dir) / "synthetic.pt").step == 1


def test_documented_overrides_work_on_the_quickstart(tmp_path):
    args = [
        "fit",
        "--config",
        str(CONFIGS / "quickstart.yaml"),
        "--data.root",
        str(tmp_path / "data"),
        "--data.download",
        "true",
        "--data.cache_dir",
        str(tmp_path / "cache"),
        "--trainer.max_steps",
        "2",
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "1",
        "--trainer.default_root_dir",
        str(tmp_path / "runs"),
        "--seed_everything",
        "3",
        "--model.batch_real",
        "5",
        "--trainer.callbacks=[]",
        "--trainer.enable_progress_bar",
        "false",
    ]
    cli = train_main(args)
    assert cli.trainer.global_step == 2
    assert cli.model.hparams.batch_real == 5 and cli.model.seed == 3
    out = Path(cli.trainer.log_dir)
    assert out.is_relative_to(tmp_path / "runs")
    syn = SyntheticSet.load(out / "synthetic.pt")
    assert syn.seed == 3 and syn.info.name == "digits"
    assert (out / "synthetic.png").is_file()
    assert cli.model.info.num_classes == 10 and cli.model.info.image_size == 8  # linked from data


def test_shipped_configs_are_what_generate_writes_and_say_what_the_release_ran():
    from dcl.configs import generate

    for path in PUBLISHED:
        method, dataset, ipc = path.parent.name, *path.stem.split("_ipc")
        assert yaml.safe_load(path.read_text()) == generate.config(method, dataset, int(ipc)), path
        model = yaml.safe_load(path.read_text())["model"]
        if method in ("dc", "dsa"):  # DC's original code 0.5; the release since DSA: none
            assert model["momentum_net"] == (0.5 if method == "dc" else 0.0)
            assert model["init"] == ("noise" if method == "dc" else "real")
    # The one deliberate departure: DM without flip on digits datasets, named in the file.
    for dataset in ("mnist", "svhn"):
        text = (CONFIGS / "dm" / f"{dataset}_ipc10.yaml").read_text()
        assert "flip" not in yaml.safe_load(text)["model"]["dsa_strategy"]
        assert "main_DM.py keeps flip" in text
    assert (
        "flip"
        in yaml.safe_load((CONFIGS / "dm" / "cifar10_ipc10.yaml").read_text())["model"][
            "dsa_strategy"
        ]
    )


@pytest.mark.parametrize(("method", "init"), [("dm", "real"), ("dc", "noise")])
def test_defaults_resolved_through_the_cli_are_the_ones_that_run(tmp_path, method, init):
    """A config without init/momentum_net (the quick start's) runs the method's published ones."""
    from dcl.seeding import INIT, generator, step_seed

    args = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--model.method", method]
    args += ["--trainer.max_steps", "0", "--trainer.default_root_dir", str(tmp_path)]
    args += ["--data.cache_dir", str(tmp_path / "cache"), "--trainer.callbacks=[]"]
    args += ["--trainer.enable_progress_bar", "false", "--seed_everything", "5"]
    cli = train_main(args)
    model = cli.model
    assert (model.hparams.init, model.hparams.momentum_net) == (
        init,
        0.5 if method == "dc" else 0.0,
    )
    real = cli.datamodule.train.sample(1, generator(step_seed(5, 0, 0, INIT))).flatten(0, 1)
    assert torch.equal(model.images.detach(), real) == (init == "real")


def test_the_quickstart_prints_its_synthesis_path_and_autotune_switches_off(
    tmp_path, monkeypatch, capsys
):
    # No decision cached here yet.
    monkeypatch.setenv("DCL_AUTOTUNE_CACHE", str(tmp_path / "autotune.json"))
    args = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.max_steps", "1"]
    args += ["--data.cache_dir", str(tmp_path / "cache"), "--trainer.callbacks=[]"]
    args += ["--trainer.enable_progress_bar", "false", "--model.batch_real", "8"]
    train_main([*args, "--trainer.default_root_dir", str(tmp_path / "on")])
    out = capsys.readouterr().out
    assert "Synthesis path: class_chunk=" in out and "compile=False (defaults: a run of 1" in out
    off = train_main(
        [*args, "--trainer.default_root_dir", str(tmp_path / "off"), "--model.autotune", "false"]
    )
    assert off.model.hparams.autotune is False and off.model.hparams.compile is None
    assert "Synthesis path" not in capsys.readouterr().out


@pytest.mark.slow
def test_the_readmes_multi_device_recipe_ends_with_the_evaluation_table(tmp_path, capfd):
    """The quick start on 2 CPU processes, class-sharded, once crashed at the end: it finishes."""
    args = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.strategy", "ddp_spawn"]
    args += ["--trainer.devices", "2", "--trainer.accelerator", "cpu", "--trainer.max_steps", "4"]
    args += ["--model.multi_gpu", "shard_classes", "--trainer.default_root_dir", str(tmp_path)]
    args += ["--data.cache_dir", str(tmp_path / "cache"), "--trainer.enable_progress_bar", "false"]
    args += ["--trainer.callbacks+=tests.synthesis.helpers.DestroyProcessGroup"]
    train_main(args)
    out = capfd.readouterr().out  # printed by the spawned rank 0
    assert "random acc %" in out and "Evaluation:" in out
    (doc,) = [json.loads(p.read_text()) for p in tmp_path.rglob("evaluation.json")]
    assert len(doc["results"]["ConvNet"]["accuracies"]) == 3

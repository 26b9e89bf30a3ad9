"""MTT: the unrolled student against a plain loop, and the method through the module and CLI."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from dcl.augmentation import DSA, DSA_STRATEGY_FULL
from dcl.cli import train_main
from dcl.data.module import RealDataModule
from dcl.data.synthetic import SyntheticSet
from dcl.methods import MTT, mtt
from dcl.methods.mtt import ExpertSettings, train_experts
from dcl.methods.mtt.student import flatten_parameters, unroll
from dcl.networks import build_network
from dcl.objectives import trajectory_distance
from dcl.synthesis.module import SynthesisModule
from tests.synthesis.helpers import SaveImagesPerRank, synthesize

SMALL = {"syn_steps": 3, "expert_epochs": 2, "max_start_epoch": 2}
CONFIGS = Path(mtt.__file__).resolve().parents[2] / "configs" / "mtt"
RUN = {"method": "mtt", "backbone": "ConvNetD1", "lr_img": 100.0}


@pytest.fixture(scope="module")
def buffer(tmp_path_factory, digits_cache):
    """Two ConvNetD1 experts trained 3 epochs on the digits by train_experts (the release's SGD)."""
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    out = tmp_path_factory.mktemp("experts") / "digits-ConvNetD1"
    settings = ExpertSettings(network="ConvNetD1", epochs=3, batch_size=128)
    train_experts(data, out, 2, settings, accelerator="cpu", progress=False)
    return str(out)


@pytest.fixture
def small(buffer):
    """The tiny MTT settings of these tests, on the tiny buffer."""
    return {**SMALL, "buffer": buffer}


def reference_unroll(params, images, labels, lr, steps, batch, perms, augment):
    """The release's loop written plainly for ConvNetD1: a hand-written forward per step."""
    chunks = []
    for _ in range(steps):
        if not chunks:
            chunks = list(torch.randperm(len(labels), generator=perms).split(batch))
        idx = chunks.pop()
        x = augment(images[idx])
        w_conv, b_conv, w_norm, b_norm, w_fc, b_fc = params
        h = F.conv2d(x, w_conv, b_conv, padding=1)
        h = F.avg_pool2d(F.relu(F.group_norm(h, w_conv.shape[0], w_norm, b_norm)), 2)
        loss = F.cross_entropy(F.linear(h.flatten(1), w_fc, b_fc), labels[idx])
        grads = torch.autograd.grad(loss, params, create_graph=True)
        params = [p - lr * g for p, g in zip(params, grads, strict=True)]
    return params


@pytest.mark.numerics
@pytest.mark.parametrize("augmented", [False, True])
def test_unroll_matches_a_plain_loop_values_and_gradients(augmented):
    torch.manual_seed(0)
    net = build_network("ConvNetD1", 1, 3, 8, generator=torch.Generator().manual_seed(1)).double()
    kinds = [type(m) for m in (*net.features, net.classifier)]
    assert kinds == [nn.Conv2d, nn.GroupNorm, nn.ReLU, nn.AvgPool2d, nn.Linear]
    start = flatten_parameters(net) + 0.05 * torch.randn(flatten_parameters(net).shape).double()
    target = start + 0.05 * torch.randn(start.shape).double()
    images = torch.randn(6, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    lr = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    dsa = DSA()

    def augmentation():  # the same per-image draws on both sides, call by call
        g = torch.Generator().manual_seed(5)
        return (lambda x: dsa.per_image(x, g)) if augmented else (lambda x: x)

    ours = unroll(
        net, start, images, labels, lr, 3, 4, augmentation(), torch.Generator().manual_seed(3)
    )
    loss = trajectory_distance(ours, start, target)
    sizes = [p.numel() for p in net.parameters()]
    pieces = [t.view(p.shape) for t, p in zip(start.split(sizes), net.parameters(), strict=True)]
    params = [t.clone().requires_grad_(True) for t in pieces]
    perms = torch.Generator().manual_seed(3)
    ref = reference_unroll(params, images, labels, lr, 3, 4, perms, augmentation())
    ref_flat = torch.cat([p.reshape(-1) for p in ref])
    ref_loss = F.mse_loss(ref_flat, target, reduction="sum") / F.mse_loss(
        start, target, reduction="sum"
    )
    torch.testing.assert_close(ours, ref_flat, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-10, atol=0)
    g_ours = torch.autograd.grad(loss, [images, lr])
    g_ref = torch.autograd.grad(ref_loss, [images, lr])
    for a, b in zip(g_ours, g_ref, strict=True):
        assert torch.isfinite(a).all() and a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_the_same_seed_draws_the_same_run_and_another_seed_does_not(tmp_path, digits_cache, small):
    kwargs = {**RUN, "method_args": small}
    a, ta = synthesize(tmp_path / "a", digits_cache, 2, seed=3, **kwargs)
    b, tb = synthesize(tmp_path / "b", digits_cache, 2, seed=3, **kwargs)
    c, tc = synthesize(tmp_path / "c", digits_cache, 2, seed=4, **kwargs)
    assert torch.equal(a.images, b.images)
    assert a.matching.learned_lr() == b.matching.learned_lr()
    assert float(ta.callback_metrics["loss"]) == float(tb.callback_metrics["loss"])
    assert float(ta.callback_metrics["loss"]) != float(tc.callback_metrics["loss"])


def test_mtt_fits_through_the_cli_and_learns_its_lr(tmp_path, digits_cache, small):
    args = ["fit", "--data.dataset", "digits", "--data.cache_dir", str(digits_cache)]
    args += ["--model.method", "mtt", "--model.backbone", "ConvNetD1", "--model.ipc", "2"]
    args += ["--model.method_args", json.dumps({**small, "lr_lr": 1e-4, "batch_syn": 8})]
    args += ["--model.lr_img", "100", "--model.batch_real", "8", "--seed_everything", "2"]
    args += ["--model.image_log_every_n_steps", "0", "--trainer.max_steps", "2"]
    args += ["--trainer.default_root_dir", str(tmp_path), "--trainer.accelerator", "cpu"]
    args += ["--trainer.enable_progress_bar", "false", "--trainer.callbacks=[]"]
    cli = train_main(args)
    model, method = cli.model, cli.model.matching
    assert isinstance(method, MTT) and method.batch_syn == 8 and method._experts == [0, 1]
    assert model.hparams.init == "real" and model.dsa.strategy == DSA_STRATEGY_FULL
    images, lr = cli.trainer.optimizers[0].param_groups
    assert images["params"][0] is model.images and images["lr"] == 100.0
    assert lr["params"] == [method.syn_lr] and lr["lr"] == 1e-4
    assert images["momentum"] == lr["momentum"] == 0.5  # the release's two SGDs
    assert torch.isfinite(torch.tensor(float(cli.trainer.callback_metrics["loss"])))
    assert method.learned_lr() == float(method.syn_lr.detach()) != 0.01  # moved from lr_teacher
    logged = float(cli.trainer.callback_metrics["learned_lr"])  # its curve in TensorBoard
    assert logged == pytest.approx(method.learned_lr())
    saved = SyntheticSet.load(Path(cli.trainer.log_dir) / "synthetic.pt")
    assert saved.method == "mtt" and torch.equal(saved.images, model.images.detach())
    assert saved.lr == pytest.approx(method.learned_lr())  # evaluation trains with it


def test_a_checkpoint_resumes_the_learned_lr_and_its_momentum(tmp_path, digits_cache, small):
    kwargs = {**RUN, "method_args": {**small, "lr_lr": 1e-4}}
    straight, _ = synthesize(tmp_path / "straight", digits_cache, 4, **kwargs)
    part, trainer = synthesize(tmp_path / "part", digits_cache, 2, **kwargs)
    ckpt = tmp_path / "part.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = SynthesisModule.load_from_checkpoint(ckpt)
    assert loaded.matching.learned_lr() == part.matching.learned_lr() != 0.01
    resumed, trainer = synthesize(
        tmp_path / "resumed", digits_cache, 4, ckpt_path=str(ckpt), **kwargs
    )
    assert trainer.optimizers[0].state[resumed.matching.syn_lr]["momentum_buffer"] is not None
    torch.testing.assert_close(resumed.matching.syn_lr, straight.matching.syn_lr)
    torch.testing.assert_close(resumed.images, straight.images)


def test_a_missing_buffer_says_how_to_train_the_experts(tmp_path, digits):
    info = digits[0].info
    method = MTT(buffer=str(tmp_path / "nowhere"))
    make = "train_experts.py --dataset digits --network ConvNetD1 --zca true --out .*nowhere"
    with pytest.raises(FileNotFoundError, match=f"no expert buffer at .*{make}"):
        method.on_setup(SimpleNamespace(info=info, zca=True), "ConvNetD1", sharded=False)
    # Without a path: train_experts.py's default folder.
    assert MTT().buffer_path(info, "ConvNet", True) == "buffers/digits-zca/ConvNet"
    assert MTT().buffer_path(info, "ConvNet", False) == "buffers/digits/ConvNet"


@pytest.mark.parametrize(
    ("backbone", "zca", "sharded", "args", "message"),
    [
        ("ConvNet", False, False, {}, "does not fit this run.*network 'ConvNetD1' vs 'ConvNet'"),
        ("ConvNetD1", True, False, {}, "does not fit this run.*ZCA off vs on"),
        ("ConvNetD1", False, True, {}, "shard_classes.*replicate"),
        ("ConvNetD1", False, False, {"max_start_epoch": 3}, "holds 3 epochs.*reach epoch 4"),
    ],
)
def test_a_buffer_that_does_not_fit_the_run_is_refused(
    digits, small, backbone, zca, sharded, args, message
):
    method = MTT(**{**small, **args})
    data = SimpleNamespace(info=digits[0].info, zca=zca)
    with pytest.raises(ValueError, match=message):
        method.on_setup(data, backbone, sharded)


def test_only_complete_experts_are_drawn(tmp_path, digits, buffer):
    copy = tmp_path / "copy"
    shutil.copytree(buffer, copy)
    (copy / "expert_00000.pt").unlink()  # as while train_experts is still running
    method = MTT(**{**SMALL, "buffer": str(copy)})
    method.on_setup(SimpleNamespace(info=digits[0].info, zca=False), "ConvNetD1", False)
    assert method._experts == [1]


def test_bad_settings_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="min_start_epoch .* < max_start_epoch"):
        MTT(min_start_epoch=5, max_start_epoch=5)
    with pytest.raises(ValueError, match="batch_syn >= 1"):
        MTT(batch_syn=0)


class SaveLearnedLrPerRank(L.Callback):
    """Writes every rank's learned lr at the end of training (for the DDP check)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def on_train_end(self, trainer, pl_module) -> None:
        lr = pl_module.matching.learned_lr()
        (self.folder / f"lr_rank{trainer.global_rank}.json").write_text(json.dumps(lr))


@pytest.mark.slow
def test_replicated_ranks_draw_their_own_experts_and_agree(tmp_path, digits_cache, small):
    """Two CPU processes (ddp_spawn): gradients of the images and of syn_lr are averaged."""
    kwargs = {**RUN, "method_args": {**small, "lr_lr": 1e-4}}
    callbacks = [SaveImagesPerRank(tmp_path), SaveLearnedLrPerRank(tmp_path)]
    synthesize(
        tmp_path, digits_cache, 2, devices=2, strategy="ddp_spawn", callbacks=callbacks, **kwargs
    )
    rank0, rank1 = (torch.load(tmp_path / f"images_rank{r}.pt") for r in (0, 1))
    torch.testing.assert_close(rank0, rank1, rtol=0, atol=0)
    lr0, lr1 = (json.loads((tmp_path / f"lr_rank{r}.json").read_text()) for r in (0, 1))
    assert lr0 == lr1 != 0.01
    single, _ = synthesize(tmp_path / "single", digits_cache, 2, **kwargs)
    # Each rank matched its own expert and start epoch, so the average differs from one process.
    assert not torch.allclose(single.images, rank0)


@pytest.fixture(scope="module")
def digits_buffers(tmp_path_factory, digits_cache):
    """One tiny ConvNetD1 expert on the digits per ZCA setting: buffers for the packaged configs."""
    out = {}
    for zca in (False, True):
        data = RealDataModule("digits", cache_dir=str(digits_cache), zca=zca)
        path = tmp_path_factory.mktemp("experts") / f"digits-zca{zca}"
        settings = ExpertSettings(network="ConvNetD1", epochs=3, batch_size=256)
        train_experts(data, path, 1, settings, accelerator="cpu", progress=False)
        out[zca] = str(path)
    return out


TRAJECTORY = sorted(CONFIGS.glob("*.yaml")) + sorted((CONFIGS.parent / "tesla").glob("*.yaml"))


@pytest.mark.parametrize("path", TRAJECTORY, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_packaged_mtt_config_runs_one_step(tmp_path, digits_buffers, path):
    config = yaml.safe_load(path.read_text())
    tesla = path.parent.name == "tesla"  # TESLA's: MTT at constant memory, 10000 iterations
    assert config["model"]["method"] == "mtt"
    assert config["trainer"]["max_steps"] == (10000 if tesla else 5000)
    assert config["model"]["method_args"].get("memory") == ("constant" if tesla else None)
    args = config["model"]["method_args"]
    named = "imagenet1k" if config["data"].get("image_size") == 64 else config["data"]["dataset"]
    assert args["buffer"].startswith(f"buffers/{named}")
    # The published dataset and its 50-epoch experts may be absent here: same settings on the
    # digits with a one-expert buffer of the same ZCA setting, a depth-1 ConvNet, one step.
    args.update(buffer=digits_buffers[config["data"]["zca"]], syn_steps=2, max_start_epoch=1)
    config["model"]["backbone"] = "ConvNetD1"
    config["trainer"]["callbacks"] = [config["trainer"]["callbacks"][0]]
    config["data"].update(dataset="digits", cache_dir=str(tmp_path / "cache"))
    config["data"].pop("image_size", None)  # an image folder's resize: the digits have none
    small = tmp_path / "config.yaml"
    small.write_text(yaml.safe_dump(config))
    # No --model.batch_real: MTT draws no real batches, so the default 256 per class (more than
    # the digits have) must not be refused.
    argv = ["fit", "--config", str(small), "--trainer.max_steps", "1"]
    argv += ["--trainer.default_root_dir", str(tmp_path), "--trainer.enable_progress_bar", "false"]
    cli = train_main(argv)
    assert cli.trainer.global_step == 1 and cli.datamodule.zca == config["data"]["zca"]
    assert isinstance(cli.model.matching, MTT) and cli.model.matching.zca == config["data"]["zca"]
    assert cli.model.matching.memory == ("constant" if tesla else "unrolled")

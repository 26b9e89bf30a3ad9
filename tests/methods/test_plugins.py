"""Matching methods as plug-ins: a user's method by class path, built-ins by name or path."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from dcl.cli import train_main
from dcl.data.module import RealDataModule
from dcl.data.synthetic import SyntheticSet
from dcl.methods import DM, MatchingMethod, StepContext
from dcl.objectives import mean_embedding_distance
from dcl.seeding import INIT, REAL, generator, step_seed
from dcl.synthesis.module import SynthesisModule
from tests.synthesis.helpers import synthesize

HERE = "tests.methods.test_plugins"


class MeanImage(MatchingMethod):
    """A user's method in a few lines: each class's mean synthetic image matches its mean real
    image (DM's distance with the identity as the network), times a constructor option."""

    init = "noise"  # class-level defaults the module uses when its options are unset
    lr_img = 0.1
    dsa_strategy = "none"

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight
        self.losses: list[torch.Tensor] = []
        self.updated: torch.Tensor | None = None

    def loss(self, ctx: StepContext) -> torch.Tensor:
        real = ctx.real(ctx.batch_real, ctx.classes, REAL)
        loss = self.weight * mean_embedding_distance(real.flatten(2), ctx.syn.flatten(2)).sum()
        self.losses.append(loss.detach().clone())
        return loss

    def after_update(self, ctx: StepContext) -> None:
        self.updated = ctx.images.detach().clone()


class LearnedWeightDM(DM):
    """DM weighted by a learned log-variance, ``exp(-s) * loss + s``, with its own learning rate."""

    def __init__(self, class_chunk: int | None = None, lr_weight: float = 0.05) -> None:
        super().__init__(class_chunk)
        self.lr_weight = lr_weight
        self.log_var = nn.Parameter(torch.zeros(()))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def param_groups(self) -> list[dict]:
        return [{"params": [self.log_var], "lr": self.lr_weight}]

    def loss(self, ctx: StepContext) -> torch.Tensor:
        self.calls += 1
        return torch.exp(-self.log_var) * super().loss(ctx) + self.log_var


def test_a_users_method_runs_through_the_cli_by_class_path(tmp_path, digits_cache):
    args = ["fit", "--data.dataset", "digits", "--data.cache_dir", str(digits_cache)]
    args += ["--model.method", f"{HERE}.MeanImage", "--model.method_args", '{"weight": 2.0}']
    args += ["--model.ipc", "2", "--model.batch_real", "8", "--seed_everything", "4"]
    args += ["--model.image_log_every_n_steps", "0", "--trainer.max_steps", "2"]
    args += ["--trainer.default_root_dir", str(tmp_path), "--trainer.accelerator", "cpu"]
    args += ["--trainer.enable_progress_bar", "false", "--trainer.callbacks=[]"]
    cli = train_main(args)
    model, data = cli.model, cli.datamodule
    method = model.matching
    assert isinstance(method, MeanImage) and method.weight == 2.0
    assert model.hparams.method_args == {"weight": 2.0} and model.dsa is None
    assert float(cli.trainer.callback_metrics["loss"]) == float(method.losses[-1])  # logged

    # The same two SGD steps (lr 0.1, momentum 0.5 as the class and module say) in float64.
    start = torch.randn(model.images.shape, generator=generator(step_seed(4, 0, 0, INIT)))
    images, buffer, classes = start.double(), None, torch.arange(10)
    for step in range(2):
        real = data.real_batch(8, classes, step=step, rank=0, stream=REAL, seed=4).double()
        x = images.clone().requires_grad_(True)
        syn = x.view(10, 2, -1)
        expected = 2.0 * ((real.flatten(2).mean(1) - syn.mean(1)) ** 2).sum()
        assert float(method.losses[step]) == pytest.approx(float(expected.detach()), rel=1e-5)
        (grad,) = torch.autograd.grad(expected, x)
        buffer = grad if buffer is None else 0.5 * buffer + grad
        images = images - 0.1 * buffer
    moved = float((images - start.double()).norm())
    assert moved > 0.1
    assert float((model.images.double() - images).norm()) < 1e-5 * moved
    torch.testing.assert_close(method.updated, model.images.detach(), rtol=0, atol=0)
    saved = SyntheticSet.load(Path(cli.trainer.log_dir) / "synthetic.pt")
    assert saved.method == f"{HERE}.MeanImage" and torch.equal(saved.images, model.images.detach())
    assert json.loads(json.dumps(saved.config))["method"] == f"{HERE}.MeanImage"


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("dm", "dcl.methods.DM"),
        ("dc", "dcl.methods.dc.method.DC"),
        ("dsa", "dcl.methods.DSA"),
    ],
)
def test_a_builtin_method_by_name_or_class_path_gives_the_same_run(
    tmp_path, digits_cache, name, path
):
    kwargs = {"ipc": 2, "outer_loop": 2, "inner_loop": 1}
    by_name, _ = synthesize(tmp_path / "name", digits_cache, 3, method=name, **kwargs)
    by_path, _ = synthesize(tmp_path / "path", digits_cache, 3, method=path, **kwargs)
    start, _ = synthesize(tmp_path / "start", digits_cache, 0, method=name, **kwargs)
    assert not torch.equal(by_name.images, start.images)  # the run did update the images
    assert torch.equal(by_name.images, by_path.images)
    a, b = by_name.synthetic_set(), by_path.synthetic_set()
    assert a.method == b.method == name
    assert a.config["dsa_strategy"] == b.config["dsa_strategy"]


def test_a_methods_parameter_joins_the_optimiser_with_its_own_options(tmp_path, digits_cache):
    path = f"{HERE}.LearnedWeightDM"
    model, trainer = synthesize(tmp_path, digits_cache, 1, method=path)
    images, weight = trainer.optimizers[0].param_groups
    assert images["params"][0] is model.images and images["lr"] == 1.0  # DM's image lr
    assert weight["params"][0] is model.matching.log_var and weight["lr"] == 0.05
    # One SGD step at s = 0, where the loss is DM's: d/ds (exp(-s) * dm + s) = 1 - dm.
    dm = float(trainer.callback_metrics["loss"])
    assert float(model.matching.log_var) == pytest.approx(-0.05 * (1 - dm), rel=1e-5)


def test_a_methods_state_round_trips_a_checkpoint(tmp_path, digits_cache):
    kwargs = {"method": f"{HERE}.LearnedWeightDM", "method_args": {"lr_weight": 0.02}}
    straight, _ = synthesize(tmp_path / "straight", digits_cache, 4, **kwargs)
    _, trainer = synthesize(tmp_path / "part", digits_cache, 2, **kwargs)
    ckpt = tmp_path / "part.ckpt"
    trainer.save_checkpoint(ckpt)
    # The method is rebuilt from the recorded hyperparameters (class path and method_args).
    loaded = SynthesisModule.load_from_checkpoint(ckpt)
    assert loaded.matching.lr_weight == 0.02 and int(loaded.matching.calls) == 2
    assert float(loaded.matching.log_var) != 0.0
    resumed, trainer = synthesize(
        tmp_path / "resumed", digits_cache, 4, ckpt_path=str(ckpt), **kwargs
    )
    assert int(resumed.matching.calls) == 4
    # Momentum of the weight was restored too: without it the weight (and images) would differ.
    assert trainer.optimizers[0].state[resumed.matching.log_var]["momentum_buffer"] is not None
    torch.testing.assert_close(resumed.matching.log_var, straight.matching.log_var)
    torch.testing.assert_close(resumed.images, straight.images)


def test_dc_checkpoints_of_older_versions_still_resume(tmp_path, digits_cache):
    """Before methods were plug-ins, DC's inner network was stored under ``dc_inner``."""
    kwargs = {"method": "dc", "ipc": 2, "outer_loop": 3, "inner_loop": 1}
    straight, _ = synthesize(tmp_path / "straight", digits_cache, 3, **kwargs)
    _, trainer = synthesize(tmp_path / "part", digits_cache, 1, **kwargs)
    ckpt = tmp_path / "part.ckpt"
    trainer.save_checkpoint(ckpt)
    state = torch.load(ckpt, weights_only=False)
    assert state["state_dict"]["matching._extra_state"]["outer"] == 0  # mid outer iteration
    state["dc_inner"] = state["state_dict"].pop("matching._extra_state")
    torch.save(state, ckpt)
    resumed, _ = synthesize(tmp_path / "resumed", digits_cache, 3, ckpt_path=str(ckpt), **kwargs)
    torch.testing.assert_close(resumed.images, straight.images)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "kip"}, "unknown method 'kip'.*dotted class path"),
        ({"method": "no_such_module.Method"}, "module 'no_such_module' does not import"),
        ({"method": "dcl.methods.Nope"}, "has no 'Nope'"),
        ({"method": "torch.nn.Linear"}, "not a subclass of dcl.methods.MatchingMethod"),
        (
            {"method": f"{HERE}.MeanImage", "method_args": {"wieght": 2.0}},
            "do not fit MeanImage.*it takes: weight",
        ),
        ({"method": "dc", "method_args": {"metric": "mse"}}, "--model.metric"),
        ({"class_chunk": -1}, "class_chunk must be >= 0"),
    ],
)
def test_bad_methods_fail_with_what_to_do(digits_cache, kwargs, message):
    info = RealDataModule("digits", cache_dir=str(digits_cache)).info
    with pytest.raises(ValueError, match=message):
        SynthesisModule(info, **kwargs)

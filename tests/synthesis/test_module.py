import lightning as L
import pytest
import torch

from dcl.data.module import RealDataModule
from dcl.data.synthetic import SyntheticSet
from dcl.methods.dc import default_loops
from dcl.synthesis.module import SynthesisModule
from tests.compile_support import COMPILER_MARKS
from tests.synthesis.helpers import synthesize


@pytest.mark.parametrize("method", ["dm", "dc", "dsa"])
def test_a_few_steps_update_the_images_and_save_the_set(tmp_path, digits_cache, method):
    model, trainer = synthesize(
        tmp_path, digits_cache, 3, method=method, ipc=2, outer_loop=2, inner_loop=1
    )
    assert trainer.global_step == 3
    syn = SyntheticSet.load(tmp_path / "synthetic.pt")
    assert syn.method == method and syn.step == 3 and syn.ipc == 2
    assert syn.images.shape == (20, 1, 8, 8)
    assert torch.isfinite(syn.images).all()
    assert (tmp_path / "synthetic.png").stat().st_size > 0
    # The images moved away from their real initialisation.
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    data.setup()
    initial = SynthesisModule(data.info, method=method, ipc=2)
    from dcl.seeding import INIT, generator, step_seed

    start = data.train.sample(2, generator(step_seed(0, 0, 0, INIT))).flatten(0, 1)
    assert not torch.allclose(syn.images, start)
    assert initial.images.shape == syn.images.shape


def test_same_seed_gives_the_same_set_and_another_seed_a_different_one(tmp_path, digits_cache):
    a, _ = synthesize(tmp_path / "a", digits_cache, 3)
    b, _ = synthesize(tmp_path / "b", digits_cache, 3)
    c, _ = synthesize(tmp_path / "c", digits_cache, 3, seed=1)
    assert torch.equal(a.images, b.images)
    assert not torch.allclose(a.images, c.images)


@pytest.mark.parametrize("method", ["dm", "dsa"])
def test_resume_from_checkpoint_reproduces_the_uninterrupted_run(tmp_path, digits_cache, method):
    kwargs = {"method": method, "outer_loop": 3, "inner_loop": 2, "ipc": 2}
    straight, _ = synthesize(tmp_path / "straight", digits_cache, 5, **kwargs)
    first, trainer = synthesize(tmp_path / "part", digits_cache, 2, **kwargs)
    ckpt = tmp_path / "part.ckpt"
    trainer.save_checkpoint(ckpt)  # mid outer iteration: DC's inner network must be restored too
    resumed, trainer = synthesize(
        tmp_path / "resumed", digits_cache, 5, ckpt_path=str(ckpt), **kwargs
    )
    assert trainer.global_step == 5
    torch.testing.assert_close(resumed.images, straight.images)
    # Momentum buffers were restored: without them the result would differ.
    assert trainer.optimizers[0].state[resumed.images]["momentum_buffer"] is not None


# Compiled and channels-last calls reorder float sums: the same images up to rounding. DC's
# per-row cosines amplify rounding (rows with tiny gradients), so DC and DSA compare one image
# update, as a vector; DM's loss is smooth enough to compare three steps. (Training through
# either call, as DC's inner loop does, is compared in tests/test_training.py.) The measured
# deviation under every kernel choice is in results/rounding_spread.md.
@pytest.mark.numerics
@pytest.mark.parametrize(
    ("option", "method", "steps"),
    [
        pytest.param("compile", "dm", 3, marks=COMPILER_MARKS),
        pytest.param("compile", "dsa", 1, marks=COMPILER_MARKS),
        ("channels_last", "dm", 3),
        ("channels_last", "dsa", 1),
        ("channels_last", "dc", 1),
    ],
)
def test_fast_network_calls_give_the_plain_result(
    tmp_path, digits_cache, option, method, steps, spread
):
    kwargs = {"method": method, "outer_loop": 2, "inner_loop": 1, "ipc": 2, "batched": False}
    plain, _ = synthesize(tmp_path / "plain", digits_cache, steps, **kwargs)
    fast, _ = synthesize(tmp_path / option, digits_cache, steps, **{option: True}, **kwargs)
    start, _ = synthesize(tmp_path / "start", digits_cache, 0, **kwargs)
    moved = (plain.images - start.images).norm()
    assert moved > 0.1  # the steps did move the images
    if method != "dc":
        spread(float((fast.images - plain.images).norm() / moved), 1e-3)
        return
    # DC's update of one class can jump where a row of its gradients sits at zero (a ReLU or
    # a near-zero norm under the cosine): seen with ATen's unvectorised kernels on an AVX2-only
    # AMD EPYC, where the plain call moved one class 7 % away from the channels-last call and
    # from the plain call under AVX2 (which agree to 1e-4). Every other class must agree to
    # rounding, and the jumping one stays a jump of one class, not a different computation.
    classes = plain.labels.unique()
    deviation = sorted(
        float((fast.images - plain.images)[plain.labels == c].norm())
        / float((plain.images - start.images)[plain.labels == c].norm())
        for c in classes
    )
    spread(deviation[-2], 1e-3)
    assert deviation[-1] < 0.2


@pytest.mark.parametrize("method", ["dm", "dsa"])
def test_bf16_mixed_precision_runs_and_keeps_float32_images(tmp_path, digits_cache, method):
    kwargs = {"method": method, "outer_loop": 2, "inner_loop": 1, "ipc": 2}
    low, _ = synthesize(tmp_path / "bf16", digits_cache, 2, precision="bf16-mixed", **kwargs)
    full, _ = synthesize(tmp_path / "fp32", digits_cache, 2, **kwargs)
    start, _ = synthesize(tmp_path / "start", digits_cache, 0, **kwargs)
    assert low.images.dtype == torch.float32 and torch.isfinite(low.images).all()
    moved = (full.images - start.images).norm()
    # The update points the way float32's does (1280 dimensions).
    cos = torch.nn.functional.cosine_similarity(
        (low.images - start.images).flatten(), (full.images - start.images).flatten(), dim=0
    )
    # Measured about 0.9 here: bf16 embeddings lose digits in DM's difference of means and in
    # DC's cosines, so bf16 is a different computation (random directions would give ~0).
    assert moved > 0 and cos > 0.5


def test_compile_without_a_compiler_says_what_to_do(tmp_path, digits_cache, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-dcl")
    with pytest.raises(RuntimeError, match="needs a C\\+\\+ compiler"):
        synthesize(tmp_path, digits_cache, 1, compile=True)


def test_default_loops_follow_the_published_table_and_any_ipc_works():
    assert default_loops(1) == (1, 1)
    assert default_loops(10) == (10, 50)
    assert default_loops(50) == (50, 10)
    assert default_loops(100) == (100, 2)
    for ipc in (2, 7, 33, 70, 500):
        outer, inner = default_loops(ipc)
        assert outer >= 1 and inner >= 1


def test_dc_step_count_is_outer_loop_times_iterations(tmp_path, digits_cache):
    _, trainer = synthesize(tmp_path, digits_cache, 4, method="dc", outer_loop=2, inner_loop=1)
    assert trainer.global_step == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ipc": 0}, "ipc must be at least 1"),
        ({"method": "kip"}, "unknown method 'kip'"),
        ({"backbone": "ConvNot"}, "unknown backbone 'ConvNot'"),
        ({"metric": "l1"}, "unknown metric 'l1'"),
        ({"init": "zeros"}, "init must be 'real' or 'noise'"),
        ({"multi_gpu": "both"}, "multi_gpu must be"),
    ],
)
def test_invalid_settings_fail_before_training_with_a_clear_message(digits_cache, kwargs, message):
    info = RealDataModule("digits", cache_dir=str(digits_cache)).info
    with pytest.raises(ValueError, match=message):
        SynthesisModule(info, **kwargs)


def test_missing_data_info_explains_how_to_pass_it():
    with pytest.raises(ValueError, match="data_info"):
        SynthesisModule(None)


def test_batch_real_larger_than_a_class_fails_at_setup(tmp_path, digits_cache):
    with pytest.raises(ValueError, match="batch_real"):
        synthesize(tmp_path, digits_cache, 1, batch_real=10_000)


def test_non_finite_loss_stops_and_keeps_the_saved_set(tmp_path, digits_cache):
    synthesize(tmp_path, digits_cache, 2)
    saved = SyntheticSet.load(tmp_path / "synthetic.pt")
    with pytest.raises(FloatingPointError, match="Non-finite"):
        synthesize(tmp_path, digits_cache, 2, lr_img=float("inf"))
    again = SyntheticSet.load(tmp_path / "synthetic.pt")
    assert torch.equal(saved.images, again.images)


@pytest.mark.parametrize(
    ("method", "init", "momentum_net"),
    [("dc", "noise", 0.5), ("dsa", "real", 0.0), ("dm", "real", 0.0)],
)
def test_defaults_without_a_config_are_the_published_ones(digits_cache, method, init, momentum_net):
    # DC's numbers: noise init, inner SGD momentum 0.5 (original code); DSA's: real init, plain
    # inner SGD (the release since its DSA commit). Recorded resolved, so sets say what ran.
    info = RealDataModule("digits", cache_dir=str(digits_cache)).info
    model = SynthesisModule(info, method=method)
    assert (model.hparams.init, model.hparams.momentum_net) == (init, momentum_net)
    chosen = SynthesisModule(info, method=method, init="real", momentum_net=0.9)
    assert (chosen.hparams.init, chosen.hparams.momentum_net) == ("real", 0.9)
    if method == "dm":  # no inner loop
        assert not hasattr(model.matching, "inner")
        return
    inner = model.matching.inner
    net = inner.get(0, lambda index: torch.nn.Linear(2, 2))
    assert inner.optimizer.param_groups[0]["momentum"] == momentum_net and net is not None
    assert chosen.matching.inner.momentum == 0.9


def test_batchnorm_statistics_images_are_drawn_apart_from_the_matching_batch(
    tmp_path, digits_cache, monkeypatch
):
    from dcl.seeding import BN_STATS, REAL

    draws = []
    original = RealDataModule.real_batch

    def spy(self, n, classes=None, step=None, rank=None, stream=REAL, seed=None):
        out = original(self, n, classes, step=step, rank=rank, stream=stream, seed=seed)
        draws.append((n, stream, out))
        return out

    monkeypatch.setattr(RealDataModule, "real_batch", spy)
    synthesize(tmp_path, digits_cache, 1, method="dc", backbone="ConvNetBN", batch_real=32)
    (n_stats, stats_stream, stats), (n_match, match_stream, match) = draws
    assert (n_stats, stats_stream, n_match, match_stream) == (16, BN_STATS, 32, REAL)
    # Same step and seed, yet not the matching batch's first 16 images of each class.
    assert not torch.equal(stats, match[:, :16])


def test_a_second_fit_continues_from_the_current_images(tmp_path, digits_cache):
    model, _ = synthesize(tmp_path / "a", digits_cache, 2)
    after_two = model.images.detach().clone()
    data = RealDataModule("digits", cache_dir=str(digits_cache))
    trainer = L.Trainer(
        max_steps=2,
        accelerator="cpu",
        default_root_dir=str(tmp_path / "b"),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, data)
    assert model.step == 4 and model.synthetic_set().step == 4
    moved = model.images.detach()
    assert not torch.equal(moved, after_two)  # updated further, not re-initialised
    restarted, _ = synthesize(tmp_path / "c", digits_cache, 2)
    assert not torch.allclose(moved, restarted.images)


def test_resume_keeps_the_runs_seed_whatever_the_new_process_seeds(tmp_path, digits_cache):
    kwargs = {"method": "dm", "ipc": 2}
    straight, _ = synthesize(tmp_path / "straight", digits_cache, 4, seed=123, **kwargs)
    _, trainer = synthesize(tmp_path / "part", digits_cache, 2, seed=123, **kwargs)
    ckpt = tmp_path / "part.ckpt"
    trainer.save_checkpoint(ckpt)
    # seed_everything(true) would give a fresh random seed to the resumed process.
    resumed, _ = synthesize(
        tmp_path / "resumed", digits_cache, 4, seed=999, ckpt_path=str(ckpt), **kwargs
    )
    assert resumed.seed == 123 and resumed.hparams.seed == 123
    torch.testing.assert_close(resumed.images, straight.images)


@pytest.mark.parametrize("method", ["dc", "dsa"])
def test_float16_mixed_precision_is_refused_for_gradient_matching(method):
    from types import SimpleNamespace

    from dcl.methods import BUILTIN
    from dcl.synthesis.guards import check_precision

    # The module checks methods that declare float16 unsafe; DM runs under the scaler.
    assert not BUILTIN[method].float16 and BUILTIN["dm"].float16
    # On a GPU trainer.precision stays "16-mixed"; the CPU cannot run float16 AMP (below).
    with pytest.raises(ValueError, match="without a gradient scaler"):
        check_precision(SimpleNamespace(precision="16-mixed"), method)
    check_precision(SimpleNamespace(precision="bf16-mixed"), method)


@pytest.mark.parametrize("method", ["dm", "dsa"])
def test_16_mixed_on_cpu_runs_end_to_end_as_lightnings_bf16(tmp_path, digits_cache, method):
    model, trainer = synthesize(
        tmp_path, digits_cache, 2, method=method, precision="16-mixed", outer_loop=2, inner_loop=1
    )
    assert trainer.precision == "bf16-mixed"  # Lightning's CPU fallback: no float16 AMP on CPU
    assert trainer.global_step == 2 and torch.isfinite(model.images).all()
    assert model.images.dtype == torch.float32

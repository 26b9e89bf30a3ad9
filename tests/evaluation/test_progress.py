"""What an evaluation shows while it runs, and how its compiled calls behave across models.

The bars are recorded, not drawn: every bar opened, advanced and closed is an event, so each
test states the exact order in which a user sees models and epochs advance.
"""

import pytest
import torch
from torch._dynamo.testing import CompileCounter

import dcl.evaluation.progress as progress_module
from dcl import calls
from dcl.baselines import select_baseline
from dcl.evaluation.progress import EvaluationProgress
from dcl.evaluation.protocol import EvaluationModule, run_protocol

HAND_SET = {"compile": False, "channels_last": False}


@pytest.fixture(scope="module")
def one_per_class(digits):
    return select_baseline("random", digits[0], 1, seed=0)


@pytest.fixture
def bar_events(monkeypatch) -> list[tuple]:
    events: list[tuple] = []

    class RecordingBar:
        def __init__(self, total=None, desc=None, unit=None, **options) -> None:
            self.desc, self.unit = desc, unit
            events.append(("open", unit, desc, total))

        def update(self, n=1) -> None:
            events.append(("update", self.unit, self.desc))

        def set_postfix(self, **values) -> None:
            pass

        def close(self) -> None:
            events.append(("close", self.unit, self.desc))

    monkeypatch.setattr(progress_module, "tqdm", RecordingBar)
    return events


def one_training(desc: str, epochs: int) -> list[tuple]:
    """The events of one training: its epochs bar opened, advanced per epoch, closed."""
    opened = [("open", "epoch", desc, epochs)]
    return opened + [("update", "epoch", desc)] * epochs + [("close", "epoch", desc)]


MODEL_DONE = ("update", "model", "evaluating")


def test_one_by_one_the_bar_advances_as_each_model_is_trained_and_tested(
    one_per_class, digits, bar_events
):
    run_protocol(one_per_class, digits[1], ["ConvNet"], 3, 2, ensemble=False, **HAND_SET)
    expected = [("open", "model", "evaluating", 3)]
    for k in (1, 2, 3):  # epochs 0..2: three epochs a model
        expected += one_training(f"ConvNet {k}/3", 3) + [MODEL_DONE]
    assert bar_events == [*expected, ("close", "model", "evaluating")]


def test_an_ensemble_shows_its_shared_epochs_then_each_model_tested(
    one_per_class, digits, bar_events
):
    run_protocol(one_per_class, digits[1], ["ConvNet"], 3, 2, ensemble=True, **HAND_SET)
    assert bar_events == [
        ("open", "model", "evaluating", 3),
        *one_training("ConvNet x3", 3),
        *[MODEL_DONE] * 3,
        ("close", "model", "evaluating"),
    ]


def test_a_shard_counts_and_advances_its_own_models(one_per_class, digits, bar_events):
    run_protocol(
        one_per_class, digits[1], ["ConvNet", "MLP"], 4, 1, ensemble=False, shard=(1, 2),
        **HAND_SET,
    )  # fmt: skip
    expected = [("open", "model", "evaluating", 4)]  # models 1 and 3 of each architecture
    for name in ("ConvNet", "MLP"):
        for k in (1, 2):
            expected += one_training(f"{name} {k}/2", 2) + [MODEL_DONE]
    assert bar_events == [*expected, ("close", "model", "evaluating")]


def test_epoch_timing_leaves_out_the_first_epoch(monkeypatch):
    ticks = iter([0.0, 30.0, 31.0, 33.0, 34.0, 40.0])  # a first epoch of 30 s, then 1-2 s
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(ticks))
    bars = EvaluationProgress(1, enabled=False)
    with bars.training("ConvNet 1/1", 4) as epoch_done:
        for epoch in range(4):
            epoch_done(epoch)
    assert bars.epoch_seconds() == 1.0  # median of 1, 2, 1
    with bars.training("ConvNet 1/1", 1):
        pass
    assert bars.epoch_seconds() is None  # no epoch after the first to time


@pytest.fixture
def counting_compiler(monkeypatch) -> CompileCounter:
    """``torch.compile`` through a backend that counts the graphs it is given (no codegen)."""
    counter, real = CompileCounter(), torch.compile

    def counted(fn, **options):
        return real(fn, backend=counter, **options)

    monkeypatch.setattr(torch, "compile", counted)
    calls.compiled.cache_clear()
    torch._dynamo.reset()
    yield counter
    calls.compiled.cache_clear()  # no later test may reuse these counting compilations
    torch._dynamo.reset()


def test_a_compiled_evaluation_compiles_once_whatever_the_number_of_models(
    one_per_class, digits, counting_compiler
):
    options = {"compile": True, "channels_last": False, "ensemble": False, "progress": False}
    run_protocol(one_per_class, digits[1], ["ConvNet"], 1, 1, **options)
    one_model = counting_compiler.frame_count
    run_protocol(one_per_class, digits[1], ["ConvNet"], 3, 1, seed=5, **options)
    # One graph to train (gradients on) and one to test (inference), for all networks alike.
    assert one_model == 2 and counting_compiler.frame_count == 2


@pytest.mark.numerics
def test_padding_the_last_test_batch_changes_no_prediction(one_per_class, digits):
    module = EvaluationModule("ConvNet", one_per_class.info, epochs=2, seed=3)
    module.fit_tensors(one_per_class.images, one_per_class.labels)
    test = digits[1]
    rest = len(test) - 4 * 128  # batches of 128 leave a short fifth
    assert 0 < rest < 128
    seen: dict[bool, list[torch.Tensor]] = {False: [], True: []}

    def recording(padded: bool):
        def predict(net, x):
            seen[padded].append(net(x))
            return seen[padded][-1]

        return predict

    plain = module.test_images(test, batch_size=128, forward=recording(False))
    padded = module.test_images(test, batch_size=128, forward=recording(True), pad=True)
    assert [len(x) for x in seen[True]] == [128] * 5
    assert [len(x) for x in seen[False]] == [128] * 4 + [rest]
    torch.testing.assert_close(seen[True][-1][:rest], seen[False][-1], rtol=1e-5, atol=1e-5)
    assert padded == plain

"""Class-incremental continual learning with a condensed (or selected) memory, DM paper style.

Protocol (docs/reference.md section 7, the DM paper's setting): the classes of a dataset arrive
in ``T`` steps, in a seeded random class order. At each step only the new classes' training
images are available; they are condensed with DM (or selected: herding, random) into ``ipc``
images per class that join a memory that is never revised. A freshly initialised network is then
trained from scratch on the whole memory with the evaluation protocol (SGD lr 0.01, momentum 0.9,
weight decay 5e-4, batch 256, lr x0.1 at half the epochs, DSA augmentation for every method) and
tested on the test images of all classes seen so far.

Decisions: the network's head has a logit for every class of the dataset from the first step (one
fixed architecture for all steps); unseen classes have no training images, so their logits are
pushed down in training, and ``mask_unseen=True`` also excludes them at test time (as GDumb does).
Herding selects in the features of a network trained on the current step's classes only (the data
available at that step). The class orders, and the condensation/selection and network seeds of
each (order, step), are shared by all methods: methods meet identical splits and initialisations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from dcl.applications.condense import class_subset, condense_dm
from dcl.baselines import BASELINES, canonical_method, select_baseline
from dcl.data.images import ClassImages
from dcl.evaluation import EvaluationModule, summarize
from dcl.seeding import generator, step_seed

ORDER, CONDENSE, TRAIN = 16, 17, 18  # seed streams of class orders, memories, trained networks
METHODS: tuple[str, ...] = ("dm", *BASELINES)
TEST_BATCH = 128  # small test batches keep activations in cache: faster on CPUs


@dataclass
class ContinualSettings:
    """Settings shared by every method of a continual-learning run.

    Args:
        ipc: Memory images per class (20 in the DM paper).
        dm_iterations: DM image updates per step.
        batch_real: DM real images per class per update.
        lr_img: DM image learning rate.
        epochs: Training epochs of the network trained on the memory after each step.
        batch_size: Its batch size.
        augment: Its augmentation: ``dsa`` (per-image DSA, the protocol), ``dc`` or ``none``.
        network: Network trained on the memory, also the DM embedding network and the
            herding/k-center feature extractor (a ``dcl.networks`` name).
        extractor_epochs: Training epochs of the herding/k-center feature extractor.
        mask_unseen: Ignore the logits of classes not seen yet when testing.
        seed: Base seed of class orders, memories and networks.
        device: Where condensation and training run.
    """

    ipc: int = 20
    dm_iterations: int = 20000
    batch_real: int = 256
    lr_img: float = 1.0
    epochs: int = 1000
    batch_size: int = 256
    augment: str = "dsa"
    network: str = "ConvNet"
    extractor_epochs: int = 10
    mask_unseen: bool = False
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        counts = {"ipc": self.ipc, "epochs": self.epochs, "batch_size": self.batch_size}
        counts.update(batch_real=self.batch_real, dm_iterations=self.dm_iterations)
        problems = [f"{k} must be at least 1, got {v}" for k, v in counts.items() if v < 1]
        if self.augment not in ("dsa", "dc", "none"):
            problems.append(f"augment must be dsa, dc or none, got '{self.augment}'")
        if problems:
            raise ValueError("Invalid continual-learning settings: " + "; ".join(problems) + ".")


@dataclass
class StepResult:
    """What one step of one class order produced (kept for bookkeeping checks)."""

    step: int
    new_classes: list[int]
    seen_classes: list[int]
    memory_labels: Tensor
    test_classes: list[int]
    test_size: int
    accuracy: float
    memory_time_s: float
    train_time_s: float


def canonical(method: str) -> str:
    """``dm`` or a baseline's canonical name; ``ValueError`` listing ``METHODS`` otherwise."""
    if method.strip().lower() == "dm":
        return "dm"
    try:
        return canonical_method(method.strip())
    except ValueError:
        raise ValueError(
            f"Unknown continual-learning method '{method}'. Known: {', '.join(METHODS)}."
        ) from None


def class_orders(num_classes: int, count: int, seed: int = 0) -> list[list[int]]:
    """``count`` random permutations of the classes, order ``i`` drawn from (seed, i) alone."""
    return [
        torch.randperm(num_classes, generator=generator(step_seed(seed, 0, i, ORDER))).tolist()
        for i in range(count)
    ]


def split_steps(
    order: Sequence[int], steps: int, classes_per_step: int | None = None
) -> list[list[int]]:
    """The classes arriving at each step: consecutive chunks of ``order``.

    Args:
        order: A class order.
        steps: Number of steps ``T``.
        classes_per_step: Classes per step (default ``len(order) // steps``); with fewer than
            ``len(order) / steps`` only the first ``steps * classes_per_step`` classes are used.

    Returns:
        ``T`` lists of global class ids.
    """
    per = classes_per_step if classes_per_step is not None else len(order) // steps
    if steps < 1 or per < 1 or steps * per > len(order):
        raise ValueError(
            f"cannot split {len(order)} classes into {steps} steps of {per} classes; "
            f"steps * classes_per_step must be at most {len(order)}"
        )
    return [[int(c) for c in order[t * per : (t + 1) * per]] for t in range(steps)]


def build_memory(
    method: str, train: ClassImages, classes: Sequence[int], settings: ContinualSettings, seed: int
) -> tuple[Tensor, Tensor]:
    """``ipc`` images per class of ``classes`` made from their training images only.

    Returns:
        ``(images, labels)``: normalised float images and global class ids.
    """
    view = class_subset(train, classes)
    s = settings
    if method == "dm":
        syn = condense_dm(
            view,
            s.ipc,
            s.dm_iterations,
            batch_real=s.batch_real,
            lr_img=s.lr_img,
            backbone=s.network,
            seed=seed,
            device=s.device,
        )
    else:
        syn = select_baseline(
            method,
            view,
            s.ipc,
            seed=seed,
            extractor_epochs=s.extractor_epochs,
            backbone=s.network,
            device=s.device,
        )
    return syn.images, torch.tensor([int(c) for c in classes])[syn.labels]


@torch.inference_mode()
def seen_accuracy(
    module: EvaluationModule, test: ClassImages, seen: Sequence[int], mask_unseen: bool
) -> float:
    """Top-1 accuracy (%) of ``module`` on ``test`` (global labels), optionally masking logits."""
    module.net.eval()
    allowed = torch.zeros(test.info.num_classes, dtype=torch.bool, device=module.device)
    allowed[list(seen)] = True
    correct = 0
    for start in range(0, len(test), TEST_BATCH):
        batch = slice(start, start + TEST_BATCH)
        logits = module(test.images[batch].to(module.device))
        if mask_unseen:
            logits = logits.masked_fill(~allowed, float("-inf"))
        correct += int((logits.argmax(1).cpu() == test.labels[batch].cpu()).sum())
    return 100.0 * correct / max(len(test), 1)


def run_order(
    method: str,
    train: ClassImages,
    test: ClassImages,
    steps: list[list[int]],
    settings: ContinualSettings,
    order_index: int = 0,
    report: Callable[[StepResult], None] | None = None,
) -> list[StepResult]:
    """The protocol for one method and one class order; ``report`` is called after each step."""
    method = canonical(method)
    images = torch.empty(0, train.info.channels, train.info.image_size, train.info.image_size)
    labels = torch.empty(0, dtype=torch.long)
    seen: list[int] = []
    results = []
    for t, new in enumerate(steps):
        start = time.perf_counter()
        seed = step_seed(settings.seed, order_index, t, CONDENSE)
        new_images, new_labels = build_memory(method, train, new, settings, seed)
        images, labels = torch.cat([images, new_images]), torch.cat([labels, new_labels])
        seen += new
        memory_time = time.perf_counter() - start
        start = time.perf_counter()
        module = EvaluationModule(
            settings.network,
            train.info,  # every class of the dataset: the head is fixed from the first step
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            augment=settings.augment,
            seed=step_seed(settings.seed, order_index, t, TRAIN),
        ).to(settings.device)
        module.fit_tensors(images, labels)
        test_seen = class_subset(test, seen, relabel=False)
        accuracy = seen_accuracy(module, test_seen, seen, settings.mask_unseen)
        result = StepResult(
            step=t,
            new_classes=list(new),
            seen_classes=list(seen),
            memory_labels=labels.clone(),
            test_classes=sorted(int(c) for c in test_seen.labels.unique()),
            test_size=len(test_seen),
            accuracy=accuracy,
            memory_time_s=memory_time,
            train_time_s=time.perf_counter() - start,
        )
        results.append(result)
        if report is not None:
            report(result)
    return results


def run_continual(
    train: ClassImages,
    test: ClassImages,
    methods: Sequence[str],
    steps: int,
    classes_per_step: int | None = None,
    orders: int = 1,
    settings: ContinualSettings | None = None,
    report: Callable[[str, int, StepResult], None] | None = None,
) -> dict:
    """Every method on the same ``orders`` class orders; the JSON-ready result document.

    Args:
        train: Real training split (all classes).
        test: Real test split.
        methods: ``dm`` and/or baselines (random, herding, kcenter, forgetting).
        steps: Number of steps ``T``.
        classes_per_step: Classes arriving per step (default: all classes over ``T`` steps).
        orders: Number of seeded class orders (mean and std are taken over them).
        settings: Everything else (``ContinualSettings()`` when ``None``).
        report: Called as ``report(method, order_index, step_result)`` after each step.

    Returns:
        ``{"dataset", "classes_seen", "class_orders", "steps", "methods": {METHOD: {"accuracy"
        (per order, per step), "mean", "std" (per step, over orders), "final": {"mean", "std"},
        "average": {"mean", "std"} (mean over steps), "memory_time_s", "train_time_s"}},
        "settings"}``; accuracies in %.
    """
    settings = settings or ContinualSettings()
    methods = [canonical(m) for m in methods]
    order_list = class_orders(train.info.num_classes, orders, settings.seed)
    splits = [split_steps(o, steps, classes_per_step) for o in order_list]
    document = {
        "dataset": train.info.name,
        "classes_seen": [sum(len(s) for s in splits[0][: t + 1]) for t in range(steps)],
        "class_orders": order_list,
        "steps": splits,
        "methods": {},
        "settings": {**asdict(settings), "steps": steps, "orders": orders},
    }
    for method in methods:
        accuracy, memory_time, train_time = [], 0.0, 0.0
        for o, split in enumerate(splits):
            hook = None if report is None else (lambda r, m=method, o=o: report(m, o, r))
            results = run_order(method, train, test, split, settings, o, hook)
            accuracy.append([r.accuracy for r in results])
            memory_time += sum(r.memory_time_s for r in results)
            train_time += sum(r.train_time_s for r in results)
        per_step = [summarize([acc[t] for acc in accuracy]) for t in range(steps)]
        final, average = (
            summarize([a[-1] for a in accuracy]),
            summarize([sum(a) / len(a) for a in accuracy]),
        )
        document["methods"][method] = {
            "accuracy": accuracy,
            "mean": [s["mean"] for s in per_step],
            "std": [s["std"] for s in per_step],
            "final": {"mean": final["mean"], "std": final["std"]},
            "average": {"mean": average["mean"], "std": average["std"]},
            "memory_time_s": memory_time,
            "train_time_s": train_time,
        }
    return document

r"""Small CPU timings behind the performance choices (process CPU time, best of repeats).

Usage::

    python -m benchmarks.cpu_probes [--repeats 4]

On the MNIST shape with a ConvNet and one torch thread it prints, each as a ratio measured in
this one run:

- ``dm_loss``: our DM loss (one class per forward, siamese DSA) against the reference's
  class-by-class loss on the same inputs, forward and backward (the step without Lightning);
- ``bf16``: a 128-image embedding under bfloat16 autocast against float32;
- ``channels_last``: the same embedding with ``channels_last`` weights and input;
- ``first_conv``: the 1->128 channel first convolution of 64 images, as ``conv2d`` and as
  ``unfold`` + matmul (the same product; tells compute from memory traffic).

With ``--profile`` it also prints where our DM loss spends its time (``torch.profiler``, self
CPU time per operator, forward and backward): the operators it shares with the reference
(convolution, group norm, ReLU, pooling) bound how much faster an eager step can be.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.reference import reference_dm_loss
from dcl.augmentation import DSA, default_dsa_strategy
from dcl.methods.dm import dm_loss
from dcl.networks import build_network


def cpu_seconds(f: Callable[[], object], repeats: int) -> float:
    """Least process CPU time of ``repeats`` calls of ``f`` after one warm-up call."""
    f()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        f()
        best = min(best, time.process_time() - start)
    return best


def dm_losses() -> tuple[Callable[[], None], Callable[[], None], torch.nn.Module, Tensor]:
    """Our DM loss and the reference's at MNIST shape, 10 ipc, 64 real per class, with DSA."""
    g = torch.Generator().manual_seed(0)
    net = build_network("ConvNet", 1, 10, 28, generator=g).requires_grad_(False)
    real = torch.randn(10, 64, 1, 28, 28, generator=g)
    syn = torch.randn(10, 10, 1, 28, 28, generator=g, requires_grad=True)
    dsa = DSA(default_dsa_strategy("mnist"))
    params = dsa.sample(10, g)

    def ours() -> None:
        siamese = lambda r, s: (dsa.apply(r, params), dsa.apply(s, params))  # noqa: E731
        dm_loss(net, real, syn, siamese, class_chunk=1).backward()

    def reference() -> None:
        reference_dm_loss(net, real, syn, dsa, params).backward()

    return ours, reference, net, real


def profile(step: Callable[[], None], repeats: int, top: int = 8) -> list[tuple[str, float]]:
    """``(operator, self CPU ms per call)`` of ``step``'s most expensive operators."""
    step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            step()
    rows = [(e.key, e.self_cpu_time_total / 1000 / repeats) for e in prof.key_averages()]
    return sorted(rows, key=lambda r: -r[1])[:top]


def probes(repeats: int) -> dict[str, tuple[float, float]]:
    """``{name: (seconds of the first variant, seconds of the second)}``."""
    ours, reference, net, real = dm_losses()

    x = real[:2].flatten(0, 1)  # 128 images

    def embed_bf16() -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            net.embed(x)

    def embed() -> None:
        with torch.no_grad():
            net.embed(x)

    net_cl = build_network("ConvNet", 1, 10, 28, generator=torch.Generator().manual_seed(0))
    net_cl = net_cl.requires_grad_(False).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def embed_cl() -> None:
        with torch.no_grad():
            net_cl.embed(x_cl)

    conv = net.features[0]
    x64 = real[0]

    def conv2d() -> None:
        F.conv2d(x64, conv.weight, conv.bias, padding=conv.padding)

    def unfold_matmul() -> None:
        cols = F.unfold(x64, 3, padding=conv.padding)  # (64, 9, 32 * 32)
        conv.weight.view(128, 9) @ cols + conv.bias.view(1, 128, 1)

    pairs = {
        "dm_loss (ours, reference)": (ours, reference),
        "bf16 (float32, bfloat16 autocast)": (embed, embed_bf16),
        "channels_last (contiguous, channels_last)": (embed, embed_cl),
        "first_conv (conv2d, unfold + matmul)": (conv2d, unfold_matmul),
    }
    return {k: (cpu_seconds(a, repeats), cpu_seconds(b, repeats)) for k, (a, b) in pairs.items()}


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """Run the probes on one thread and print them."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_probes", description=__doc__)
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--profile", action="store_true", help="Also profile our DM loss by operator.")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = probes(args.repeats)
    for name, (a, b) in results.items():
        print(f"{name:>45}: {a * 1000:8.1f} ms  {b * 1000:8.1f} ms  second/first {b / a:5.2f}")
    if args.profile:
        ours, reference, _, _ = dm_losses()
        for name, step in (("ours", ours), ("reference", reference)):
            rows = profile(step, args.repeats)
            print(f"DM loss, {name}: self CPU ms per call of the top operators")
            for op, ms in rows:
                print(f"{op:>45}: {ms:8.1f} ms")
    return results


if __name__ == "__main__":
    main()

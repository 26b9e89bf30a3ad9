#!/usr/bin/env bash
# CPU suite: reduced reproduction runs, the throughput table, then results/README.md.
#
#   bash benchmarks/cpu_suite.sh [reproduce|throughput|summary|all]   (default: all)
#
# Budget: the three reproduction runs (each with its random-real baseline under the same
# protocol) are sized to finish in about 25 minutes on 2 quiet cores; the throughput part takes
# about 10 more. Run it on a quiet machine (`uptime` load below 1): the timings are recorded.
# Costs measured here with 1 thread on a busy machine (CPU seconds; 2 quiet cores do better):
#   synthesis step, real batch 32: DM MNIST 1 ipc 1.0, DC MNIST 1 ipc 2.1, DM CIFAR-10 10 ipc 1.4
#   evaluation epoch: MNIST 1 ipc 0.07 (DSA) / 0.06 (DC aug.), CIFAR-10 10 ipc 0.83 (DSA);
#   one test pass over the 10,000 test images: about 41 per model.
# Environment: PYTHON (default .venv/bin/python), DCL_DATA_ROOT (required: the folder holding
# torchvision's MNIST/raw and cifar10-jpeg.tar.gz, the CIFAR-10 image folder packed as
# cifar10-jpeg/{train,test}/<class>/), MNIST_ROOT (default $DCL_DATA_ROOT), DCL_CACHE_DIR
# (default .cache/dcl).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DATA=${DCL_DATA_ROOT:?set DCL_DATA_ROOT to the folder holding MNIST/raw and cifar10-jpeg.tar.gz}
MNIST_ROOT=${MNIST_ROOT:-$DATA}
CIFAR_ROOT=.cache/cifar10-jpeg
export DCL_CACHE_DIR=${DCL_CACHE_DIR:-$PWD/.cache/dcl}
export PYTHONUNBUFFERED=1
part=${1:-all}

if [[ ! -d $CIFAR_ROOT/train ]]; then
    mkdir -p .cache && tar xzf "$DATA/cifar10-jpeg.tar.gz" -C .cache
fi

# Shared evaluation protocol of the suite: 3 fresh ConvNets x 300 epochs per set (published:
# 5 x 1000), full real test set, augmentation as published (DSA for DM, DC's for DC on MNIST).
EVAL=(--num-models 3 --epochs 300 --device cpu --tag cpu)

if [[ $part == reproduce || $part == all ]]; then
    start=$(date +%s)
    # DM, MNIST, 1 image per class: 200 of 20000 steps, 32 of 256 real images per class.
    $PY -m benchmarks.reproduce dm mnist 1 --data-root "$MNIST_ROOT" --steps 200 \
        --batch-real 32 "${EVAL[@]}"
    # DC, MNIST, 1 image per class: 100 of 1000 steps (init noise as published), batch 32.
    $PY -m benchmarks.reproduce dc mnist 1 --data-root "$MNIST_ROOT" --steps 100 \
        --batch-real 32 "${EVAL[@]}"
    # DM, CIFAR-10 (JPEG image folder), 10 images per class: 300 of 20000 steps, batch 32;
    # 2 models x 200 epochs (an epoch of the 100-image set costs ~0.5 s on 2 cores).
    $PY -m benchmarks.reproduce dm cifar10 10 --imagefolder --data-root "$CIFAR_ROOT" \
        --steps 300 --batch-real 32 --num-models 2 --epochs 200 --device cpu --tag cpu
    echo "reproduction runs: $(( $(date +%s) - start )) s"
fi

if [[ $part == throughput || $part == all ]]; then
    # DM and DC at 1 image per class (DC: every step a matching step on a fresh network, no
    # inner loop), published real batch 256, on both shapes.
    $PY -m benchmarks.throughput --method dm dc --dataset-shape mnist cifar10 --ipc 1 \
        --batch-real 256 --steps 5 --warmup 1 --eval-models 1 --eval-epochs 20 \
        --device cpu --output results/throughput_cpu.json
    # The performance targets' settings, eager and compiled (compilation in the warm-up):
    # DM at MNIST shape, 10 ipc, 64 real per class; DC and DSA at CIFAR-10 shape, 10 ipc, 256.
    $PY -m benchmarks.throughput --method dm --dataset-shape mnist --ipc 10 --batch-real 64 \
        --steps 5 --warmup 2 --eval-models 0 --compile --threads 1 --device cpu \
        --output results/throughput_cpu_dm_mnist_ipc10.json
    $PY -m benchmarks.throughput --method dc dsa --dataset-shape cifar10 --ipc 10 \
        --batch-real 256 --steps 5 --warmup 2 --eval-models 0 --compile --threads 1 \
        --device cpu --output results/throughput_cpu_dc_cifar10_ipc10.json
fi

$PY -m benchmarks.summary

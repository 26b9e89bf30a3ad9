#!/usr/bin/env bash
# Run the test suite under the CPU kernel choices of other x86-64 machines, so that no test's
# verdict depends on the vector units or thread count of the machine that runs it.
#
#   bash benchmarks/kernel_matrix.sh [pytest args...]   # e.g. -m numerics
#   python -m benchmarks.spread_table outputs/kernel_matrix   # measured spreads -> results/
#
# Each line forces what another CI machine would pick by itself: ATen's vector width (AMD EPYC
# without AVX-512 runs avx2; old CPUs run default), oneDNN's ISA (Intel AMX vs AVX2 convolution
# kernels), MKL's code path, and 1 or 2 threads. One run at a time: two torch processes on two
# cores slow each other down 5x. Prints one verdict line per variant; exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
variants=(
  "ATEN_CPU_CAPABILITY=default"
  "ATEN_CPU_CAPABILITY=avx2"
  "ATEN_CPU_CAPABILITY=avx512"
  "ONEDNN_MAX_CPU_ISA=AVX2"
  "MKL_ENABLE_INSTRUCTIONS=AVX2"
  "OMP_NUM_THREADS=1"
  "DCL_TEST_THREADS=2"
)
log_dir="${KERNEL_MATRIX_LOGS:-outputs/kernel_matrix}"
mkdir -p "$log_dir"
status=0
for v in "${variants[@]}"; do
  name="${v//[^A-Za-z0-9]/_}"
  log="$log_dir/$name.log"
  start=$(date +%s)
  env "$v" python -m pytest -q -p no:cacheprovider --junitxml="$log_dir/$name.xml" "$@" >"$log" 2>&1
  rc=$?
  [ $rc -eq 0 ] || status=1
  echo "$v: rc=$rc $(tail -n 1 "$log") ($(( $(date +%s) - start )) s)"
done
exit $status

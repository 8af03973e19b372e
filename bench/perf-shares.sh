#!/usr/bin/env bash
# Where one model's passes spend their time, by kind of work: perf samples of `efficiency --curve` over the later
# passes (the first ones grow the heap and take the kernel choices), grouped into our GEMM tiles, libtorch's GEMMs and
# convolutions (MKL, oneDNN and its JIT code), the selective scan and the rest. perf names our JIT-compiled kernels
# through the runtime's perf map. Used for the "what it would take" table in BENCHMARKS.md
# (Efficiency against libtorch's best).
#
#   bench/perf-shares.sh MODEL@SIZExBATCH [--train] [--steps N]
#   e.g. DOTNET_EnableAVX512=0 bench/perf-shares.sh vim_small@224x8 --train --steps 16
#
# Needs perf (Debian: linux-perf) and a Release build of bench/VisionSsm.Bench.
set -euo pipefail
spec=${1:?usage: perf-shares.sh MODEL@SIZExBATCH [--train] [--steps N]}
shift
steps=30
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --steps) steps=${2:?--steps needs a number}; shift 2 ;;
    --train) extra+=(--train); shift ;;
    *) echo "perf-shares.sh: unknown argument '$1' (expected --train or --steps N)" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "perf-shares.sh: perf not found (apt install linux-perf)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/VisionSsm.Bench/bin/Release/net10.0/linux-x64
[ -f "$bin/VisionSsm.Bench.dll" ] || { echo "perf-shares.sh: build first: dotnet build -c Release bench/VisionSsm.Bench" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$bin" && DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 \
  perf record -q -F 499 -o "$out/perf.data" -- dotnet VisionSsm.Bench.dll efficiency --curve "$spec" --steps "$steps" "${extra[@]}" > "$out/curve.txt")
grep -E "^\| [0-9]+ \|" "$out/curve.txt" | awk -F'|' '{print $3 + 0}' | sort -n |
  awk '{ms[NR] = $1} END {printf "%d passes, median %s ms\n", NR, ms[int((NR + 1) / 2)]}'
perf report -i "$out/perf.data" --time 40%-100% --no-children --sort sym 2>/dev/null | awk '
  /^ *[0-9.]+%/ {
    p = $1 + 0; s = $0
    if (s ~ /Gemm|TokenLinear/) c = "GEMM, ours"
    else if (s ~ /mkl_|dnnl|\] 0x0000/) c = "GEMM and conv, libtorch (MKL, oneDNN)"
    else if (s ~ /ScanKernel|ScanRowKernel/) c = "selective scan"
    else c = "rest"
    share[c] += p
  }
  END { for (c in share) printf "%-40s %5.1f %%\n", c, share[c] }' | sort -k1,1

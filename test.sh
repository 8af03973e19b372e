#!/usr/bin/env bash
# Runs the whole test suite (Release: the SIMD kernels are only fast with the optimising JIT) and ends with
# the plain closing line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
dotnet test tests/VisionSsm.Tests/VisionSsm.Tests.csproj -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
count() { grep -E "^ *$1: +[0-9]+ *$" "$log" | tail -n 1 | grep -oE '[0-9]+' || true; }
total=$(count "Total tests"); passed=$(count Passed); failed=$(count Failed); skipped=$(count Skipped)
rm -f "$log"
if [[ -z "$total" ]]; then
  echo "0 passed, 1 failed"
  echo "test.sh: no test summary found (build error?); dotnet test exited $status" >&2
  exit 1
fi
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit "$status"

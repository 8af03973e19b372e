#!/usr/bin/env bash
# Runs the whole test suite (Release: the SIMD kernels are only fast with the optimising JIT) and ends with
# the plain closing line "N passed, N failed".
# If the test host dies (a native crash aborts the run), the .NET runtime writes a crash report (createdump) and
# --blame names the test that was running; both are printed before the closing line.
# The tests' temporary files (run folders, checkpoints, data sets: about 1 GB per run) go to a folder of this run
# (TMPDIR), removed at the end, so repeated runs do not fill the disk.
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
crash=$(mktemp -d)
trap 'rm -rf "$log" "$crash"' EXIT
mkdir -p "$crash/tmp"
TMPDIR="$crash/tmp" DOTNET_DbgEnableMiniDump=1 DOTNET_DbgMiniDumpType=1 DOTNET_DbgMiniDumpName="$crash/host-%p" \
  DOTNET_EnableCrashReport=1 \
  dotnet test tests/VisionSsm.Tests/VisionSsm.Tests.csproj -c Release --logger "console;verbosity=normal" \
  --blame --results-directory "$crash/results" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
for report in "$crash"/*.crashreport.json; do
  [[ -e "$report" ]] || continue
  echo "test.sh: the test host crashed; its crashed thread (${report##*/}):"
  awk -f scripts/crash-report.awk "$report" | head -n 60
done
count() { grep -E "^ *$1: +[0-9]+ *$" "$log" | tail -n 1 | grep -oE '[0-9]+' || true; }
total=$(count "Total tests"); passed=$(count Passed); failed=$(count Failed); skipped=$(count Skipped)
if [[ -z "$total" ]]; then
  echo "0 passed, 1 failed"
  echo "test.sh: no test summary found (build error or crashed test host); dotnet test exited $status" >&2
  exit 1
fi
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit "$status"

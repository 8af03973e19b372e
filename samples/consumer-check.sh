#!/usr/bin/env bash
# Packs the library (VisionSsm) and the CLI tool (vssm) under a fresh version, then uses them as a .NET user would:
# builds samples/Consumer against the package by PackageReference and runs a forward pass, and installs the tool
# into a temporary --tool-path and runs `vssm --help` and a one-point `vssm bench` (libtorch plus a child process).
# The version is unique per run, so the NuGet cache can never hand back a stale package; its cache entries are removed
# afterwards. Needs only the .NET 10 SDK and the package registry.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
consumer="$root/samples/Consumer"
feed="$consumer/feed"   # nuget.config there names this folder
version="0.1.0-check.$(date -u +%Y%m%d%H%M%S).$$"
cache="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
work="$(mktemp -d)"
cleanup() { rm -rf "$work" "$feed" "$cache/visionssm/$version" "$cache/vssm/$version"; }
trap cleanup EXIT
t0=$SECONDS
step() { echo "consumer-check: [$((SECONDS - t0)) s] $*"; }
fail() { echo "consumer-check: FAILED: $*" >&2; exit 1; }
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

rm -rf "$feed" && mkdir -p "$feed"
step "packing VisionSsm $version"
dotnet pack src/VisionSsm/VisionSsm.csproj -c Release -o "$feed" -p:Version="$version" -v q -nologo
[[ -f "$feed/VisionSsm.$version.nupkg" ]] || fail "dotnet pack produced no VisionSsm.$version.nupkg"

step "building samples/Consumer against VisionSsm $version (PackageReference)"
rm -rf "$consumer/obj" "$consumer/bin"
if ! dotnet build "$consumer/Consumer.csproj" -c Release -p:VisionSsmVersion="$version" -o "$work/consumer" \
       -v n -tl:off -nologo > "$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log"; fail "the consumer did not build"
fi
# On a libstdc++ older than GCC 13 (Debian 12) the package's buildTransitive targets must have patched the shim at build time.
libstdcxx=$(ls /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 2>/dev/null | head -n 1 || true)
if [[ -n "$libstdcxx" ]] && ! grep -aq 'GLIBCXX_3\.4\.32' "$libstdcxx"; then
  grep -q "TorchSharp native fix: .*weakened GLIBCXX_3.4.32" "$work/build.log" \
    || { grep -i "native fix" "$work/build.log" || true; fail "the package did not patch libLibTorchSharp.so in the consumer's output"; }
  step "the package's build step patched libLibTorchSharp.so for this libstdc++"
fi

step "running the consumer"
out=$(dotnet "$work/consumer/Consumer.dll" vmamba_nano) || fail "the consumer exited with $?: $out"
echo "$out"
[[ "$out" == *"-> output [1, 10]"* ]] || fail "unexpected consumer output"

step "packing the vssm tool $version"
dotnet pack src/VisionSsm.Cli/VisionSsm.Cli.csproj -c Release -o "$feed" -p:Version="$version" -v q -nologo
step "dotnet tool install vssm $version --tool-path"
dotnet tool install vssm --version "$version" --tool-path "$work/tools" --add-source "$feed" > "$work/tool.log" 2>&1 \
  || { cat "$work/tool.log"; fail "dotnet tool install failed"; }
"$work/tools/vssm" --help > "$work/help.txt" || fail "vssm --help exited with $?"
grep -q "bench" "$work/help.txt" || { cat "$work/help.txt"; fail "vssm --help does not list its verbs"; }
# One benchmark point: loads libtorch, and the tool re-launches itself (through its shim) for the point.
"$work/tools/vssm" bench --models deit_nano --sizes 16 --seconds 0.01 --threads 1 --plot "$work/bench.png" > "$work/bench.txt" 2>&1 \
  || { cat "$work/bench.txt"; fail "the installed vssm could not run a benchmark point"; }
step "installed vssm runs: $(grep -m1 '| deit_nano | 16 |' "$work/bench.txt")"
step "passed: $(du -sh "$feed" | cut -f1) of packages; consumer output $(du -sh "$work/consumer" | cut -f1)"

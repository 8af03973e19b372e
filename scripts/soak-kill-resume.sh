#!/usr/bin/env bash
# Kill-and-resume soak (docs/reliability.md): the default training recipe (vmamba_nano, Fashion-MNIST) made short —
# a 1,024/256-image subset, 2 epochs × 32 steps of batch 32, one thread, a checkpoint after every step — is run once
# uninterrupted, then again killed with SIGKILL at random moments of training (every other kill as soon as a checkpoint
# write has begun) and resumed with
# --resume until it completes. After every kill the checkpoint must load; at the end metrics.csv (every column but
# timings and memory) and last.ckpt (position, model, EMA, optimiser, RNG) must equal the uninterrupted run's bitwise.
#
#   scripts/soak-kill-resume.sh [KILLS (default 8)] [SEED (default 1)]
#
# Takes ~15–25 min on the shared (heavily loaded) 2-core machine. Exit 0 when every check passed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
kills=${1:-8}
RANDOM=${2:-1}
work=$(mktemp -d /tmp/vssm-soak-XXXXXX)
bench() { dotnet run -c Release --no-build --project bench/VisionSsm.Bench -- "$@"; }
log() { echo "[$(date -u +%H:%M:%S)] $*"; }

dotnet build bench/VisionSsm.Bench -c Release -v q -nologo >/dev/null || { echo "build failed" >&2; exit 1; }
./vssm models >/dev/null   # builds the CLI once, so the timed runs below are only training
bench soak subset --from /usr/share/datasets/fashion-mnist --to "$work/data" --train 1024 --test 256 || exit 1
args=(--kernels choice=ours --data "$work/data" --epochs 2 --batch-size 32 --threads 1 --checkpoint-every 1 --seed 7 --log-interval 8)

log "uninterrupted reference run"
start=$SECONDS
./vssm train "${args[@]}" --output "$work/ref" > "$work/ref.log" 2>&1 || { cat "$work/ref.log"; exit 1; }
ref_seconds=$((SECONDS - start))
log "reference: ${ref_seconds} s"

run="$work/soak"
failures=0 killed=0 mid_write=0 before_first=0 sessions=0 done=0
while (( ! done )); do
  sessions=$((sessions + 1))
  slog="$work/session-$sessions.log"
  if [[ -f "$run/last.ckpt" ]]; then
    ./vssm train --resume "$run" --threads 1 --kernels choice=ours > "$slog" 2>&1 &
  else
    rm -rf "$run"
    ./vssm train "${args[@]}" --output "$run" > "$slog" 2>&1 &
  fi
  pid=$!
  if (( killed < kills )); then
    # Start-up (libtorch, data, model) takes 10–40 s on a loaded machine: wait until the session trains, then kill
    # after a random 1–20 s (each step, with its checkpoint, takes ~1–3 s here).
    until grep -qE "^(training|resuming) " "$slog" 2>/dev/null || ! kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    delay=$((1 + RANDOM % 20))
    for ((t = 0; t < delay * 10; t++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if (( killed % 2 == 1 )); then
      # Every other kill lands inside a checkpoint write: as soon as the next temp file appears (being written,
      # fsynced or about to be renamed over last.ckpt).
      until [[ -n "$(find "$run" -maxdepth 1 -name '.tmp-*' -print -quit 2>/dev/null)" ]] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
    fi
    if kill -9 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      killed=$((killed + 1))
      temps=$(find "$run" -maxdepth 1 -name '.tmp-*' 2>/dev/null | wc -l)
      (( temps > 0 )) && mid_write=$((mid_write + 1))
      if [[ -f "$run/last.ckpt" ]]; then
        out=$(bench soak check "$run/last.ckpt") || { failures=$((failures + 1)); }
        log "kill $killed, $( ((killed % 2 == 0)) && echo "at the first checkpoint write after ${delay} s" || echo "${delay} s into training")$( ((temps > 0)) && echo ' (temp file left: during a write)'): $out"
      else
        before_first=$((before_first + 1))
        log "kill $killed, ${delay} s into training: before the first checkpoint (run starts again)"
      fi
      continue
    fi
  fi
  wait "$pid"; status=$?
  (( status == 0 )) || { log "session $sessions exited $status"; tail -5 "$slog"; failures=$((failures + 1)); break; }
  done=1
done

log "comparing with the reference"
cols() { cut -d, -f1-10 "$1"; }   # epoch … ema_top5; the rest are timings and memory
if diff <(cols "$work/ref/metrics.csv") <(cols "$run/metrics.csv") > "$work/metrics.diff"; then
  log "metrics.csv: identical (epoch, step, lr, train/test loss and accuracy)"
else
  log "metrics.csv DIFFERS:"; cat "$work/metrics.diff"; failures=$((failures + 1))
fi
bench soak check "$run/last.ckpt" --same "$work/ref/last.ckpt" || failures=$((failures + 1))
grep -h "test (final model)" -A1 "$work/ref.log" | head -2
echo
echo "sessions $sessions, kills $killed ($mid_write during a checkpoint write, $before_first before the first checkpoint), failures $failures"
echo "reference run ${ref_seconds} s; whole soak $SECONDS s; work folder $work"
(( failures == 0 )) && rm -rf "$work"
exit $(( failures > 0 ))

#!/usr/bin/env bash
# kill -9 test (issue 9): trains a small run with step checkpoints uninterrupted, then again with KILLS random
# kill -9s, each followed by `train --resume`. Passes when the resumed run's (step, loss) records equal the
# uninterrupted run's bit for bit and no resume lost more than one checkpoint interval of steps.
# Usage: scripts/kill9_test.sh [KILLS=20]   (BIN=path/to/voxelformer, default the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${1:-20}
BIN=${BIN:-.build/release/voxelformer}
EVERY=${EVERY:-4}
# long enough that every kill lands mid-run: 12 steps an epoch, one epoch per kill (each kill costs up to ~10
# steps: start-up plus a random wait)
EPOCHS=${EPOCHS:-$KILLS}
[ -x "$BIN" ] || { echo "kill9: $BIN is not built; run: swift build -c release --product voxelformer" >&2; exit 1; }
WORK=$(mktemp -d /tmp/vf-kill9.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

"$BIN" synth --out "$WORK/data" --subjects 2 --images 96 --test-images 30 --voxels 150 >/dev/null
ARGS=(--config configs/demo.yaml "data.root=$WORK/data" "data.train_subjects=[1,2]" "data.test_subjects=[1,2]"
      "train.epochs=$EPOCHS" train.batch_size=16 "train.checkpoint_every_steps=$EVERY" train.threads=1
      eval.every_epochs=2 eval.pool_size=30 eval.pools=2)
losses() {  # the (step, loss) records of a run folder, one per line
    grep '"loss"' "$1/metrics.jsonl" | sed 's/.*"loss": \([^,}]*\).*"step": \([0-9]*\).*/\2 \1/'
}

"$BIN" train "${ARGS[@]}" --run-dir "$WORK/ref" >"$WORK/ref.log" 2>&1
TOTAL=$(losses "$WORK/ref" | wc -l)
echo "kill9: uninterrupted run: $TOTAL steps, checkpoint every $EVERY steps"

RUN="$WORK/killed"
last_step() { (losses "$RUN" 2>/dev/null || true) | tail -n1 | cut -d' ' -f1; }
checkpoint_step() {
    [ -f "$RUN/checkpoint.safetensors" ] || { echo 0; return; }
    (grep -ao '"step": *"[0-9]*"' "$RUN/checkpoint.safetensors" || true) | head -n1 | tr -dc 0-9
}
kills=0 worst=0 mode=()
while [ "$kills" -lt "$KILLS" ]; do
    from=$(checkpoint_step); from=${from:-0}
    "$BIN" train "${ARGS[@]}" --run-dir "$RUN" "${mode[@]}" >>"$WORK/killed.log" 2>&1 &
    pid=$!
    # kill 1 to 6 steps past the checkpoint it resumed from (start-up time varies with the machine's load),
    # at a random moment within the step
    target=$((from + 1 + RANDOM % 6)) waited=0
    while kill -0 "$pid" 2>/dev/null && [ "${waited}" -lt 3000 ]; do
        s=$(last_step); [ "${s:-0}" -ge "$target" ] && break
        sleep 0.1; waited=$((waited + 1))
    done
    sleep "0.$((RANDOM % 10))"
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid" || true; echo "kill9: the run finished before kill $((kills + 1))"; break; fi
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    logged=$(last_step); logged=${logged:-0}
    saved=$(checkpoint_step); saved=${saved:-0}
    lost=$((logged - saved))
    [ "$lost" -gt "$worst" ] && worst=$lost
    echo "kill9: kill $kills: resumed from step $from, killed after step $logged, checkpoint at step $saved, lost $lost steps"
    [ -f "$RUN/checkpoint.safetensors" ] && mode=(--resume) || mode=(--overwrite)
done
"$BIN" train "${ARGS[@]}" --run-dir "$RUN" "${mode[@]}" >>"$WORK/killed.log" 2>&1
if ! diff <(losses "$WORK/ref") <(losses "$RUN") >"$WORK/diff"; then
    echo "kill9: FAIL: the resumed losses differ from the uninterrupted run's:"; head -n 20 "$WORK/diff"; exit 1
fi
if [ "$worst" -gt "$EVERY" ]; then echo "kill9: FAIL: a kill lost $worst steps (more than one interval of $EVERY)"; exit 1; fi
stale=$(find "$RUN" -name '.*.tmp' | wc -l)
echo "kill9: PASS: $kills kills, $TOTAL steps identical to the uninterrupted run, at most $worst steps lost per kill, $stale stale temporaries left"

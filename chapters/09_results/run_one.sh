#!/usr/bin/env bash
# run_one.sh: one training run of the experiments harness (experiments.mk),
# resumable and never repeated.
#
#   run_one.sh DIR ARCH SIZE STEPS SEED DATA [QUESTIONS]
#
# Trains `bin/um train --arch ARCH --size SIZE --steps STEPS --seed SEED` on
# DATA (and scores fact recall on QUESTIONS, when given) into DIR:
#
#   DIR/run.args      the settings this directory belongs to
#   DIR/model.ckpt    checkpoint, every ~10% of the steps and at the end
#   DIR/history.tsv   train loss of every step, validation loss every ~5%
#   DIR/summary.txt   the results, "name: value" lines (um train --summary)
#   DIR/train.log     stdout+stderr of every attempt, appended
#   DIR/attempts.txt  one line per attempt: date, git commit, command
#   DIR/done          written last, only after a successful run
#
# Run again after an interruption (Ctrl-C, a crash, a reboot): a finished run
# is skipped, an unfinished one continues from its last checkpoint with
# --resume (bit-identical to an uninterrupted run), so at most one checkpoint
# interval of work is lost. A run killed after its final checkpoint but
# before its summary gets the summary from `um eval` on that checkpoint.
set -u
if [ $# -lt 6 ]; then
    echo "usage: $0 DIR ARCH SIZE STEPS SEED DATA [QUESTIONS]" >&2
    exit 2
fi
dir=$1 arch=$2 size=$3 steps=$4 seed=$5 data=$6 questions=${7:-}
um=${UM:-bin/um}

if [ -f "$dir/done" ]; then
    echo "[$arch $(basename "$data") seed $seed] already done: $dir"
    exit 0
fi
mkdir -p "$dir" || exit 1

# One process per run directory: a second `make experiments` on the same
# EXP_OUT must not train the same run at the same time.
exec 9> "$dir/lock"
if ! flock -n 9; then
    echo "error: $dir is being trained by another process (make experiments running twice?)" >&2
    exit 1
fi

# Checkpoint and validate every 10% of the run (at least every step), on 8
# validation batches: the curve gets 10 points, and validating costs ~5% of
# the training time (20 batches every 5% cost ~40% at the small preset).
# The final figure is measured on the whole held-out split anyway.
ckpt_every=$(( steps / 10 > 0 ? steps / 10 : 1 ))
eval_every=$ckpt_every
args=(--arch "$arch" --size "$size" --steps "$steps" --seed "$seed" --data "$data"
      --threads 1 --ckpt-every "$ckpt_every" --eval-every "$eval_every" --eval-batches 8)
[ -n "$questions" ] && args+=(--questions "$questions")

# A directory belongs to one setting: resuming with other settings would
# splice two different runs together.
if [ -f "$dir/run.args" ]; then
    if [ "$(cat "$dir/run.args")" != "${args[*]}" ]; then
        echo "error: $dir was started with other settings:" >&2
        echo "  then: $(cat "$dir/run.args")" >&2
        echo "  now:  ${args[*]}" >&2
        echo "  use another EXP_OUT, or delete $dir to start it again" >&2
        exit 2
    fi
else
    echo "${args[*]}" > "$dir/run.args"
fi

cmd=("$um" train "${args[@]}" --ckpt "$dir/model.ckpt" --history "$dir/history.tsv"
     --summary "$dir/summary.txt" --no-viz)
what="started"
if [ -f "$dir/model.ckpt" ]; then
    cmd+=(--resume)
    what="resumed"
fi
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $commit ${cmd[*]}" >> "$dir/attempts.txt"
echo "[$arch $(basename "$data") seed $seed] $what: log in $dir/train.log"
"${cmd[@]}" >> "$dir/train.log" 2>&1
rc=$?

# Killed after the final checkpoint, before the summary: train refuses to
# resume (nothing left to train), so measure the checkpoint instead.
if [ $rc -eq 2 ] && tail -n 3 "$dir/train.log" | grep -q "is not past the checkpoint's step $steps"; then
    echo "[$arch $(basename "$data") seed $seed] final checkpoint found: evaluating it"
    # the batch the run validated with, from its header "N steps x B x T tokens"
    batch=$(grep -m1 -oE '[0-9]+ steps x [0-9]+ x' "$dir/train.log" | awk '{print $4}')
    ecmd=("$um" eval --ckpt "$dir/model.ckpt" --data "$data" --threads 1 --batch "${batch:-16}"
          --summary "$dir/summary.txt")
    [ -n "$questions" ] && ecmd+=(--questions "$questions")
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $commit ${ecmd[*]}" >> "$dir/attempts.txt"
    "${ecmd[@]}" >> "$dir/train.log" 2>&1
    rc=$?
fi

if [ $rc -ne 0 ]; then
    echo "[$arch $(basename "$data") seed $seed] FAILED (exit $rc): see $dir/train.log" >&2
    exit $rc
fi
date -u +%Y-%m-%dT%H:%M:%SZ > "$dir/done"
echo "[$arch $(basename "$data") seed $seed] done"

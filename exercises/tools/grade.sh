#!/usr/bin/env bash
# grade.sh: build, run and score the exercise tests (called by `make grade`).
#
#   grade.sh VARIANT [ID...]
#     VARIANT  student    your code in exercises/*.c
#              reference  the reference regions of lib/ (a teacher's check: full marks)
#              stubs      fresh stubs made from lib/ (the grader's self-test: 0 points)
#     ID       exercises to grade (default: all, in manifest order)
#
# Prints one line per exercise with its points, the reasons it lost points
# (not implemented, the first failing checks, a crash, a timeout, a compile
# error), then `TOTAL: <got>/<max> points`. Exit status 0 only when every
# check of every graded exercise passes.
#
# Points are proportional to the checks passed (rounded down), so an exercise
# scores full marks only when all of its checks pass.
set -uo pipefail

MAKE=${MAKE:-make}
EX_TOOL=exercises/tools/exercise.sh
TIME_LIMIT=${GRADE_TIME_LIMIT:-120}   # seconds per exercise binary (each check also has 10 s)

variant=${1:-student}
shift || true
case "$variant" in
student | reference | stubs) ;;
*) echo "grade: SOLUTIONS=$variant is not a variant (allowed: student, reference, stubs)" >&2; exit 2 ;;
esac

ids=("$@")
if [ ${#ids[@]} = 0 ]; then
    mapfile -t ids < <("$EX_TOOL" list)
    verbose=${VERBOSE:-0}
else
    verbose=${VERBOSE:-1}   # one exercise asked for: show all of its failures
fi
for id in "${ids[@]}"; do
    "$EX_TOOL" field "$id" points > /dev/null || exit 2
done

dir=build/grade/$variant
mkdir -p "$dir"
targets=()
for id in "${ids[@]}"; do targets+=("$dir/ex_${id/./_}/test"); done

# Build everything that can be built (-k), in parallel; never run a stale
# binary: a test whose build fails this time must not pass from last time.
rm -f "${targets[@]}"
jobs=$(nproc 2>/dev/null || echo 2)
$MAKE --no-print-directory -s -k -j"$jobs" "${targets[@]}" > "$dir/build.log" 2>&1

# The environment of the test binaries: fork every check, and ignore a
# CK_RUN_SUITE etc. inherited from whoever called us (the grader's self-test
# runs inside `bin/test_f32`, maybe with CK_RUN_SUITE=grader).
run_env=(env -u CK_RUN_SUITE -u CK_RUN_CASE -u CK_INCLUDE_TAGS -u CK_EXCLUDE_TAGS -u CK_VERBOSITY
         -u CK_TIMEOUT_MULTIPLIER -u CK_DEFAULT_TIMEOUT CK_FORK=yes
         OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive})
# (passive: OpenMP workers of a forked check otherwise spin ~0.5 s at its exit)

got_total=0
max_total=0
all_passed=1
show() { sed 's/^/      /'; }

for id in "${ids[@]}"; do
    points=$("$EX_TOOL" field "$id" points)
    title=$("$EX_TOOL" field "$id" title)
    student=$("$EX_TOOL" field "$id" student)
    exdir=$dir/ex_${id/./_}
    bin=$exdir/test
    log=$exdir/log.txt
    max_total=$((max_total + points))
    label=$(printf 'exercise %-4s %-40s' "$id" "$title")

    if [ ! -x "$bin" ]; then
        all_passed=0
        printf '%s %3d/%d  does not compile\n' "$label" 0 "$points"
        # Build it alone to show only its own errors.
        $MAKE --no-print-directory -s "$bin" 2>&1 | grep -v '^make.*\*\*\* \[' | head -n $((verbose ? 40 : 12)) | show
        continue
    fi

    # A memory cap (4 GiB of address space) so student code that allocates
    # without limit fails this exercise instead of exhausting the machine.
    ( ulimit -v 4194304; "${run_env[@]}" timeout --kill-after=5 "$TIME_LIMIT" "./$bin" ) > "$log" 2>&1
    status=$?
    summary=$(grep -E '^GRADE passed=[0-9]+ total=[0-9]+$' "$log" | tail -n 1)
    passed=0 total=0
    if [ -n "$summary" ]; then
        passed=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<< "$summary")
        total=$(sed -E 's/.*total=([0-9]+).*/\1/' <<< "$summary")
    fi
    if [ "$total" -gt 0 ]; then got=$((points * passed / total)); else got=0; fi
    got_total=$((got_total + got))

    if [ "$total" -gt 0 ] && [ "$passed" = "$total" ]; then
        printf '%s %3d/%d  (%d/%d checks)\n' "$label" "$got" "$points" "$passed" "$total"
        continue
    fi
    all_passed=0
    if [ -z "$summary" ]; then
        why="the test program itself died (status $status)"
        [ "$status" = 124 ] || [ "$status" = 137 ] && why="the test program ran over ${TIME_LIMIT} s"
        printf '%s %3d/%d  %s; see %s\n' "$label" "$got" "$points" "$why" "$log"
        tail -n 5 "$log" | show
        continue
    fi
    printf '%s %3d/%d  (%d/%d checks)\n' "$label" "$got" "$points" "$passed" "$total"
    # Why: the TODO messages, then the failing checks as
    #   <file>:<line>:F|E:<tcase>:<test>:<iter>: <message>
    grep -E 'is not implemented yet' "$log" | awk '!seen[$0]++' | head -n 3 | show
    limit=$((verbose ? 1000 : 2))
    grep -E '^[^:]+:[0-9]+:[FE]:' "$log" | head -n "$limit" | awk -F: '
        {
            kind = $3 == "E" ? "CRASH" : "FAIL"
            msg = $0
            for (i = 1; i <= 6; i++) sub(/^[^:]*:/, "", msg)
            sub(/^ /, "", msg)
            if (kind == "CRASH" && msg ~ /timeout/) kind = "TIMEOUT"
            print kind " " $5 ": " msg
        }' | show
    nfail=$(grep -cE '^[^:]+:[0-9]+:[FE]:' "$log")
    if [ "$nfail" -gt "$limit" ]; then
        echo "      ... $((nfail - limit)) more failing checks: make grade EX=$id (full log: $log)"
    fi
done

echo "TOTAL: $got_total/$max_total points"
if [ "$variant" = student ] && [ "$all_passed" = 0 ]; then
    echo "(edit exercises/*.c, then make grade again; each exercise's maths and a hint are in its chapter README)"
fi
[ "$all_passed" = 1 ] && [ "$got_total" = "$max_total" ]

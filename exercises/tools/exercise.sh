#!/usr/bin/env bash
# exercise.sh: the one tool that moves exercise code between lib/ and exercises/.
#
# The reference solutions live ONLY in lib/, between marker comments:
#     /* BEGIN EXERCISE 1.1 */  ...function definitions...  /* END EXERCISE 1.1 */
# exercises/manifest.tsv lists each exercise once (id, points, lib file,
# student file, chapter, title). Everything else is derived:
#
#   exercise.sh list                      the ids, in manifest order
#   exercise.sh field ID COLUMN           one manifest field (points, lib, student, chapter, title)
#   exercise.sh stubs OUTDIR              write the student files (bodies replaced by UM_TODO)
#   exercise.sh solutions OUTDIR          the same files with the reference regions copied in
#                                         (what `make grade SOLUTIONS=reference` grades)
#   exercise.sh substitute FROM LIBFILE OUT [ID...]
#                                         copy LIBFILE to OUT with the regions ID... (all of
#                                         LIBFILE's if none) taken from the student files in
#                                         directory FROM.
#                                         #line directives make compiler errors and UM_TODO
#                                         messages name the student file and its line.
#   exercise.sh check [DIR]               fail if the student files in DIR (default exercises)
#                                         have drifted from lib/: a region or signature is
#                                         missing, or the text outside the regions differs
#                                         from what `stubs` writes. Bodies may differ (that
#                                         is the student's work) and helpers may be added.
#
# Run from the repository root (make does).
set -euo pipefail

TOOLS=$(dirname "$0")
MANIFEST=${MANIFEST:-exercises/manifest.tsv}
AWKLIB="$TOOLS/regions.awk"

die() { echo "exercise.sh: $*" >&2; exit 2; }

# awklib [-v name=value]... PROGRAM [FILE...]: awk with regions.awk's functions.
awklib() {
    local vars=()
    while [ "$1" = -v ]; do vars+=("$1" "$2"); shift 2; done
    local prog=$1; shift
    awk "${vars[@]}" -f "$AWKLIB" -f <(printf '%s\n' "$prog") "$@"
}
[ -f "$MANIFEST" ] || die "no $MANIFEST (run from the repository root)"

# Manifest rows without comments: id points lib student chapter title
rows() { grep -v '^#' "$MANIFEST" | grep -v '^[[:space:]]*$'; }

column_of() {
    case "$1" in
    id) echo 1 ;; points) echo 2 ;; lib) echo 3 ;; student) echo 4 ;; chapter) echo 5 ;; title) echo 6 ;;
    *) die "unknown manifest column '$1' (allowed: id points lib student chapter title)" ;;
    esac
}

field() {
    local col; col=$(column_of "$2")
    local v; v=$(rows | awk -F'\t' -v id="$1" -v c="$col" '$1 == id { print $c; found = 1 } END { exit !found }') \
        || die "exercise '$1' is not in $MANIFEST (known: $(rows | cut -f1 | tr '\n' ' '))"
    echo "$v"
}

# The text between the markers of exercise ID in FILE (without the markers).
region_of() {
    awklib -v want="$1" -v file="$2" '
        marker_id($0, "END") == want { inside = 0; done = 1 }
        inside { print }
        marker_id($0, "BEGIN") == want { inside = 1; begun = 1 }
        END {
            if (!begun || !done) {
                printf "exercise.sh: %s has no complete region BEGIN/END EXERCISE %s\n", file, want > "/dev/stderr"
                exit 2
            }
        }' "$2"
}

# ------------------------------------------------------------------ stubs
header_of() {  # student file name -> its header comment
    local student=$1 chapter=$2
    cat <<EOF
// $student: your code for the exercises of $chapter.
//
// GENERATED from lib/ by exercises/tools/exercise.sh (make exercises-stubs).
// Write your code between the BEGIN/END EXERCISE markers, nowhere else.
//
// This file is never compiled on its own: make grade pastes each region into
// its place in lib/ (the file named above the region), so your code sees that
// file's #includes, macros and static helpers, exactly as the reference does.
// The maths, the shapes and a hint for each exercise: $chapter/README.md.
//
//   make grade EX=1.1     grade one exercise (its tests, points and failures)
//   make grade            grade them all
//
// UM_TODO prints "exercise N is not implemented yet" and returns without
// touching the outputs; delete it when you write the body. You may add small
// static helper functions inside a region.
EOF
}

stubs() {
    local out=$1 mode=${2:-stub}
    mkdir -p "$out"
    local students; students=$(rows | cut -f4 | awk '!seen[$0]++')
    for student in $students; do
        local tmp="$out/.$student.tmp" chapter
        chapter=$(rows | awk -F'\t' -v s="$student" '$4 == s { print $5; exit }')
        header_of "$student" "$chapter" > "$tmp"
        rows | awk -F'\t' -v s="$student" '$4 == s' | while IFS=$'\t' read -r id points lib _ chapter title; do
            printf '\n// ---------------------------------------------------------------- exercise %s (%s points)\n' "$id" "$points"
            printf '// %s. Your code replaces the reference in %s.\n' "$title" "$lib"
            printf '/* BEGIN EXERCISE %s */\n' "$id"
            if [ "$mode" = solution ]; then
                region_of "$id" "$lib"
            else
                region_of "$id" "$lib" | awklib -v id="$id" '
                    { text = text $0 "\n" }
                    END { scan(text, id); printf "%s", stub }'
            fi
            printf '/* END EXERCISE %s */\n' "$id"
        done >> "$tmp"
        mv "$tmp" "$out/$student"
    done
}

# ------------------------------------------------------------------ substitute
substitute() {
    local from=$1 lib=$2 out=$3; shift 3
    [ -f "$lib" ] || die "no $lib"
    local ids="$*"
    [ -n "$ids" ] || ids=$(rows | awk -F'\t' -v l="$lib" '$3 == l { print $1 }' | tr '\n' ' ')
    mkdir -p "$(dirname "$out")"
    # One awk pass per id would re-read the lib file; instead hand awk the
    # list of (id, student file) pairs and let it splice them all.
    local pairs=""
    for id in $ids; do
        [ "$(field "$id" lib)" = "$lib" ] || die "exercise $id lives in $(field "$id" lib), not in $lib"
        local sf="$from/$(field "$id" student)"
        [ -f "$sf" ] || die "no student file $sf (hint: make exercises-stubs writes fresh ones)"
        pairs="$pairs $id=$sf"
    done
    awklib -v pairs="$pairs" -v lib="$lib" '
        BEGIN {
            n = split(pairs, p, " ")
            for (i = 1; i <= n; i++) {
                eq = index(p[i], "=")
                id = substr(p[i], 1, eq - 1); sf = substr(p[i], eq + 1)
                want[id] = sf
                line = 0; inside = 0; begun = 0; done = 0
                while ((getline l < sf) > 0) {
                    line++
                    if (marker_id(l, "END") == id) { inside = 0; done = 1 }
                    if (inside) body[id] = body[id] l "\n"
                    if (marker_id(l, "BEGIN") == id) { inside = 1; begun = 1; first[id] = line + 1 }
                }
                close(sf)
                if (!begun || !done) {
                    printf "exercise.sh: %s has no complete region BEGIN/END EXERCISE %s (hint: restore the two marker lines)\n", sf, id > "/dev/stderr"
                    exit 2
                }
            }
            printf "#line 1 \"%s\"\n", lib
        }
        {
            id = marker_id($0, "BEGIN")
            if (id != "" && (id in want)) {
                print
                printf "#line %d \"%s\"\n%s", first[id], want[id], body[id]
                skipping = id
                next
            }
            if (skipping != "") {
                if (marker_id($0, "END") == skipping) {
                    printf "#line %d \"%s\"\n", NR, lib
                    print
                    skipping = ""
                }
                next
            }
            print
        }' "$lib" > "$out.tmp"
    mv "$out.tmp" "$out"
}

# ------------------------------------------------------------------ check
# Text outside every region (markers included): must match what stubs writes.
outside() { awklib 'marker_id($0, "END") != "" { inside = 0 } !inside { print } marker_id($0, "BEGIN") != "" { inside = 1 }' "$1"; }

# The signatures of the functions defined in a region, one per line.
signatures() {
    awklib -v id="$1" '{ text = text $0 "\n" } END { scan(text, id); for (i = 1; i <= nsig; i++) print sigs[i] }'
}

check() {
    local dir=${1:-exercises} bad=0 tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    # 1. manifest <-> markers in lib/: every region listed, every listed id marked once.
    local marked; marked=$(grep -rhoE '^/\* BEGIN EXERCISE [0-9]+\.[0-9]+ \*/' lib | awk '{ print $4 }' | sort)
    local listed; listed=$(rows | cut -f1 | sort)
    if [ "$marked" != "$listed" ]; then
        echo "drift: lib/ marks exercises [$(echo $marked)] but $MANIFEST lists [$(echo $listed)]"
        bad=1
    fi
    if [ -n "$(echo "$marked" | uniq -d)" ]; then echo "drift: an exercise is marked twice in lib/: $(echo "$marked" | uniq -d)"; bad=1; fi
    # 2. fresh stubs; the student files must match them outside the regions...
    stubs "$tmp" || return 2
    for f in "$tmp"/*.c; do
        local name; name=$(basename "$f")
        if [ ! -f "$dir/$name" ]; then echo "drift: $dir/$name is missing (make exercises-stubs writes it)"; bad=1; continue; fi
        if ! diff -u <(outside "$f") <(outside "$dir/$name") > "$tmp/diff"; then
            echo "drift: $dir/$name differs from lib/ outside the exercise regions:"
            sed 's/^/    /' "$tmp/diff" | head -20
            bad=1
        fi
    done
    # ...and hold every reference signature inside each region.
    while IFS=$'\t' read -r id _ lib student _ _; do
        [ -f "$dir/$student" ] || continue
        local want have
        want=$(region_of "$id" "$lib" | signatures "$id") || { bad=1; continue; }
        have=$(region_of "$id" "$dir/$student" 2>/dev/null | signatures "$id" 2>/dev/null) || have=""
        while IFS= read -r sig; do
            [ -z "$sig" ] && continue
            if ! grep -qxF -- "$sig" <<< "$have"; then
                echo "drift: exercise $id in $dir/$student lacks the signature of lib/: $sig"
                bad=1
            fi
        done <<< "$want"
    done < <(rows)
    if [ "$bad" = 0 ]; then echo "exercise files in $dir/ agree with lib/ ($(rows | wc -l) exercises)"; fi
    return $bad
}

cmd=${1:-}
shift || true
case "$cmd" in
list) rows | cut -f1 ;;
field) [ $# = 2 ] || die "usage: field ID COLUMN"; field "$1" "$2" ;;
stubs) [ $# = 1 ] || die "usage: stubs OUTDIR"; stubs "$1" ;;
solutions) [ $# = 1 ] || die "usage: solutions OUTDIR"; stubs "$1" solution ;;
substitute) [ $# -ge 3 ] || die "usage: substitute FROM LIBFILE OUT [ID...]"; substitute "$@" ;;
check) check "${1:-exercises}" ;;
*) die "usage: exercise.sh list|field|stubs|substitute|check (see the comment at the top)" ;;
esac

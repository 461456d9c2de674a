#!/usr/bin/env bash
# import_fortunes.sh OUT: build a real-English training corpus from the
# fortune cookie files of Debian's `fortunes` package.
#
# What it does, in order (LC_ALL=C so every machine sorts and matches alike):
#  1. takes the plain-text fortune files in $FORTUNES_DIR (default
#     /usr/share/games/fortunes), in sorted order: not the .dat indexes, not
#     the .u8 symlinks, not the off/ (offensive) directory, and not ascii-art
#     (pictures, not prose);
#  2. turns each `%` separator line into an empty line, so fortunes stay apart;
#  3. removes typewriter overstrikes ("_\bX" underlines X: keep the X);
#  4. deletes control bytes other than TAB and newline;
#  5. drops any byte that is not valid UTF-8 (iconv -c).
# The same package version gives a byte-identical OUT.
set -euo pipefail
export LC_ALL=C

if [ $# -ne 1 ]; then
    echo "usage: bash datasets/import_fortunes.sh OUT" >&2
    exit 2
fi
out=$1
dir=${FORTUNES_DIR:-/usr/share/games/fortunes}

if [ ! -d "$dir" ]; then
    echo "error: fortune directory '$dir' not found (hint: apt-get install fortunes)" >&2
    exit 1
fi

mapfile -t files < <(find "$dir" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' \
                          ! -name 'ascii-art' | sort)
if [ ${#files[@]} -eq 0 ]; then
    echo "error: no fortune files in '$dir' (hint: apt-get install fortunes)" >&2
    exit 1
fi

# Drop invalid UTF-8. iconv -c exits 1 when it dropped something, which is
# exactly what we asked for, so only a missing iconv is a failure; without it,
# fall back to deleting every non-ASCII byte.
to_utf8() {
    if command -v iconv >/dev/null; then
        iconv -f UTF-8 -t UTF-8 -c || [ $? -eq 1 ]
    else
        tr -d '\200-\377'
    fi
}

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
cat "${files[@]}" |
    sed -e 's/^%$//' -e 's/.\x08//g' |
    tr -d '\000-\010\013-\037\177' |
    to_utf8 > "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out: $(wc -c < "$out") bytes from ${#files[@]} fortune files"

#!/bin/sh
# Byte-identity check for refactors: builds REV (default HEAD) and the working tree,
# runs `cleanup all` with both on the planted model and on a small gelu-4l-shaped
# model at 1 and 2 threads, and compares every output file except run.txt.
#
#   sh tools/same_outputs.sh [REV]        # exit 0 when every file is identical
#
# Both are built with VERSION_COMMIT=compared, so the version line of report.md is the
# same; report.md leaves --out and --threads out of its command line. Rebuild with a
# plain `make` afterwards for the real version.
# Uses a scratch directory (SAME_OUTPUTS_TMP, default a mktemp -d) and leaves the
# tree as it was. ROWS (default 12) and SEQ (default 256) size the gelu-4l run.
set -eu
rev=${1:-HEAD}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=${SAME_OUTPUTS_TMP:-$(mktemp -d)}
rows=${ROWS:-12}
seq=${SEQ:-256}
mkdir -p "$tmp"

echo "same_outputs: building $rev in $tmp/old"
rm -rf "$tmp/old"
git -C "$root" worktree add --detach -f "$tmp/old" "$rev" >/dev/null 2>&1 || {
    echo "same_outputs: cannot check out $rev" >&2; exit 1; }
trap 'git -C "$root" worktree remove --force "$tmp/old" >/dev/null 2>&1 || true' EXIT
make -C "$tmp/old" -j2 VERSION_COMMIT=compared >/dev/null
echo "same_outputs: building the working tree"
make -C "$root" -j2 VERSION_COMMIT=compared >/dev/null

# One gelu-4l-shaped model for both (synth output is itself platform-independent).
if [ ! -f "$tmp/g4l/config.json" ]; then
    "$root/cleanup" synth --shape gelu-4l --rows "$rows" --out "$tmp/g4l" >/dev/null
fi

status=0
for who in old new; do
    if [ $who = old ]; then bin=$tmp/old/cleanup; dir=$tmp/old; else bin=$root/cleanup; dir=$root; fi
    for th in 1 2; do
        (cd "$dir" && "$bin" all --threads $th --out "$tmp/out-$who-planted-$th" >/dev/null 2>>"$tmp/log") || true
        (cd "$dir" && "$bin" all --threads $th --model "$tmp/g4l" --n-prompts "$rows" --seq-len "$seq" \
            --out "$tmp/out-$who-g4l-$th" >/dev/null 2>>"$tmp/log") || true
    done
done
# A verdict exit status (a failed check) is not an error here; missing outputs are.
for case in planted-1 planted-2 g4l-1 g4l-2; do
    a=$tmp/out-old-$case b=$tmp/out-new-$case
    [ -f "$a/results.tsv" ] && [ -f "$b/results.tsv" ] || { echo "MISSING results.tsv: $case"; status=1; continue; }
    n=0
    for f in $(cd "$a" && ls | grep -v '^run.txt$'); do
        n=$((n + 1))
        if ! cmp -s "$a/$f" "$b/$f"; then echo "DIFFERS: $case/$f"; status=1; fi
    done
    for f in $(cd "$b" && ls | grep -v '^run.txt$'); do
        [ -e "$a/$f" ] || { echo "NEW FILE: $case/$f"; status=1; }
    done
    echo "same_outputs: $case: $n files compared"
done
[ $status = 0 ] && echo "same_outputs: identical to $rev" || echo "same_outputs: outputs differ from $rev"
exit $status

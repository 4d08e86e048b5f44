#!/bin/sh
# test_determinism.sh - `cleanup all` gives bit-identical outputs whatever the
# thread count (issue 7; developers' guide: "bit-identical results whatever the
# thread count").
#
# Writes the planted model (cleanup synth, 40 data rows), runs `cleanup all` on
# it with --threads 1, 2 and 3 (3 splits the work unevenly on purpose), and
# compares every output byte for byte (results.tsv, figures, report.md and
# SHA256SUMS) except run.txt, which records the run time and thread count. Run from the repo root with the binary at
# $CLEANUP (default ./cleanup). Exit 0 pass, 1 fail.

BIN=${CLEANUP:-./cleanup}
if [ ! -x "$BIN" ]; then
    echo "test_determinism: $BIN not built (run make)"; exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_determinism.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

if ! "$BIN" synth --out "$TMP/planted" --rows 40 >"$TMP/log" 2>&1; then
    echo "FAIL cleanup synth:"; cat "$TMP/log"; exit 1
fi
for t in 1 2 3; do
    if ! "$BIN" all --model "$TMP/planted" --n-prompts 40 --threads $t --out "$TMP/out$t" >"$TMP/log" 2>&1; then
        echo "FAIL cleanup all --threads $t:"; cat "$TMP/log"; exit 1
    fi
done

fail=0
n=$(wc -l < "$TMP/out1/results.tsv" | tr -d ' ')
if [ "$n" -lt 100 ]; then echo "FAIL results.tsv has only $n lines"; fail=1; fi
for t in 2 3; do
    for f in "$TMP/out1"/*; do
        name=$(basename "$f")
        [ "$name" = run.txt ] && continue
        cmp -s "$f" "$TMP/out$t/$name" || { echo "FAIL $name differs between --threads 1 and --threads $t"; fail=1; }
    done
    [ "$(ls "$TMP/out1" | wc -l)" -eq "$(ls "$TMP/out$t" | wc -l)" ] || { echo "FAIL different file sets with --threads $t"; fail=1; }
done
[ $fail -eq 0 ] && echo "ok   results.tsv ($n lines), figures, report.md and SHA256SUMS identical with 1, 2 and 3 threads"
exit $fail

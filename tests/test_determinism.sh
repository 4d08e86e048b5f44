#!/bin/sh
# test_determinism.sh - `cleanup all` gives bit-identical outputs whatever the
# thread count (issue 7; developers' guide: "bit-identical results whatever the
# thread count").
#
# Writes the planted model (cleanup synth, 40 data rows), runs `cleanup all` on
# it with --threads 1, 2 and 3 (3 splits the work unevenly on purpose), and
# compares every output byte for byte (results.tsv, figures, report.md and
# SHA256SUMS) except run.txt, which records the run time, thread count and
# kernels. Then the same with the baseline kernels (CLEANUP_SIMD=baseline; on
# x86-64 CPUs with AVX2 + FMA the default is the AVX2 kernels): bit-identical
# for 1 and 2 threads, and within rounding of the default kernels' values.
# Run from the repo root with the binary at $CLEANUP (default ./cleanup).
# Exit 0 pass, 1 fail.

BIN=${CLEANUP:-./cleanup}
if [ ! -x "$BIN" ]; then
    echo "test_determinism: $BIN not built (run make)"; exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_determinism.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

if ! $RUN "$BIN" synth --out "$TMP/planted" --rows 40 >"$TMP/log" 2>&1; then
    echo "FAIL cleanup synth:"; cat "$TMP/log"; exit 1
fi
for t in 1 2 3; do
    if ! $RUN "$BIN" all --model "$TMP/planted" --n-prompts 40 --threads $t --out "$TMP/out$t" >"$TMP/log" 2>&1; then
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

# The baseline kernels.
for t in 1 2; do
    if ! CLEANUP_SIMD=baseline $RUN "$BIN" all --model "$TMP/planted" --n-prompts 40 --threads $t --out "$TMP/base$t" >"$TMP/log" 2>&1; then
        echo "FAIL CLEANUP_SIMD=baseline cleanup all --threads $t:"; cat "$TMP/log"; fail=1
    fi
done
grep -q '^kernels: baseline' "$TMP/base1/run.txt" || { echo "FAIL run.txt does not name the baseline kernels"; fail=1; }
cmp -s "$TMP/base1/SHA256SUMS" "$TMP/base2/SHA256SUMS" || { echo "FAIL baseline kernels: outputs differ between 1 and 2 threads"; fail=1; }
# Same metrics; values within 1e-3 (relative, absolute below 1e-3) of the default kernels'.
worst=$(paste "$TMP/out1/results.tsv" "$TMP/base1/results.tsv" | awk -F '\t' '
    $1 != $3 { print "names differ: " $1 " " $3; exit }
    { d = $2 - $4; if (d < 0) d = -d; s = $4 < 0 ? -$4 : $4; if (s < 1e-3) s = 1e-3;
      if (d / s > w) { w = d / s; name = $1 } }
    END { if (w > 1e-3) print "worst relative difference " w " at " name }')
[ -z "$worst" ] || { echo "FAIL baseline vs default kernels: $worst"; fail=1; }
[ $fail -eq 0 ] && echo "ok   baseline kernels: identical with 1 and 2 threads, within 1e-3 of the default kernels ($(sed -n "s/^kernels: \([a-z0-9]*\).*/\1/p" "$TMP/out1/run.txt"))"

# A kernels name that does not exist is refused before any work.
if CLEANUP_SIMD=sse9 $RUN "$BIN" info --model "$TMP/planted" >"$TMP/log" 2>&1; then
    echo "FAIL CLEANUP_SIMD=sse9 was accepted"; fail=1
elif ! grep -q 'CLEANUP_SIMD' "$TMP/log"; then
    echo "FAIL CLEANUP_SIMD=sse9: message does not name CLEANUP_SIMD:"; cat "$TMP/log"; fail=1
fi
exit $fail

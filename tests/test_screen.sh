#!/bin/sh
# test_screen.sh - Section 3.2's top-2 logits screened in bfloat16 (top2_screen.h) give the
# exact path's results, end to end: on random weights of gelu-4l's shape (48,262 columns,
# past SEC32_SCREEN_MIN_VOCAB), `cleanup sec32` with the screening off (CLEANUP_BF16=off:
# every logit computed), with the plain C screening (CLEANUP_BF16=portable: runs anywhere)
# and with the default (the AVX512_BF16 instructions where the CPU has them) must write
# byte-identical results.tsv; run.txt names the screening that ran; an unknown
# CLEANUP_BF16 is refused with one line naming it.
# Run from the repo root with the binary at $CLEANUP (default ./cleanup), after make.
# Exit 0 pass, 1 fail.

BIN=${CLEANUP:-./cleanup}
if [ ! -x "$BIN" ]; then
    echo "test_screen: $BIN not built (run make)"; exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_screen.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail=0
G=$TMP/g4l
$RUN "$BIN" synth --shape gelu-4l --rows 2 --out "$G" >/dev/null || { echo "FAIL synth --shape gelu-4l"; exit 1; }
for mode in off portable auto; do
    if ! CLEANUP_BF16=$mode $RUN "$BIN" sec32 --model "$G" --rows 2 --seq-len 40 --out "$TMP/$mode" >"$TMP/log" 2>&1; then
        echo "FAIL CLEANUP_BF16=$mode cleanup sec32:"; cat "$TMP/log"; fail=1
    fi
done
[ -f "$TMP/off/results.tsv" ] && [ "$(wc -l < "$TMP/off/results.tsv")" -ge 4 ] ||
    { echo "FAIL the exact path wrote no results"; fail=1; }
screening=$(sed -n 's/^screening: \([a-z0-9]*\) (CLEANUP_BF16)$/\1/p' "$TMP/auto/run.txt")
for mode in portable auto; do
    if cmp -s "$TMP/off/results.tsv" "$TMP/$mode/results.tsv"; then
        echo "ok   CLEANUP_BF16=$mode: results.tsv identical to the exact path's"
    else
        echo "FAIL CLEANUP_BF16=$mode: results.tsv differs from the exact path's"; diff "$TMP/off/results.tsv" "$TMP/$mode/results.tsv" | head -5
        fail=1
    fi
done
grep -q '^screening: off (CLEANUP_BF16)$' "$TMP/off/run.txt" || { echo "FAIL run.txt: screening off not recorded"; fail=1; }
grep -q '^screening: portable (CLEANUP_BF16)$' "$TMP/portable/run.txt" ||
    { echo "FAIL run.txt: the portable screening not recorded"; fail=1; }
case "$screening" in
    bf16|off) echo "ok   default screening on this machine: $screening" ;;
    *) echo "FAIL run.txt: default screening '$screening'"; fail=1 ;;
esac

CLEANUP_BF16=fast $RUN "$BIN" info --model-only --model "$G" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -ne 1 ] || [ "$(wc -l < "$TMP/err")" != 1 ] || ! grep -q 'CLEANUP_BF16=fast' "$TMP/err"; then
    echo "FAIL CLEANUP_BF16=fast: exit $rc, stderr:"; cat "$TMP/err"; fail=1
else
    echo "ok   CLEANUP_BF16=fast refused: $(cat "$TMP/err")"
fi

[ $fail -eq 0 ] && echo "test_screen: all cases pass"
exit $fail

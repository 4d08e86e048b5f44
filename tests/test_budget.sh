#!/bin/sh
# test_budget.sh - the memory budget (issue 14): --max-memory and CLEANUP_MAX_MEMORY.
#
# The planted `all` on 40 rows with a tight budget (22 MB: batches of one row, the scan split
# over several passes) and a large one (batches of 16 rows: EXP_BATCH_TOKENS = 1024 tokens
# of 64, the last batch 8 rows; one pass) must give byte-identical
# results.tsv and SHA256SUMS (the budget changes the batch and the passes, never a
# number; report.md leaves --max-memory out of its command line).
# run.txt must record the budget, its source, the batch and the peak RSS; the option
# wins over the environment variable; nonsense sizes exit 1 and a budget that cannot
# hold one row exits 5, each with one line naming the problem.
# Run from the repo root with the binary at $CLEANUP (default ./cleanup), after make.
# Exit 0 pass, 1 fail.

BIN=${CLEANUP:-./cleanup}
if [ ! -x "$BIN" ] || [ ! -f weights/planted/config.json ]; then
    echo "test_budget: $BIN or weights/planted not built (run make)"; exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_budget.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail=0
run() { # CMD OUT ARGS...: planted CMD on 40 rows
    cmd=$1 out=$2; shift 2
    $RUN "$BIN" $cmd --model weights/planted --rows 40 --out "$TMP/$out" "$@" >"$TMP/log" 2>&1 ||
        { echo "FAIL $cmd $*:"; cat "$TMP/log"; fail=1; }
}
run all small --max-memory 22M
run all large --max-memory 1G
CLEANUP_MAX_MEMORY=2GiB run fig5 env
CLEANUP_MAX_MEMORY=1K run fig5 both --max-memory=1073741824

for f in results.tsv SHA256SUMS; do
    cmp -s "$TMP/small/$f" "$TMP/large/$f" || { echo "FAIL: $f differs between a 22 MB and a 1 GB budget"; fail=1; }
done
grep -q '^memory budget: 22.0 MB (--max-memory)$' "$TMP/small/run.txt" || { echo "FAIL: run.txt budget (small)"; fail=1; }
grep -q '^memory budget: 1024.0 MB (--max-memory)$' "$TMP/both/run.txt" || { echo "FAIL: --max-memory must win over CLEANUP_MAX_MEMORY"; fail=1; }
grep -q '^memory budget: 2048.0 MB (CLEANUP_MAX_MEMORY)$' "$TMP/env/run.txt" || { echo "FAIL: CLEANUP_MAX_MEMORY not used"; fail=1; }
grep -q '^batch: 16 rows$' "$TMP/large/run.txt" || { echo "FAIL: a 1 GB budget takes 1024 tokens (16 rows of 64) a batch"; fail=1; }
small_batch=$(sed -n 's/^batch: \([0-9]*\) rows$/\1/p' "$TMP/small/run.txt")
[ -n "$small_batch" ] && [ "$small_batch" -lt 10 ] || { echo "FAIL: a 22 MB budget gave batch '$small_batch'"; fail=1; }
passes=$(sed -n 's/^passes over the rows: \([0-9]*\)$/\1/p' "$TMP/small/run.txt")
[ -n "$passes" ] && [ "$passes" -gt 1 ] || { echo "FAIL: a 22 MB budget should split the scan, gave '$passes' passes"; fail=1; }
grep -q '^passes over the rows: 1$' "$TMP/large/run.txt" || { echo "FAIL: a 1 GB budget needs one pass"; fail=1; }
grep -q '^peak RSS: [0-9.]* MB (getrusage)$' "$TMP/small/run.txt" || { echo "FAIL: run.txt has no peak RSS"; fail=1; }

for bad in 12Q 0 -5 1.5G M ''; do
    $RUN "$BIN" all --max-memory "$bad" --out "$TMP/bad" >"$TMP/out" 2>"$TMP/err"; rc=$?
    [ $rc = 1 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q 'max-memory' "$TMP/err" ||
        { echo "FAIL: --max-memory '$bad': exit $rc, stderr:"; cat "$TMP/err"; fail=1; }
done
CLEANUP_MAX_MEMORY=lots $RUN "$BIN" all --out "$TMP/bad" >"$TMP/out" 2>"$TMP/err"; rc=$?
[ $rc = 1 ] && grep -q CLEANUP_MAX_MEMORY "$TMP/err" || { echo "FAIL: CLEANUP_MAX_MEMORY=lots: exit $rc"; fail=1; }
$RUN "$BIN" all --model weights/planted --max-memory 3M --out "$TMP/bad" >"$TMP/out" 2>"$TMP/err"; rc=$?
[ $rc = 5 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q 'too small' "$TMP/err" ||
    { echo "FAIL: a 3 MB budget: exit $rc, stderr:"; cat "$TMP/err"; fail=1; }
[ -f "$TMP/bad/results.tsv" ] && { echo "FAIL: a refused budget wrote results"; fail=1; }

[ $fail = 0 ] && echo "test_budget: 22 MB (batch $small_batch, $passes passes) and 1 GB (batch 16) budgets give the same bytes"
exit $fail

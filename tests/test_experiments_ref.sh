#!/bin/sh
# test_experiments_ref.sh - `./cleanup all` on the exp_model fixture against the
# independent float64 PyTorch reference of docs/PROTOCOL.md sections 3-6
# (tools/reference_experiments.py wrote tests/fixtures/models/exp_model/expected_results.tsv).
#
# Every metric of the expected file must be in results.tsv, numeric, and within
#   |b - a| <= TOL * max(1, |a|)          (a = reference, TOL = 1e-4)
# (a float32 PyTorch run of the same computation differs by at most 4e-6).
# results.tsv must be sorted by name (byte order). Extra metrics are listed, not failed.
# Run from the repo root with ./cleanup built. Exit 0 pass, 1 fail.

TOL=${TOL:-1e-4}
MODEL=tests/fixtures/models/exp_model
EXPECTED=$MODEL/expected_results.tsv
BIN=${CLEANUP:-./cleanup}

if [ ! -x "$BIN" ]; then echo "test_experiments_ref: $BIN not built (run make)"; exit 1; fi
if [ ! -f "$EXPECTED" ]; then echo "test_experiments_ref: $EXPECTED missing"; exit 1; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_exp_ref.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! $RUN $BIN all --model "$MODEL" --n-prompts 40 --seq-len 48 --out "$TMP/out" >"$TMP/log" 2>&1; then
    echo "FAIL: ./cleanup all exited non-zero:"; tail -20 "$TMP/log"; exit 1
fi
RES=$TMP/out/results.tsv
if [ ! -f "$RES" ]; then echo "FAIL: no $RES"; exit 1; fi

fail=0
if ! cut -f1 "$RES" | LC_ALL=C sort -c 2>"$TMP/sort"; then
    echo "FAIL: results.tsv is not sorted by name: $(cat "$TMP/sort")"; fail=1
fi

awk -F '\t' -v tol="$TOL" '
function isnum(s) { return s ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
FNR == NR { if (NF == 2) { want[$1] = $2; order[++n] = $1 } ; next }
NF == 2 { got[$1] = $2; if (!($1 in want)) extra++ }
END {
    bad = 0; worst = 0; wname = ""
    for (k = 1; k <= n; k++) {
        name = order[k]
        if (!(name in got)) { printf "missing metric %s (expected %s)\n", name, want[name]; bad++; continue }
        if (!isnum(got[name])) { printf "%s = \"%s\" is not a number (expected %s)\n", name, got[name], want[name]; bad++; continue }
        a = want[name] + 0; b = got[name] + 0
        d = b - a; if (d < 0) d = -d
        m = a; if (m < 0) m = -m; if (m < 1) m = 1
        if (d / m > worst) { worst = d / m; wname = name }
        if (d > tol * m) { printf "%s = %s, expected %s (diff %.3g)\n", name, got[name], want[name], d; bad++ }
    }
    if (extra) printf "note: %d metrics not in the reference (not checked)\n", extra
    printf "%d metrics checked, %d bad; largest scaled difference %.3g (%s)\n", n, bad, worst, wname
    exit bad ? 1 : 0
}' "$EXPECTED" "$RES" || fail=1

exit $fail

#!/bin/sh
# test_experiments.sh - the experiment commands end to end on the gelu_pth fixture model
# (3 layers, 4 heads, n_ctx 16, d_vocab 50; tests/fixtures/models/README.md):
#   - the metric names and counts of docs/PROTOCOL.md section 6 for this shape;
#   - Fig 3's patched statistics equal the clean ones below the patched layer;
#   - results do not depend on --threads;
#   - the promised clear errors: heads that do not exist, cleaners in two layers, a writer
#     not below the cleaners, fewer rows than asked, rows shorter than T, Fig 5 with
#     T <= 33, Fig 4 without a tokenizer, an unknown option.
# Run from the repo root with ./cleanup built. Exit 0 pass, 1 fail.

BIN=${CLEANUP:-./cleanup}
MODEL=tests/fixtures/models/gelu_pth
if [ ! -x "$BIN" ]; then
    echo "test_experiments: $BIN not built (run make)"; exit 1
fi
if [ ! -f "$MODEL/config.json" ]; then
    echo "test_experiments: $MODEL missing"; exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_experiments.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fails=0
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }

# rows N LEN: N JSONL rows of LEN tokens, BOS (1) first, ids in 3..49.
rows() {
    awk -v n="$1" -v len="$2" 'BEGIN {
        s = 7
        for (r = 0; r < n; r++) {
            line = "{\"tokens\":[1"
            for (t = 1; t < len; t++) { s = (s * 1103515245 + 12345) % 2147483648; line = line "," (3 + s % 47) }
            print line "]}"
        }
    }'
}
rows 10 16 > "$TMP/data.jsonl"
rows 10 12 > "$TMP/short.jsonl"
OPTS="--model $MODEL --data $TMP/data.jsonl --n-prompts 10 --writer L0H2 --cleaners L2H1,L2H3"

# expect_error CODE TEXT command...: the command must exit with CODE and say TEXT on stderr.
expect_error() {
    code=$1; text=$2; shift 2
    "$@" > "$TMP/out.txt" 2> "$TMP/err.txt"
    rc=$?
    if [ $rc -ne "$code" ]; then fail "'$*' exited $rc, expected $code ($(cat "$TMP/err.txt"))"; return; fi
    if ! grep -q -- "$text" "$TMP/err.txt"; then fail "'$*' did not say '$text': $(cat "$TMP/err.txt")"; fi
}

# Fig 1: 4 heads x 7 locations x 5 statistics, plus fig1.n_nan.
if $RUN $BIN fig1 $OPTS --out "$TMP/f1" > "$TMP/log" 2>&1; then
    n=$(grep -c '^fig1\.L0H[0-3]\.resid_' "$TMP/f1/results.tsv")
    [ "$n" -eq 140 ] || fail "fig1 has $n quantile metrics, expected 140"
    grep -q '^fig1\.L0H3\.resid_post2\.q87_5	' "$TMP/f1/results.tsv" || fail "fig1.L0H3.resid_post2.q87_5 missing"
    grep -q '^fig1\.n_nan	0$' "$TMP/f1/results.tsv" || fail "fig1.n_nan is not 0"
    sort -c "$TMP/f1/results.tsv" 2>/dev/null || LC_ALL=C sort -c "$TMP/f1/results.tsv" || fail "results.tsv not sorted"
else
    fail "fig1 failed: $(cat "$TMP/log")"
fi

# Fig 2: 11 heads (writer omitted) + 3 MLPs + cleaners_sum, x 5; sum_of_medians; n_nan.
if $RUN $BIN fig2 $OPTS --out "$TMP/f2" > "$TMP/log" 2>&1; then
    n=$(grep -c '^fig2\.\(L[0-2]H[0-3]\|MLP[0-2]\|cleaners_sum\)\.' "$TMP/f2/results.tsv")
    [ "$n" -eq 75 ] || fail "fig2 has $n quantile metrics, expected 75"
    grep -q '^fig2\.L0H2\.' "$TMP/f2/results.tsv" && fail "fig2 lists the writer"
    grep -q '^fig2\.sum_of_medians	' "$TMP/f2/results.tsv" || fail "fig2.sum_of_medians missing"
else
    fail "fig2 failed: $(cat "$TMP/log")"
fi

# Fig 3: patched = clean below layer 2; and the same numbers with 1 and 2 threads.
if $RUN $BIN fig3 $OPTS --threads 1 --out "$TMP/f3a" > "$TMP/log" 2>&1 &&
   $RUN $BIN fig3 $OPTS --threads 2 --out "$TMP/f3b" > "$TMP/log" 2>&1; then
    for loc in resid_pre0 resid_mid0 resid_post0 resid_mid1 resid_post1; do
        grep "^fig3\.clean\.$loc\." "$TMP/f3a/results.tsv" | sed 's/^fig3\.clean\./X/' > "$TMP/c"
        grep "^fig3\.patched\.$loc\." "$TMP/f3a/results.tsv" | sed 's/^fig3\.patched\./X/' > "$TMP/p"
        [ -s "$TMP/c" ] && cmp -s "$TMP/c" "$TMP/p" || fail "fig3 patched != clean at $loc"
    done
    grep "^fig3\.clean\.resid_mid2\.median" "$TMP/f3a/results.tsv" | cut -f2 > "$TMP/c"
    grep "^fig3\.patched\.resid_mid2\.median" "$TMP/f3a/results.tsv" | cut -f2 > "$TMP/p"
    cmp -s "$TMP/c" "$TMP/p" && fail "fig3 patched = clean at resid_mid2 (the patch did nothing)"
    n=$(grep -c '^fig3\.\(clean\|patched\)\.L2H[0-3]\.' "$TMP/f3a/results.tsv")
    [ "$n" -eq 40 ] || fail "fig3 has $n head metrics, expected 40"
    cmp -s "$TMP/f3a/results.tsv" "$TMP/f3b/results.tsv" || fail "fig3 differs between 1 and 2 threads"
else
    fail "fig3 failed: $(cat "$TMP/log")"
fi

# Errors.
expect_error 1 "does not exist" $RUN $BIN fig1 --model $MODEL --data "$TMP/data.jsonl" --n-prompts 10 --out "$TMP/e"
expect_error 1 "does not exist" $RUN $BIN fig1 $OPTS --writer L0H4 --out "$TMP/e"
expect_error 1 "not in layer" $RUN $BIN fig2 $OPTS --cleaners L2H1,L1H3 --out "$TMP/e"
expect_error 1 "below" $RUN $BIN fig2 $OPTS --writer L2H0 --out "$TMP/e"
expect_error 2 "only 10 rows" $RUN $BIN fig1 $OPTS --n-prompts 11 --out "$TMP/e"
expect_error 2 "line 1" $RUN $BIN fig1 $OPTS --data "$TMP/short.jsonl" --out "$TMP/e"
expect_error 1 "T > 33" $RUN $BIN fig5 $OPTS --out "$TMP/e"
expect_error 2 "tokenizer" $RUN $BIN fig4 $OPTS --out "$TMP/e"
expect_error 1 "n_ctx" $RUN $BIN fig1 $OPTS --seq-len 17 --out "$TMP/e"
expect_error 1 "unknown option" $RUN $BIN fig1 $OPTS --bogus --out "$TMP/e"
expect_error 2 "not found" $RUN $BIN fig1 $OPTS --data "$TMP/nope.jsonl" --out "$TMP/e"

# Fig 4 with --prompts on the planted model (it has a tokenizer): the TSV's \n and \t
# escapes must give the built-in prompt 3 (a real newline and tab), so the same numbers.
PLANTED=weights/planted
if [ -f "$PLANTED/tokenizer.json" ]; then
    POPTS="--model $PLANTED --n-prompts 20 --seq-len 40"
    printf '# prompt\tcorrect\tincorrect\thead\nclass MyClass:\\n\\tdef\t __\t get\tL3H5\n' > "$TMP/p.tsv"
    if $RUN $BIN fig4 $POPTS --out "$TMP/f4a" > "$TMP/log" 2>&1 &&
       $RUN $BIN fig4 $POPTS --prompts "$TMP/p.tsv" --out "$TMP/f4b" > "$TMP/log" 2>&1; then
        grep '^fig4\.p3\.' "$TMP/f4a/results.tsv" | sed 's/^fig4\.p3\./X/' > "$TMP/c"
        grep '^fig4\.p1\.' "$TMP/f4b/results.tsv" | sed 's/^fig4\.p1\./X/' > "$TMP/p"
        [ "$(wc -l < "$TMP/c")" -eq 10 ] || fail "fig4 prompt 3 has $(wc -l < "$TMP/c") metrics, expected 10"
        cmp -s "$TMP/c" "$TMP/p" || fail "--prompts with \\n \\t escapes differs from the built-in prompt 3"
        n=$(grep -c '^fig4\.p[1-4]\.' "$TMP/f4a/results.tsv")
        [ "$n" -eq 40 ] || fail "fig4 has $n metrics for 4 prompts, expected 40"
    else
        fail "fig4 failed: $(cat "$TMP/log")"
    fi
    printf 'It is on the\t bottom drawer\t top\tL3H1\n' > "$TMP/multi.tsv"
    expect_error 2 "not one" $RUN $BIN fig4 $POPTS --prompts "$TMP/multi.tsv" --out "$TMP/e"
    printf 'It is on the\t bottom\t top\tL7H1\n' > "$TMP/badhead.tsv"
    expect_error 2 "line 1" $RUN $BIN fig4 $POPTS --prompts "$TMP/badhead.tsv" --out "$TMP/e"
    printf 'It is on the\t bottom\n' > "$TMP/fields.tsv"
    expect_error 2 "4 tab-separated fields" $RUN $BIN fig4 $POPTS --prompts "$TMP/fields.tsv" --out "$TMP/e"
else
    echo "  skip Fig 4 --prompts checks: $PLANTED/tokenizer.json not built (make)"
fi

if [ $fails -ne 0 ]; then echo "  test_experiments.sh: $fails failed"; exit 1; fi
echo "  test_experiments.sh: all passed"
exit 0

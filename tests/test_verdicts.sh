#!/bin/sh
# test_verdicts.sh - `cleanup all` as a regression gate (issue 12), end to end on the
# planted model, whose expected outcomes are known by construction (references.c):
#   - a faithful run: exit 0, "REPRODUCED"; --checks none: no verdict, exit 0;
#   - a reference value the run does not meet (--reference FILE): exit 6 after writing
#     the complete, verifying report, which names the failed check;
#   - a missing part (no tokenizer: Fig 4 skipped): its checks are MISSING, exit 6;
#   - --skip LIST: those units are not run, the others' metrics are the full run's;
#   - changed options (--cleaners, --n-prompts below a reference's @rows): those checks
#     are "not comparable", not failures;
#   - a killed run leaves a directory that does not verify, even over a complete one;
#   - --out naming a file is refused before any work; a per-experiment command writes a
#     complete run into out/NAME and refuses a directory holding another run;
#   - several rows files: each is named with its own SHA-256 in report.md;
#   - provenance: version, command line and settings in report.md and run.txt;
#   - `cleanup compare`: agreement, a difference, bad reference files, metric sets.
# Run from the repo root with the binary at $CLEANUP (default ./cleanup). Exit 0 pass, 1 fail.
cd "$(dirname "$0")/.." || exit 1
BIN=${CLEANUP:-./cleanup}
PL=weights/planted
if [ ! -x "$BIN" ] || [ ! -f "$PL/config.json" ]; then echo "FAIL: $BIN or $PL missing (run make)"; exit 1; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_verdicts.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fails=0
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }
# run EXPECTED_STATUS NAME command...: stdout+stderr in $TMP/NAME.log
run() {
    want=$1; name=$2; shift 2
    "$@" >"$TMP/$name.log" 2>&1
    rc=$?
    [ $rc -eq "$want" ] || { fail "$name: exit $rc, expected $want: $*"; tail -3 "$TMP/$name.log"; }
}
FAST="--n-prompts 40"

# A faithful run.
run 0 faithful $RUN "$BIN" all --model $PL $FAST --out "$TMP/ok"
grep -q "verdict: REPRODUCED" "$TMP/faithful.log" || fail "faithful run does not say REPRODUCED"
grep -q "Verdict: \*\*REPRODUCED\*\*" "$TMP/ok/report.md" || fail "report.md has no REPRODUCED verdict"
run 0 verify_ok $RUN "$BIN" verify "$TMP/ok"
run 0 nochecks $RUN "$BIN" all --model $PL $FAST --checks none --out "$TMP/none"
grep -q "Checks: none. Not requested" "$TMP/none/report.md" || fail "--checks none: report.md does not say so"
run 1 badchecks $RUN "$BIN" all --model $PL --checks maybe --out "$TMP/x"

# Provenance: report.md and run.txt name the program, the command and the inputs.
grep -q "^- Program: cleanup [0-9]" "$TMP/ok/report.md" || fail "report.md lacks the program version"
grep -q "^- Command line: \`cleanup all --model $PL --n-prompts 40\`" "$TMP/ok/report.md" ||
    fail "report.md lacks the command line (without --out)"
grep -q "^command: cleanup all --model $PL --n-prompts 40 --out $TMP/ok" "$TMP/ok/run.txt" ||
    fail "run.txt lacks the full command line"
grep -q "Tokenizer: \`$PL/tokenizer.json\`" "$TMP/ok/report.md" || fail "report.md lacks the tokenizer's checksum"
grep -q "| 3 | \`class MyClass:\\\\n\\\\tdef\` |" "$TMP/ok/report.md" || fail "report.md lacks Fig 4's prompt 3"
v=$($RUN "$BIN" --version) && case "$v" in "cleanup "[0-9]*) ;; *) fail "--version printed '$v'" ;; esac

# A reference the run does not meet: exit 6, complete outputs that verify.
printf '# a wrong expectation\nfig2.cleaners_sum.median\t0.5\t0.01\tdeliberately wrong\nfig1.L0H2.resid_mid0.median\t1.0\t0.1\tplanted\n' \
    > "$TMP/wrong.tsv"
run 6 wrong $RUN "$BIN" all --model $PL $FAST --reference "$TMP/wrong.tsv" --out "$TMP/wrong"
grep -q "verdict: NOT REPRODUCED" "$TMP/wrong.log" || fail "a failed check does not say NOT REPRODUCED"
grep -q "fig2.cleaners_sum.median.*\*\*FAIL\*\*.*deliberately wrong" "$TMP/wrong/report.md" ||
    fail "report.md does not show the failed check"
run 0 verify_wrong $RUN "$BIN" verify "$TMP/wrong"

# A missing part: without the tokenizer Fig 4 is skipped and its checks are missing.
mkdir -p "$TMP/notok"
cp $PL/config.json $PL/model.safetensors $PL/data.jsonl "$TMP/notok/"
run 6 notok $RUN "$BIN" all --model "$TMP/notok" $FAST --out "$TMP/notok_out"
grep -q "fig4.p1.L0H2.clean.*MISSING" "$TMP/notok_out/report.md" || fail "Fig 4's checks are not MISSING"
grep -q "skipping Fig 4" "$TMP/notok.log" || fail "no warning that Fig 4 is skipped"

# --skip: the units left out are not run (no metrics, figures, report section or checks);
# the others give the full run's values exactly; repeated, the lists add up. Only `all`
# takes it; unknown names are refused.
run 0 skip $RUN "$BIN" all --model $PL $FAST --skip scan --skip fig5 --out "$TMP/skip"
grep -q "verdict: REPRODUCED" "$TMP/skip.log" || fail "--skip scan,fig5: the other units' checks do not pass"
[ ! -e "$TMP/skip/scan.tsv" ] && [ ! -e "$TMP/skip/fig5.svg" ] || fail "--skip scan,fig5 wrote their figures"
grep -q "^fig1\." "$TMP/skip/results.tsv" || fail "--skip scan,fig5: Fig 1's metrics missing"
grep -q "^scan\.\|^fig5\." "$TMP/skip/results.tsv" && fail "--skip scan,fig5: their metrics are in results.tsv"
grep "^fig[1234]\.\|^sec32\." "$TMP/ok/results.tsv" >"$TMP/kept_full.tsv"
grep "^fig[1234]\.\|^sec32\." "$TMP/skip/results.tsv" >"$TMP/kept_skip.tsv"
[ -s "$TMP/kept_full.tsv" ] && cmp -s "$TMP/kept_full.tsv" "$TMP/kept_skip.tsv" ||
    fail "--skip scan,fig5: the other units' metrics differ from the full run's"
grep -q "^### Scan:" "$TMP/ok/report.md" || fail "report.md of the full run has no scan section"
grep -q "^### Scan:\|^### Fig 5:" "$TMP/skip/report.md" && fail "--skip scan,fig5: report.md still has their sections"
grep -q -- "Settings in effect:.*\`--skip fig5,scan\`" "$TMP/skip/report.md" || fail "--skip is not in report.md's settings"
run 0 verify_skip $RUN "$BIN" verify "$TMP/skip"
# a full run's directory is not mixed with a run that skips some of its outputs
run 1 skip_into_full $RUN "$BIN" all --model $PL $FAST --skip scan --out "$TMP/ok"
grep -q "holds another run (its SHA256SUMS lists scan.*, which \`cleanup all --skip scan\` does not write)" \
    "$TMP/skip_into_full.log" || fail "--skip into a full run's directory: no clear refusal"
run 0 verify_ok_after_skip $RUN "$BIN" verify "$TMP/ok"
run 1 skip_bad $RUN "$BIN" all --model $PL --skip fig9 --out "$TMP/skip_bad"
grep -q "'fig9' is not an experiment (fig1, fig2, fig3, fig4, fig5, sec32, scan)" "$TMP/skip_bad.log" ||
    fail "--skip fig9: no clear message"
run 1 skip_one $RUN "$BIN" fig1 --model $PL --skip scan --out "$TMP/skip_one"
run 1 skip_all $RUN "$BIN" all --model $PL --skip fig1,fig2,fig3,fig4,fig5,sec32,scan --out "$TMP/skip_all"
[ ! -e "$TMP/skip_bad" ] && [ ! -e "$TMP/skip_one" ] && [ ! -e "$TMP/skip_all" ] || fail "a refused --skip wrote an output directory"

# Changed options: not comparable, not failed.
run 0 cleaners $RUN "$BIN" all --model $PL $FAST --cleaners L2H2,L2H3 --out "$TMP/cl"
grep -q "not comparable" "$TMP/cleaners.log" || fail "--cleaners: checks not reported as not comparable"
grep -q "fig2.cleaners_sum.median.*not comparable | --cleaners is L2H2,L2H3" "$TMP/cl/report.md" ||
    fail "report.md does not say why fig2's headline is not comparable"
grep -q "fig1.L0H2.resid_mid0.median.*PASS" "$TMP/cl/report.md" || fail "Fig 1 (independent of --cleaners) not checked"
printf '@rows\t300\nfig1.L0H2.resid_mid0.median\t1.0\t0.1\tplanted\n' > "$TMP/rows.tsv"
run 0 rows $RUN "$BIN" all --model $PL $FAST --reference "$TMP/rows.tsv" --out "$TMP/rows"
grep -q "40 rows (--rows) are fewer than the reference's 300" "$TMP/rows/report.md" ||
    fail "fewer rows than the reference's @rows is not 'not comparable'"

# A killed run over a complete one: nothing verifies.
cp -r "$TMP/ok" "$TMP/killed"
$RUN "$BIN" all --model $PL --threads 1 --out "$TMP/killed" >/dev/null 2>&1 &
pid=$!
sleep 0.5
if kill -TERM $pid 2>/dev/null; then
    wait $pid 2>/dev/null
    $RUN "$BIN" verify "$TMP/killed" >/dev/null 2>&1 && fail "a killed run's directory verifies"
else
    fail "the run finished within 0.5 s: the kill test did not kill (make the run longer)"
fi

# --out: a file is refused at once; per-experiment commands write complete runs.
: > "$TMP/afile"
run 3 outfile $RUN "$BIN" all --model $PL --out "$TMP/afile/sub"
grep -q "clean pass" "$TMP/outfile.log" && fail "--out under a file was refused only after the computation"
ROOT=$(pwd)
case "$BIN" in /*) ABSBIN=$BIN ;; *) ABSBIN=$ROOT/$BIN ;; esac
(mkdir -p "$TMP/w" && cd "$TMP/w" && $RUN "$ABSBIN" fig2 --model "$ROOT/$PL" $FAST >/dev/null 2>&1) ||
    fail "fig2 with the default --out failed"
[ -f "$TMP/w/out/fig2/fig2.svg" ] && [ -f "$TMP/w/out/fig2/report.md" ] || fail "fig2 did not write out/fig2/{fig2.svg,report.md}"
run 0 verify_fig2 $RUN "$BIN" verify "$TMP/w/out/fig2"
[ -f "$TMP/w/out/fig2/fig1.svg" ] && fail "fig2 wrote Fig 1's files"
run 1 fig2_into_all $RUN "$BIN" fig2 --model $PL $FAST --out "$TMP/ok"
grep -q "holds another run" "$TMP/fig2_into_all.log" || fail "fig2 into an all run's directory: no clear refusal"
run 0 verify_ok_again $RUN "$BIN" verify "$TMP/ok"

# Several rows files: each with its own checksum.
mkdir -p "$TMP/multi"
head -n 20 $PL/data.jsonl > "$TMP/multi/rows-a.jsonl"
tail -n 20 $PL/data.jsonl > "$TMP/multi/rows-b.jsonl"
awk 'BEGIN { printf "{\"rows\":[" } { sub(/^\{"tokens"/, "{\"row\":{\"tokens\""); sub(/\}$/, "}}"); printf "%s%s", (NR > 1 ? "," : ""), $0 } END { print "]}" }' \
    "$TMP/multi/rows-a.jsonl" > "$TMP/multi/rows-c4-000.json"
awk 'BEGIN { printf "{\"rows\":[" } { sub(/^\{"tokens"/, "{\"row\":{\"tokens\""); sub(/\}$/, "}}"); printf "%s%s", (NR > 1 ? "," : ""), $0 } END { print "]}" }' \
    "$TMP/multi/rows-b.jsonl" > "$TMP/multi/rows-code-000.json"
rm "$TMP/multi/rows-a.jsonl" "$TMP/multi/rows-b.jsonl"
run 0 multi $RUN "$BIN" all --model $PL --data "$TMP/multi" $FAST --out "$TMP/multi_out"
for f in rows-c4-000.json rows-code-000.json; do
    h=$(sha256sum "$TMP/multi/$f" 2>/dev/null | cut -c1-64)
    grep -A1 "File: \`$TMP/multi/$f\`" "$TMP/multi_out/report.md" | grep -q "SHA-256 \`$h\`" ||
        fail "report.md lacks $f's own SHA-256"
done
grep -q "checksum unavailable" "$TMP/multi_out/report.md" && fail "report.md still has an unavailable checksum"

# compare: agreement, a difference, missing metrics, bad files.
run 0 cmp_same $RUN "$BIN" compare "$TMP/ok" "$TMP/none"
grep -q "0 differ, 0 missing" "$TMP/cmp_same.log" || fail "compare of two identical runs"
sed 's/^\(fig2.cleaners_sum.median\t\).*/\1-0.5/' "$TMP/ok/results.tsv" > "$TMP/changed.tsv"
run 6 cmp_diff $RUN "$BIN" compare "$TMP/ok" "$TMP/changed.tsv"
grep -q "^  fig2.cleaners_sum.median: A" "$TMP/cmp_diff.log" || fail "compare does not name the differing metric"
run 6 cmp_ref $RUN "$BIN" compare "$TMP/ok" "$TMP/wrong.tsv"
head -n 100 "$TMP/ok/results.tsv" > "$TMP/part.tsv"
run 2 cmp_sets $RUN "$BIN" compare "$TMP/ok" "$TMP/part.tsv"
run 0 cmp_subset $RUN "$BIN" compare "$TMP/ok" "$TMP/part.tsv" --subset
run 0 cmp_golden $RUN "$BIN" compare "$TMP/ok" "$TMP/ok/results.tsv" --rtol 0 --atol 0
printf 'a\t1\t0.1\na\t2\t0.1\n' > "$TMP/dup.tsv"
run 2 ref_dup $RUN "$BIN" compare "$TMP/ok" "$TMP/dup.tsv"
grep -q "dup.tsv: line 2: a is listed twice" "$TMP/ref_dup.log" || fail "duplicate reference name not named with its line"
printf 'a\tone\t0.1\n' > "$TMP/nonnum.tsv"
run 2 ref_nonnum $RUN "$BIN" compare "$TMP/ok" "$TMP/nonnum.tsv"
grep -q "nonnum.tsv: line 1: value 'one'" "$TMP/ref_nonnum.log" || fail "non-numeric reference value not named"
printf 'a\t1\tnan\n' > "$TMP/nantol.tsv"
run 2 ref_nantol $RUN "$BIN" compare "$TMP/ok" "$TMP/nantol.tsv"
run 2 ref_nantol_all $RUN "$BIN" all --model $PL $FAST --reference "$TMP/nantol.tsv" --out "$TMP/nt"
[ -e "$TMP/nt" ] && fail "a bad --reference left an output directory"
printf '@colour\tblue\na\t1\t0.1\n' > "$TMP/badkey.tsv"
run 2 ref_badkey $RUN "$BIN" compare "$TMP/ok" "$TMP/badkey.tsv"
run 1 cmp_args $RUN "$BIN" compare "$TMP/ok"

# Sampling-aware tolerances: six runs on disjoint 50-row blocks of the planted data,
# compared in pairs with the tolerance K x sqrt(SE_A^2 + SE_B^2) of their uncertainty.tsv.
# K = 5 (REF_SIGMAS) must give at most 5e-4 false failures per comparison (the stated rate
# is ~1e-4 per check); K = 2 must fail 2-12% (about 5% for well-estimated
# standard errors): standard errors that were too large or too small would show here.
# Two sets: the paper's figures and Section 3.2 ("figures"), and the scan's quantiles
# ("scan": PR(resid, node) of every node and location, the kind of the 972 published values,
# and the node x node pairs), where K = 6 (REF_SIGMAS_SCAN) must also hold. Only statistics
# with a standard error take part: derived numbers such as the scan's ranks have none and
# differ between row sets by design. scan.{w}.cleaners_sum.* is left out: its cleaners are
# chosen from the run's own rows, so two row sets may sum different nodes (its SE holds for
# the nodes summed; measured: 0 of 1233 beyond 5 SE with the same cleaners, 120 of 927 with
# different ones).
for k in 0 1 2 3 4 5; do
    sed -n "$((k * 50 + 1)),$((k * 50 + 50))p" $PL/data.jsonl > "$TMP/block$k.jsonl"
    $RUN "$BIN" all --model $PL --data "$TMP/block$k.jsonl" --n-prompts 50 --threads 1 --out "$TMP/block$k" >/dev/null 2>&1 &
done
wait
for k in 0 1 2 3 4 5; do
    mkdir -p "$TMP/figures$k" "$TMP/scan$k"
    cp "$TMP/block$k/uncertainty.tsv" "$TMP/figures$k/"
    cp "$TMP/block$k/uncertainty.tsv" "$TMP/scan$k/"
    awk -F'\t' 'FNR == NR { se[$1] = 1; next } ($1 in se) && $1 !~ /^scan\./' "$TMP/block$k/uncertainty.tsv" \
        "$TMP/block$k/results.tsv" > "$TMP/figures$k/results.tsv"
    awk -F'\t' 'FNR == NR { se[$1] = 1; next } ($1 in se) && $1 ~ /^scan\./ && $1 !~ /\.cleaners_sum\./' \
        "$TMP/block$k/uncertainty.tsv" "$TMP/block$k/results.tsv" > "$TMP/scan$k/results.tsv"
done
# calibration SET K: prints the false-failure count and checks it against the bounds above
calibration() {
    set_name=$1 K=$2 total=0 differ=0
    for pair in "0 1" "2 3" "4 5"; do
        set -- $pair
        line=$($RUN "$BIN" compare "$TMP/$set_name$1" "$TMP/$set_name$2" --sigmas $K --top 0 2>&1 | head -n 1)
        n=$(echo "$line" | sed -n 's/.*: \([0-9]*\) metrics, .*/\1/p')
        d=$(echo "$line" | sed -n 's/.* \([0-9]*\) differ.*/\1/p')
        [ -n "$n" ] && [ -n "$d" ] || { fail "compare --sigmas $K printed '$line'"; return; }
        total=$((total + n)); differ=$((differ + d))
    done
    echo "  disjoint rows, $set_name, $K standard errors: $differ of $total comparisons differ"
    [ "$set_name" = scan ] && [ $total -lt 10000 ] && fail "only $total scan comparisons (expected 3 x 3480)"
    if [ $K = 2 ]; then
        [ $((differ * 100)) -ge $((total * 2)) ] && [ $((differ * 100)) -le $((total * 12)) ] ||
            fail "$set_name: $differ of $total differ at 2 standard errors: the standard errors are miscalibrated"
    else
        [ $((differ * 10000)) -le $((total * 5)) ] ||
            fail "$set_name: $differ of $total false failures at $K standard errors (stated rate ~1e-4, allowed 5e-4)"
    fi
}
calibration figures 5
calibration figures 2
calibration scan 6
calibration scan 5
calibration scan 2

if [ $fails -ne 0 ]; then echo "  test_verdicts.sh: $fails failed"; exit 1; fi
echo "  test_verdicts.sh: all passed"
exit 0

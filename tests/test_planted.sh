#!/bin/sh
# test_planted.sh - the bundled planted model (synth.c): deterministic output,
# loadable files, single-token answers, and the plant's expected outcomes.
#
# 1. `cleanup synth` twice into two directories: every file byte-identical;
#    another seed gives different weights and data (the seed is used).
# 2. The files a user never sees are as specified: config.json names the model
#    "cleanup-planted", data rows are n_ctx tokens starting with BOS = 1.
# 3. `cleanup info` loads the model (needs the engine and the formats module).
# 4. Each of the four prompts' answers encodes to exactly one token id
#    (`cleanup tokenize`; needs the tokenizer module).
# 5. `cleanup all` on the planted model: every expectation that
#    `cleanup synth --print-checks` lists (metric, expected, tolerance; values
#    derived from the plant's design, see synth.c) holds in results.tsv.
# A command that is missing or fails is a failure, never a skip.
cd "$(dirname "$0")/.." || exit 1
BIN=${CLEANUP:-./cleanup}
if [ ! -x "$BIN" ]; then echo "FAIL: $BIN not built (run make)"; exit 1; fi
if ! $RUN "$BIN" synth --help >/dev/null 2>&1; then echo "FAIL: '$BIN synth --help' failed"; exit 1; fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_planted.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
failed=0
fail() { echo "  FAIL: $*"; failed=1; }

# 1. determinism
$RUN "$BIN" synth --out "$TMP/a" >/dev/null || fail "synth --out $TMP/a exited $?"
$RUN "$BIN" synth --out "$TMP/b" >/dev/null || fail "synth --out $TMP/b exited $?"
$RUN "$BIN" synth --out "$TMP/s1" --seed 1 >/dev/null || fail "synth --seed 1 exited $?"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json special_tokens_map.json data.jsonl; do
    if [ ! -s "$TMP/a/$f" ]; then fail "synth did not write $f"; continue; fi
    cmp -s "$TMP/a/$f" "$TMP/b/$f" || fail "$f differs between two identical runs"
done
cmp -s "$TMP/a/model.safetensors" "$TMP/s1/model.safetensors" && fail "--seed 1 gives the same weights as seed 0"
cmp -s "$TMP/a/data.jsonl" "$TMP/s1/data.jsonl" && fail "--seed 1 gives the same data as seed 0"
ls "$TMP/a" | grep -q tmp && fail "temporary files left in the output directory"

# 2. config and data as specified
grep -q '"model_name": "cleanup-planted"' "$TMP/a/config.json" || fail "config.json lacks model_name cleanup-planted"
grep -q '"n_ctx": 64' "$TMP/a/config.json" || fail "config.json: n_ctx is not 64"
rows=$(grep -c '^{"tokens":\[1,' "$TMP/a/data.jsonl")
[ "$rows" = 300 ] || fail "data.jsonl: $rows rows start with BOS=1, expected 300"
# every row has 64 ids: 63 commas
bad=$(awk -F, 'NF != 64' "$TMP/a/data.jsonl" | wc -l | tr -d ' ')
[ "$bad" = 0 ] || fail "data.jsonl: $bad rows do not have 64 tokens"
$RUN "$BIN" synth --out "$TMP/r" --rows 7 >/dev/null && rows=$(wc -l < "$TMP/r/data.jsonl" | tr -d ' ')
[ "$rows" = 7 ] || fail "--rows 7 wrote $rows rows"
$RUN "$BIN" synth --shape nonsense --out "$TMP/x" >/dev/null 2>&1 && fail "--shape nonsense accepted"

# 3. the engine loads it
if $RUN "$BIN" info --help >/dev/null 2>&1; then
    out=$($RUN "$BIN" info --model "$TMP/a" 2>&1) || fail "cleanup info cannot load the planted model: $out"
    echo "$out" | grep -q "cleanup-planted" || fail "cleanup info does not report model name cleanup-planted"
else
    fail "part 3: '$BIN info --help' failed"
fi

# 4. answers are single tokens
if $RUN "$BIN" tokenize --help >/dev/null 2>&1; then
    for ans in " bottom" " top" " State" " University" " __" " get" " Church" " church"; do
        ids=$($RUN "$BIN" tokenize --model "$TMP/a" "$ans" 2>&1)
        case "$ids" in
            *[!0-9]*|"") fail "answer '$ans' encodes to '$ids', not one id" ;;
        esac
    done
    # and a prompt is more than one token, all in the vocabulary
    ids=$($RUN "$BIN" tokenize --model "$TMP/a" "It's in the cupboard, either on the top or on the" 2>&1)
    n=$(echo "$ids" | wc -w | tr -d ' ')
    [ "$n" -ge 10 ] || fail "prompt 1 encodes to '$ids'"
else
    fail "part 4: '$BIN tokenize --help' failed"
fi

# 5. the experiments recover the plant
if $RUN "$BIN" all --help >/dev/null 2>&1; then
    $RUN "$BIN" synth --print-checks > "$TMP/checks.tsv" || fail "synth --print-checks exited $?"
    [ -s "$TMP/checks.tsv" ] || fail "no planted checks"
    if $RUN "$BIN" all --model "$TMP/a" --out "$TMP/out" > "$TMP/all.log" 2>&1; then
        awk -F'\t' '
            FNR == NR { value[$1] = $2; next }
            {
                n++
                if (!($1 in value)) { printf "  FAIL: %s missing from results.tsv\n", $1; bad++; next }
                d = value[$1] - $2; if (d < 0) d = -d
                if (tolower(value[$1]) ~ /nan/ || d > $3) {
                    printf "  FAIL: %s = %s, expected %s +- %s (%s)\n", $1, value[$1], $2, $3, $4; bad++
                }
            }
            END { printf "  %d planted expectations checked, %d failed\n", n, bad; exit bad > 0 }
        ' "$TMP/out/results.tsv" "$TMP/checks.tsv" || failed=1
        # Golden values: the independent float64 numpy reference (tools/check_planted.py
        # weights/planted --tsv tests/fixtures/planted/expected_results.tsv), within 1e-5
        # + 1e-5 |x|, checked with `cleanup compare` (the gate users run on their own
        # reference values). Regenerate only on purpose, saying why in the commit.
        if $RUN "$BIN" compare "$TMP/out" tests/fixtures/planted/expected_results.tsv --subset --atol 1e-5 --rtol 1e-5 \
            > "$TMP/compare.log" 2>&1; then
            n=$(sed -n 's/.*: \([0-9]*\) metrics, .*/\1/p' "$TMP/compare.log")
            [ "${n:-0}" -ge 700 ] || fail "only ${n:-0} golden values compared"
            echo "  ${n:-0} golden values checked, 0 differ"
        else
            fail "cleanup compare against the golden values:"; head -12 "$TMP/compare.log"
        fi
    else
        fail "cleanup all on the planted model exited non-zero:"; tail -5 "$TMP/all.log"
    fi
else
    fail "part 5: '$BIN all --help' failed"
fi

if [ $failed -ne 0 ]; then exit 1; fi
echo "  planted model: deterministic, loads, single-token answers, expectations hold"
exit 0

#!/bin/sh
# test_info.sh - `cleanup info` answers "ready to reproduce?" (ready.h):
#   - the planted model as `cleanup synth` writes it: ready: yes, exit 0;
#   - a garbage tokenizer.json: ready: no, the tokenizer item FAILs naming the file,
#     exit 2 with that reason as the one line on stderr;
#   - no data files, too few rows, rows that do not start with BOS: ready: no, exit 2;
#   - a tokenizer whose ids go beyond d_vocab: ready: no;
#   - --model-only on a model without tokenizer or data: ready: yes;
#   - random weights of gelu-4l's shape (`cleanup synth --shape gelu-4l`): the identity
#     item says they are not the published checkpoint (0 of 3 fingerprints), with and
#     without --no-processing, and that fails readiness.
# Run from the repo root with the binary at $CLEANUP (default ./cleanup). Exit 0 pass, 1 fail.

BIN=${CLEANUP:-./cleanup}
LC_ALL=C
export LC_ALL
if [ ! -x "$BIN" ]; then echo "test_info: $BIN not built (run make)"; exit 1; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_info.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail=0

# run DESC WANT_RC ARGS...: runs info, checks the exit status; output in $TMP/out, $TMP/err.
run() {
    desc=$1; want=$2; shift 2
    $RUN "$BIN" info "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc -ne "$want" ]; then
        echo "FAIL $desc: exit $rc, expected $want"; sed 's/^/    /' "$TMP/out" "$TMP/err" | tail -n 20; fail=1
    fi
    if grep -qE 'Sanitizer|runtime error|Segmentation' "$TMP/err"; then echo "FAIL $desc: crash"; fail=1; fi
}
# has DESC FILE PATTERN: FILE must contain a line matching the extended regex PATTERN.
has() {
    grep -qE -- "$3" "$2" || { echo "FAIL $1: no line matching '$3' in $(basename "$2")"; sed 's/^/    /' "$2"; fail=1; }
}
# not_ready DESC PATTERN: exit 2, "ready: no", a FAIL line and the one stderr line match PATTERN.
not_ready() {
    has "$1" "$TMP/out" '^ready: no$'
    has "$1" "$TMP/out" "^  FAIL .*$2"
    has "$1" "$TMP/err" "^cleanup: not ready: .*$2"
    lines=$(wc -l < "$TMP/err" | tr -d ' ')
    [ "$lines" -eq 1 ] || { echo "FAIL $1: $lines lines on stderr, expected 1"; fail=1; }
}

P=$TMP/planted
$RUN "$BIN" synth --out "$P" >/dev/null || { echo "FAIL synth"; exit 1; }

# 1. the planted model is ready
run "planted model" 0 --model "$P"
has "planted model" "$TMP/out" '^ready: yes$'
has "planted model" "$TMP/out" '^  ok    weights '
has "planted model" "$TMP/out" '^  --    identity .*planted model, not gelu-4l'
has "planted model" "$TMP/out" '^  ok    paper prompts .*4 Fig 4 prompts'
has "planted model" "$TMP/out" '^  ok    rows .*300 rows of 64 tokens'
has "planted model" "$TMP/out" '^  ok    BOS first .*every row starts with BOS \(id 1\)'
if grep -q FAIL "$TMP/out" || [ -s "$TMP/err" ]; then echo "FAIL planted model: a FAIL line or stderr output"; fail=1; fi

# 2. a garbage tokenizer.json
cp -r "$P" "$TMP/garbage"
printf 'this is not a tokenizer {' > "$TMP/garbage/tokenizer.json"
run "garbage tokenizer" 2 --model "$TMP/garbage"
not_ready "garbage tokenizer" "$TMP/garbage/tokenizer.json"

# 3. a tokenizer with more ids than the model's vocabulary (another model's tokenizer)
mkdir "$TMP/bigvocab"
cp tests/fixtures/bad/tiny/config.json tests/fixtures/bad/tiny/model_final.pth "$P/tokenizer.json" "$TMP/bigvocab/"
run "tokenizer beyond d_vocab" 2 --model "$TMP/bigvocab"
not_ready "tokenizer beyond d_vocab" "ids go up to 662, beyond the model's d_vocab"

# 4. data: none, too few rows, rows without BOS
cp -r "$P" "$TMP/nodata"
rm "$TMP/nodata/data.jsonl"
run "no data" 2 --model "$TMP/nodata"
not_ready "no data" "no data.jsonl and no rows-\*.json"
run "too few rows" 2 --model "$P" --n-prompts 301
not_ready "too few rows" "only 300 rows, 301 asked"
cp -r "$P" "$TMP/nobos"
sed '3s/^{"tokens":\[1,/{"tokens":[5,/' "$P/data.jsonl" > "$TMP/nobos/data.jsonl"
run "row without BOS" 2 --model "$TMP/nobos"
not_ready "row without BOS" "1 of 300 rows do not start with BOS \(id 1\); row 2 starts with 5"
run "--data FILE missing" 2 --model "$P" --data "$TMP/absent.jsonl"
not_ready "--data FILE missing" "absent.jsonl: not found"

# 5. --model-only: the model alone
mkdir "$TMP/only"
cp "$P/config.json" "$P/model.safetensors" "$TMP/only/"
run "--model-only" 0 --model "$TMP/only" --model-only
has "--model-only" "$TMP/out" '^ready: yes$'
if grep -q '^tokenizer$' "$TMP/out"; then echo "FAIL --model-only: the tokenizer was checked"; fail=1; fi
run "model alone, full check" 2 --model "$TMP/only"
not_ready "model alone, full check" "tokenizer.json: not found"

# 6. random weights of gelu-4l's shape are not gelu-4l
G=$TMP/g4l
$RUN "$BIN" synth --shape gelu-4l --rows 2 --out "$G" >/dev/null || { echo "FAIL synth --shape gelu-4l"; exit 1; }
run "gelu-4l shape, random weights" 2 --model "$G" --n-prompts 2
not_ready "gelu-4l shape, random weights" "model.safetensors: gelu-4l's shape, but the weights are not the published checkpoint \(0 of 3 fingerprints match; cos\(W_in\[:,50\], W_out\[50,:\]\) of layer 2 is"
run "gelu-4l shape, random weights, --no-processing" 2 --model "$G" --model-only --no-processing
not_ready "gelu-4l shape, random weights, --no-processing" "not the published checkpoint \(0 of 3"

# 7. `all` on a checkpoint that claims to be gelu-4l (its config names it so) but lacks its
#    fingerprints: not checked against the paper, and the verdict fails (exit 6), after a
#    complete report that says why. synth's own random weights (named as such) exit 0.
sed 's/"model_name": "[^"]*"/"model_name": "GELU_4L512W_C4_Code"/' "$G/config.json" > "$TMP/cfg" && cp "$TMP/cfg" "$G/config.json"
$RUN "$BIN" all --model "$G" --rows 2 --seq-len 40 --out "$TMP/g4l_out" >"$TMP/all.log" 2>&1
rc=$?
if [ $rc -ne 6 ]; then echo "FAIL impostor gelu-4l: all exited $rc, expected 6"; tail -3 "$TMP/all.log"; fail=1
elif ! grep -q "Verdict: \*\*NOT REPRODUCED\*\*. The model has gelu-4l's shape, but its weights are not the published" \
        "$TMP/g4l_out/report.md"; then echo "FAIL impostor gelu-4l: report.md does not say why"; fail=1
elif grep -q "comparable checks" "$TMP/g4l_out/report.md"; then echo "FAIL impostor gelu-4l: scored against the paper"; fail=1
else echo "ok   impostor gelu-4l: not scored, NOT REPRODUCED, exit 6"
fi

[ $fail -eq 0 ] && echo "test_info: all cases pass"
exit $fail

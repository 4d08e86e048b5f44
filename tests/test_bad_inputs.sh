#!/bin/sh
# test_bad_inputs.sh - malformed, hostile and impossible inputs (issue 7).
#
# Every bad case must give: the documented exit code (util.h EXIT_*: 2 bad input,
# 3 cannot write, 1 bad command line), exactly one line on stderr, starting with
# "cleanup: " and naming the file (or option) at fault, no crash or sanitizer
# report, and no output file that looks complete. The fixtures come from
# tools/make_bad_fixtures.py (tests/fixtures/bad/); truncated and bit-flipped
# archives are made here from copies of the fixture models.
# Run from the repo root with the binary at $CLEANUP (default ./cleanup).
# Exit 0 pass, 1 fail.

BIN=${CLEANUP:-./cleanup}
LC_ALL=C
export LC_ALL
# The binary runs through $RUN (empty, or an emulator: make test-cross); the sh -c
# cases below read it from the environment.
export RUN
BAD=tests/fixtures/bad
TINY=$BAD/tiny
GELU=tests/fixtures/models/gelu_pth
MARKER=/tmp/cleanup_pwned_marker

if [ ! -x "$BIN" ]; then
    echo "test_bad_inputs: $BIN not built (run make)"; exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_bad_inputs.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -f "$MARKER"

fail=0; cases=0

# check_failure CODE NAME DESC RC: judges the last run (stderr in $TMP/err).
check_failure() {
    want=$1; name=$2; desc=$3; rc=$4
    problems=""
    [ "$rc" -eq "$want" ] || problems="exit $rc, expected $want;"
    lines=$(wc -l < "$TMP/err" | tr -d ' ')
    [ "$lines" -eq 1 ] || problems="$problems $lines lines on stderr, expected 1;"
    head -n 1 "$TMP/err" | grep -q '^cleanup: ' || problems="$problems stderr does not start with 'cleanup: ';"
    # NAME may list several strings separated by '::'; each must appear.
    rest=$name
    while [ -n "$rest" ]; do
        one=${rest%%::*}
        case "$rest" in *::*) rest=${rest#*::} ;; *) rest= ;; esac
        grep -qF -- "$one" "$TMP/err" || problems="$problems message does not name '$one';"
    done
    if grep -qE 'Segmentation|Sanitizer|runtime error|Aborted|core dumped|Assertion' "$TMP/err"; then
        problems="$problems crash or sanitizer report;"
    fi
    if [ -n "$problems" ]; then
        echo "FAIL $desc: $problems"
        sed 's/^/    stderr: /' "$TMP/err" | head -n 20
        fail=1
    fi
}

# expect CODE NAME DESC CMD...: the command must fail cleanly with CODE, naming NAME.
expect() {
    want=$1; name=$2; desc=$3; shift 3
    cases=$((cases + 1))
    "$@" >"$TMP/out" 2>"$TMP/err"
    check_failure "$want" "$name" "$desc" $?
}

# expect_ok DESC CMD...: the command must succeed with nothing on stderr.
expect_ok() {
    desc=$1; shift
    cases=$((cases + 1))
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc -ne 0 ] || [ -s "$TMP/err" ]; then
        echo "FAIL $desc: exit $rc (expected success)"; sed 's/^/    stderr: /' "$TMP/err" | head -n 20
        fail=1
    fi
}

# expect_clean NAME DESC CMD...: success, or a clean failure (exit 2 naming NAME).
# For byte flips that may land in fields ZIP readers ignore (times, versions).
expect_clean() {
    name=$1; desc=$2; shift 2
    cases=$((cases + 1))
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc -eq 0 ] && [ ! -s "$TMP/err" ]; then return 0; fi
    check_failure 2 "$name" "$desc" $rc
}

# A model directory DIR with config CONFIG_SRC and weights WEIGHTS_SRC.
make_model() {
    mkdir -p "$1" && cp "$2" "$1/config.json" && cp "$3" "$1/model_final.pth"
}

# flip FILE OFFSET: inverts every bit of one byte in place.
flip() {
    v=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    v=$((v ^ 255))
    printf "\\$(printf %o "$v")" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

size_of() { wc -c < "$1" | tr -d ' '; }

# ---------------------------------------------------------------- pickles
expect 2 "$BAD/evil_os_system.pth::os.system" "pickle global os.system" \
    $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/evil_os_system.pth"
expect 2 "$BAD/evil_posix.pth::posix.system" "pickle global posix.system" \
    $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/evil_posix.pth"
expect 2 "$BAD/evil_eval.pth::builtins.eval" "pickle global builtins.eval (STACK_GLOBAL)" \
    $RUN "$BIN" run --model "$TINY" --weights "$BAD/evil_eval.pth" --tokens 0,1 --hook logits --out "$TMP/evil"
if [ -e "$MARKER" ]; then echo "FAIL a pickle executed code: $MARKER exists"; fail=1; rm -f "$MARKER"; fi

# ---------------------------------------------------------------- weights: structure, sizes, dtypes, values
for f in stride_oob offset_oob neg_stride shape_overflow numel_huge string_huge memo_huge int_dtype complex_dtype \
         nan_weights missing_key extra_key wrong_shape zip_count_huge zip_deflate not_a_dict no_stop; do
    expect 2 "$BAD/$f.pth" "weights $f.pth" $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/$f.pth"
done
for f in shape_overflow unknown_dtype inf_weights header_huge header_past_end offsets_oob; do
    expect 2 "$BAD/$f.safetensors" "weights $f.safetensors" $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/$f.safetensors"
done
expect 2 "$BAD/nan_weights.pth::blocks.0.mlp.W_in::NaN" "NaN is named" $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/nan_weights.pth"
expect 2 "unembed.W_U::Inf" "Inf is named" $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/inf_weights.safetensors"
expect 2 "F8_E4M3" "unknown dtype is named" $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/unknown_dtype.safetensors"
expect 2 "blocks.0.attn.W_K" "missing key is named" $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/missing_key.pth"
expect 2 "blocks.7.attn.W_Q" "extra key is named" $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/extra_key.pth"
expect 2 "pos_embed.W_pos" "shape mismatch names the tensor" $RUN "$BIN" info --model-only --model "$TINY" --weights "$BAD/wrong_shape.pth"

# Empty, tiny, directory and missing weights files.
: > "$TMP/empty.pth"
expect 2 "$TMP/empty.pth" "empty weights file" $RUN "$BIN" info --model-only --model "$TINY" --weights "$TMP/empty.pth"
printf 'PK\003\004' > "$TMP/four.pth"
expect 2 "$TMP/four.pth" "4-byte weights file" $RUN "$BIN" info --model-only --model "$TINY" --weights "$TMP/four.pth"
expect 2 "$TMP" "weights path is a directory" $RUN "$BIN" info --model-only --model "$TINY" --weights "$TMP"
expect 2 "$TMP/none.pth" "missing weights file" $RUN "$BIN" info --model-only --model "$TINY" --weights "$TMP/none.pth"
mkdir -p "$TMP/noweights" && cp "$TINY/config.json" "$TMP/noweights/"
expect 2 "$TMP/noweights" "model directory without weights" $RUN "$BIN" info --model-only --model "$TMP/noweights"
expect 2 "$TMP/nodir" "missing model directory" $RUN "$BIN" info --model-only --model "$TMP/nodir"

# Semantics that must hold, not just "no crash" (ground truth: torch.load of the
# same files, checked by make_bad_fixtures.py): non-contiguous views and repeated
# keys (the last value wins) give exactly the outputs of the plain model.
REF="$TMP/ref_out"
expect_ok "tiny model runs" $RUN "$BIN" run --model "$TINY" --tokens 0,5,11,3 --hook all --out "$REF"
for w in noncontig.pth dup_last_wins.pth dup_last_wins.safetensors tiny_st.safetensors; do
    out="$TMP/out_$w"
    expect_ok "weights $w load" $RUN "$BIN" run --model "$TINY" --weights "$BAD/$w" --tokens 0,5,11,3 --hook all --out "$out"
    nref=$(ls "$REF" | wc -l | tr -d ' ')
    same=0
    for f in "$REF"/*.dat; do cmp -s "$f" "$out/$(basename "$f")" && same=$((same + 1)); done
    if [ "$nref" -eq 0 ] || [ "$same" -ne "$nref" ]; then
        echo "FAIL $w: $same of $nref hook files identical to the contiguous model's"; fail=1
    fi
done

# ---------------------------------------------------------------- truncated and bit-flipped archives
M="$TMP/trunc"
make_model "$M" "$GELU/config.json" "$GELU/model_final.pth"
full="$TMP/gelu_full.pth"
cp "$GELU/model_final.pth" "$full"
S=$(size_of "$full")
offsets="0 1 2 3 4 10 21 22 29 30 31 63 64 65 100 1000 4096 $((S / 7)) $((S / 3)) $((S / 2)) $((S - 4000)) $((S - 2000))"
o=$((S - 3000)); while [ $o -lt $S ]; do offsets="$offsets $o"; o=$((o + 131)); done
offsets="$offsets $((S - 100)) $((S - 23)) $((S - 22)) $((S - 21)) $((S - 2)) $((S - 1))"
for off in $offsets; do
    head -c "$off" "$full" > "$M/model_final.pth"
    expect 2 "$M/model_final.pth" "truncated at $off of $S bytes" $RUN "$BIN" info --model-only --model "$M"
done
make_model "$M" "$TINY/config.json" "$TINY/model_final.pth"
S=$(size_of "$TINY/model_final.pth")
off=0; flips=0; refused=0
while [ $off -lt $S ]; do
    cp "$TINY/model_final.pth" "$M/model_final.pth"
    flip "$M/model_final.pth" $off
    expect_clean "$M/model_final.pth" "byte $off of $S flipped" $RUN "$BIN" info --model-only --model "$M"
    [ $rc -ne 0 ] && refused=$((refused + 1))
    flips=$((flips + 1))
    if [ $off -lt $((S - 300)) ]; then off=$((off + 89)); else off=$((off + 11)); fi
done
cp "$BAD/tiny_st.safetensors" "$TMP/flip.safetensors"
S=$(size_of "$TMP/flip.safetensors")
off=0
while [ $off -lt $S ]; do
    cp "$BAD/tiny_st.safetensors" "$TMP/flip.safetensors"
    flip "$TMP/flip.safetensors" $off
    expect_clean "$TMP/flip.safetensors" "safetensors byte $off flipped" $RUN "$BIN" info --model-only --model "$TINY" --weights "$TMP/flip.safetensors"
    [ $rc -ne 0 ] && refused=$((refused + 1))
    flips=$((flips + 1))
    off=$((off + 61))
done
echo "bit flips: $refused of $flips refused cleanly, the rest loaded (flips in fields readers ignore, or in weight values of the safetensors file)"
for off in 0 4 8 9 100 $((S / 2)) $((S - 1)); do
    head -c "$off" "$BAD/tiny_st.safetensors" > "$TMP/trunc.safetensors"
    expect 2 "$TMP/trunc.safetensors" "safetensors truncated at $off" $RUN "$BIN" info --model-only --model "$TINY" --weights "$TMP/trunc.safetensors"
done

# ---------------------------------------------------------------- config.json
C="$TMP/cfg"
cfg_case() { # cfg_case DESC: runs `info` on $C (config.json already written)
    expect 2 "$C/config.json" "config.json: $1" $RUN "$BIN" info --model-only --model "$C"
}
make_model "$C" "$TINY/config.json" "$TINY/model_final.pth"
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; }' > "$C/config.json"; cfg_case "100000 nested arrays"
awk 'BEGIN { for (i = 0; i < 600; i++) printf "{\"a\":"; printf "1"; for (i = 0; i < 600; i++) printf "}"; }' > "$C/config.json"
cfg_case "600 nested objects"
: > "$C/config.json"; cfg_case "empty"
printf '{"d_model": 4,' > "$C/config.json"; cfg_case "truncated"
printf '[1, 2, 3]' > "$C/config.json"; cfg_case "not an object"
s=$(printf 'bad-\377\376-tiny'); sed "s/bad-fixture-tiny/$s/" "$TINY/config.json" > "$C/config.json"
cfg_case "invalid UTF-8 in a string"
s=$(printf 'bad-\355\240\200-tiny'); sed "s/bad-fixture-tiny/$s/" "$TINY/config.json" > "$C/config.json"
cfg_case "UTF-8-encoded surrogate"
s=$(printf 'bad-\300\257-tiny'); sed "s/bad-fixture-tiny/$s/" "$TINY/config.json" > "$C/config.json"
cfg_case "overlong UTF-8"
sed 's/"d_model": 4/"d_model": NaN/' "$TINY/config.json" > "$C/config.json"; cfg_case "NaN literal"
sed '/"d_model"/d' "$TINY/config.json" > "$C/config.json"; cfg_case "missing d_model"
sed 's/"d_model": 4/"d_model": "4"/' "$TINY/config.json" > "$C/config.json"; cfg_case "d_model is a string"
sed 's/"d_model": 4/"d_model": -4/' "$TINY/config.json" > "$C/config.json"; cfg_case "negative d_model"
sed 's/"d_model": 4/"d_model": 4.5/' "$TINY/config.json" > "$C/config.json"; cfg_case "fractional d_model"
sed 's/"d_model": 4/"d_model": 99999999999999999999999/' "$TINY/config.json" > "$C/config.json"; cfg_case "d_model beyond 64 bits"
sed 's/"d_vocab": 12/"d_vocab": 100000000/; s/"d_model": 4/"d_model": 100000/' "$TINY/config.json" > "$C/config.json"
cfg_case "d_vocab x d_model too large"
cp fuzz/corpus/fuzz_config/regress-heads-overflow.json "$C/config.json"; cfg_case "n_heads x d_head x d_model overflows 64 bits"
sed 's/"n_layers": 1/"n_layers": 100000000/' "$TINY/config.json" > "$C/config.json"; cfg_case "absurd n_layers"
sed 's/"act_fn": "gelu"/"act_fn": "swish"/' "$TINY/config.json" > "$C/config.json"; cfg_case "unknown act_fn"
sed 's/"d_model": 4,/"d_model": 4, "eps": 1e-50,/' "$TINY/config.json" > "$C/config.json"; cfg_case "eps that rounds to 0 in float32"
# A newline and a terminal escape in a quoted value must not break the one-line message.
printf '{"d_model": 4, "n_layers": 1, "n_heads": 2, "d_head": 2, "d_mlp": 8, "n_ctx": 8, "d_vocab": 12,
 "act_fn": "ge\\nlu\\u001b[2J"}' > "$C/config.json"
cfg_case "act_fn with a newline and an escape"
if grep -q "$(printf '\033')" "$TMP/err"; then echo "FAIL a terminal escape from config.json reached stderr"; fail=1; fi
printf '{"a":1}\000{"b":2}' > "$C/config.json"; cfg_case "NUL byte and trailing data"
awk 'BEGIN { printf "{\"model_name\": \""; for (i = 0; i < 1100000; i++) printf "x"; printf "\"}"; }' > "$C/config.json"
cfg_case "larger than the 1 MiB limit"
mkdir -p "$TMP/cfgdir/config.json" && cp "$TINY/model_final.pth" "$TMP/cfgdir/"
expect 2 "$TMP/cfgdir/config.json" "config.json is a directory" $RUN "$BIN" info --model-only --model "$TMP/cfgdir"
mkdir -p "$TMP/nocfg" && cp "$TINY/model_final.pth" "$TMP/nocfg/"
expect 2 "$TMP/nocfg/config.json" "config.json missing" $RUN "$BIN" info --model-only --model "$TMP/nocfg"
# Shapes that disagree with config.json (the weights file is named).
sed 's/"d_mlp": 8/"d_mlp": 16/' "$TINY/config.json" > "$C/config.json"
expect 2 "$C/model_final.pth" "d_mlp disagrees with the weights" $RUN "$BIN" info --model-only --model "$C"
sed 's/"n_layers": 1/"n_layers": 2/' "$TINY/config.json" > "$C/config.json"
expect 2 "blocks.1" "n_layers disagrees with the weights" $RUN "$BIN" info --model-only --model "$C"
# Duplicate keys: the last one counts (json.h; Python's json and serde agree).
sed 's/"d_model": 4,/"d_model": 999, "d_model": 4,/' "$TINY/config.json" > "$C/config.json"
expect_ok "duplicate config key, last value right" $RUN "$BIN" info --model-only --model "$C"
sed 's/"d_model": 4,/"d_model": 4, "d_model": 6,/' "$TINY/config.json" > "$C/config.json"
expect 2 "$C/model_final.pth" "duplicate config key, last value wrong" $RUN "$BIN" info --model-only --model "$C"

# ---------------------------------------------------------------- token ids and lengths
expect 2 "--tokens" "token id = d_vocab" $RUN "$BIN" run --model "$TINY" --tokens 0,12 --hook logits --out "$TMP/o1"
expect 2 "--tokens" "prompt longer than n_ctx" $RUN "$BIN" run --model "$TINY" --tokens 0,1,2,3,4,5,6,7,8 --hook logits --out "$TMP/o2"
expect 1 "--tokens" "negative token id" $RUN "$BIN" run --model "$TINY" --tokens 0,-1 --hook logits --out "$TMP/o3"
expect 1 "--tokens" "token id beyond int" $RUN "$BIN" run --model "$TINY" --tokens 0,99999999999999999999 --hook logits --out "$TMP/o4"
expect 1 "--tokens" "token id 2^31 (strtol saturates where long is 32 bits)" $RUN "$BIN" run --model "$TINY" --tokens 0,2147483648 --hook logits --out "$TMP/o4b"
expect 1 "--tokens" "empty token list" $RUN "$BIN" run --model "$TINY" --tokens "" --hook logits --out "$TMP/o5"
expect 1 "blocks.9" "unknown hook" $RUN "$BIN" run --model "$TINY" --tokens 0,1 --hook blocks.9.hook_resid_pre --out "$TMP/o6"
for d in o1 o2 o3 o4 o5 o6; do
    if [ -e "$TMP/$d" ]; then echo "FAIL output directory $d created by a failing run"; fail=1; fi
done

# ---------------------------------------------------------------- unwritable outputs and write errors
: > "$TMP/regular"
expect 3 "$TMP/regular" "output directory under a regular file" \
    $RUN "$BIN" run --model "$TINY" --tokens 0,1 --hook logits --out "$TMP/regular/sub"
expect 3 "$TMP/regular" "output directory is a regular file" \
    $RUN "$BIN" run --model "$TINY" --tokens 0,1 --hook logits --out "$TMP/regular"
expect 3 "/proc/version" "output directory under /proc/version" \
    $RUN "$BIN" run --model "$TINY" --tokens 0,1 --hook logits --out /proc/version/out
expect 2 "/dev/zero" "endless weights file (/dev/zero) refused before reading it" $RUN "$BIN" info --model-only --model "$TINY" --weights /dev/zero
expect 3 "standard output" "info > /dev/full" sh -c "exec $RUN \"\$0\" info --model-only --model \"\$1\" > /dev/full" "$BIN" "$TINY"
# A file-size limit (2 blocks: 1 block is too small for clang's OpenMP runtime to start)
# makes a large hook file fail midway: exit 3, and the files
# left are either complete (identical to a full run) or absent - never partial.
FULL="$TMP/fsz_ref"; PART="$TMP/fsz"
expect_ok "8-token run" $RUN "$BIN" run --model "$TINY" --tokens 0,1,2,3,4,5,6,7 --hook all --out "$FULL"
mkdir -p "$PART"
cases=$((cases + 1))
(trap '' XFSZ; ulimit -f 2; exec $RUN "$BIN" run --model "$TINY" --tokens 0,1,2,3,4,5,6,7 --hook all --out "$PART") >"$TMP/out" 2>"$TMP/err"
check_failure 3 "$PART/" "write error (file size limit)" $?
grep -q "write error" "$TMP/err" || { echo "FAIL write error message: $(cat "$TMP/err")"; fail=1; }
for f in "$PART"/*; do
    [ -e "$f" ] || continue
    if ! cmp -s "$f" "$FULL/$(basename "$f")"; then echo "FAIL partial output left: $f"; fail=1; fi
done

# ---------------------------------------------------------------- tokenizer.json, text, ids
TOKDIR=fuzz/tokenizer_planted
TOK=$TOKDIR/tokenizer.json
K="$TMP/tok"
mkdir -p "$K"
tok_case() { # tok_case FILE DESC: tokenize with a broken tokenizer.json
    expect 2 "$1" "tokenizer.json: $2" $RUN "$BIN" tokenize --tokenizer "$1" "hello there"
}
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; }' > "$K/deep.json"; tok_case "$K/deep.json" "100000 nested arrays"
: > "$K/empty.json"; tok_case "$K/empty.json" "empty"
head -c 5000 "$TOK" > "$K/trunc.json"; tok_case "$K/trunc.json" "truncated"
s=$(printf '<|PAD\377|>'); sed "s/<|PAD|>/$s/" "$TOK" > "$K/utf8.json"; tok_case "$K/utf8.json" "invalid UTF-8"
sed 's/"model": *{/"modelx": {/' "$TOK" > "$K/nomodel.json"; tok_case "$K/nomodel.json" "no model"
sed 's/"type": *"BPE"/"type": "WordPiece"/' "$TOK" > "$K/wp.json"; tok_case "$K/wp.json" "unsupported model type"
sed 's/"vocab": *{/"vocab": {"zzz": 1099511627776, /' "$TOK" > "$K/hugeid.json"; tok_case "$K/hugeid.json" "vocabulary id 2^40"
sed 's/"vocab": *{/"vocab": {"zzz": -5, /' "$TOK" > "$K/negid.json"; tok_case "$K/negid.json" "negative vocabulary id"
sed 's/"merges": *\[/"merges": ["nope notthere", /' "$TOK" > "$K/merge.json"; tok_case "$K/merge.json" "merge of unknown tokens"
sed 's/"merges": *\[/"merges": ["onlyone", /' "$TOK" > "$K/merge2.json"; tok_case "$K/merge2.json" "merge without a space"
sed 's/"normalizer": *{[^}]*}/"normalizer": {"type": "Lowercase"}/' "$TOK" > "$K/norm.json"; tok_case "$K/norm.json" "unsupported normalizer"
printf 'ab\377cd' > "$K/bad.txt"
expect 2 "$K/bad.txt::byte 2" "tokenize --file with invalid UTF-8" $RUN "$BIN" tokenize --tokenizer "$TOK" --file "$K/bad.txt"
expect 2 "byte 2" "tokenize invalid UTF-8 argument" $RUN "$BIN" tokenize --tokenizer "$TOK" "$(printf 'ab\355\240\200cd')"
expect 2 "$TOK::99999" "detokenize an id outside the vocabulary" $RUN "$BIN" detokenize --tokenizer "$TOK" 5 99999
expect 2 "$TMP/none.json" "tokenizer.json missing" $RUN "$BIN" tokenize --tokenizer "$TMP/none.json" "hi"

# ---------------------------------------------------------------- data rows and prompts (planted model)
PL="$TMP/planted"
if ! $RUN "$BIN" synth --out "$PL" --rows 8 >"$TMP/out" 2>"$TMP/err"; then
    echo "FAIL cleanup synth:"; cat "$TMP/err"; fail=1
fi
expect 2 "--text::64" "--text longer than n_ctx" \
    $RUN "$BIN" run --model "$PL" --text "$(awk 'BEGIN { for (i = 0; i < 100; i++) printf "word "; }')" --hook logits --out "$TMP/o7"
expect 2 "byte" "--text with invalid UTF-8" $RUN "$BIN" run --model "$PL" --text "$(printf 'a\377b')" --hook logits --out "$TMP/o8"
# `all` prints progress lines on stderr: expect_all judges the lines that are not progress.
expect_all() {
    want=$1; name=$2; desc=$3; shift 3
    cases=$((cases + 1))
    "$@" >"$TMP/out" 2>"$TMP/err.all"
    rc=$?
    grep -vE '^[A-Za-z0-9 ._-]+: ([0-9]+/[0-9]+|done|started|[0-9]+ done)' "$TMP/err.all" > "$TMP/err"
    check_failure "$want" "$name" "$desc" $rc
}
D="$TMP/data"; mkdir -p "$D"
all_data() { # all_data FILE DESC [N]: `all` on the planted model with bad data
    expect_all 2 "$1" "data: $2" $RUN "$BIN" all --model "$PL" --data "$1" --n-prompts "${3:-2}" --out "$TMP/all_out"
    if [ -e "$TMP/all_out/results.tsv" ] || [ -e "$TMP/all_out/report.md" ]; then
        echo "FAIL data: $2: results left by a failing run"; fail=1
    fi
}
: > "$D/empty.jsonl"; all_data "$D/empty.jsonl" "empty file"
head -n 1 "$PL/data.jsonl" > "$D/one.jsonl"; all_data "$D/one.jsonl" "fewer rows than --n-prompts"
head -n 2 "$PL/data.jsonl" | sed 's/,[0-9]*\]}$/]}/' > "$D/short.jsonl"; all_data "$D/short.jsonl" "rows shorter than n_ctx"
head -n 2 "$PL/data.jsonl" | sed 's/\[1,/[1,99999,/' > "$D/oor.jsonl"; all_data "$D/oor.jsonl" "token id outside the vocabulary"
head -n 2 "$PL/data.jsonl" | sed 's/\[1,/[1,-3,/' > "$D/neg.jsonl"; all_data "$D/neg.jsonl" "negative token id"
head -n 2 "$PL/data.jsonl" | sed 's/\[1,/[1,2.5,/' > "$D/frac.jsonl"; all_data "$D/frac.jsonl" "fractional token id"
{ head -n 1 "$PL/data.jsonl"; printf '{"tokens": [1, 2,\n'; } > "$D/trunc.jsonl"; all_data "$D/trunc.jsonl" "truncated JSON line"
{ head -n 1 "$PL/data.jsonl"; printf '{"text": "x"}\n'; } > "$D/mixed.jsonl"; all_data "$D/mixed.jsonl" "a text line among token lines"
printf '{"rows": 5}' > "$D/rows.json"; all_data "$D/rows.json" "rows is not an array"
printf '{"rows":[{"row_idx":0,"row":{"tokens":[1,2]},"truncated_cells":["tokens"]}]}' > "$D/rowst.json"
all_data "$D/rowst.json" "server-truncated row" 1
printf 'good line\nbad \377 line\n' > "$D/bad.txt"; all_data "$D/bad.txt::line 2" "invalid UTF-8 in text data" 1
# A first line that starts with '{' must be a JSONL row (a damaged token file must not run as text).
{ printf '{"tokens": [1, 2,\n'; head -n 2 "$PL/data.jsonl"; } > "$D/trunc1.jsonl"; all_data "$D/trunc1.jsonl::line 1" "truncated first JSON line"
{ printf '{"toknes": [1, 2]}\n'; head -n 2 "$PL/data.jsonl"; } > "$D/nokey.jsonl"; all_data "$D/nokey.jsonl::line 1" "first JSON line without tokens or text"
{ head -n 1 "$PL/data.jsonl"; awk 'BEGIN { for (i = 0; i < 600; i++) printf "{\"tokens\":"; print ""; }'; } > "$D/deep.jsonl"
all_data "$D/deep.jsonl::line 2" "deeply nested JSON line"
# Fig 4 prompts files (TSV: prompt, correct, incorrect, head).
Q="$TMP/prompts"; mkdir -p "$Q"
fig4_case() { # fig4_case FILE NAME DESC
    expect_all 2 "$1::$2" "prompts: $3" $RUN "$BIN" fig4 --model "$PL" --n-prompts 8 --prompts "$1" --out "$TMP/fig4_out"
}
printf 'only one column\n' > "$Q/cols.tsv"; fig4_case "$Q/cols.tsv" "line 1" "wrong number of fields"
printf 'a \377 b\t x\t y\tL2H3\n' > "$Q/utf8.tsv"; fig4_case "$Q/utf8.tsv" "byte 2" "invalid UTF-8"
printf 'the prompt\t x\t y\tL9H3\n' > "$Q/head.tsv"; fig4_case "$Q/head.tsv" "L9H3" "head outside the model"
awk 'BEGIN { for (i = 0; i < 200; i++) printf "word "; printf "\t x\t y\tL2H3\n"; }' > "$Q/long.tsv"
fig4_case "$Q/long.tsv" "prompt 1" "prompt longer than the rows"
printf 'the prompt\t x y\t z\tL2H3\n' > "$Q/answer.tsv"; fig4_case "$Q/answer.tsv" "x y" "answer of two tokens"
if [ -e "$TMP/fig4_out" ]; then echo "FAIL prompts: a failing fig4 run created its output directory"; fail=1; fi
expect_all 1 "--rows" "--n-prompts 0" $RUN "$BIN" all --model "$PL" --n-prompts 0 --out "$TMP/all_out"

# ---------------------------------------------------------------- `all`: unwritable outputs and atomic results
expect_all 3 "$TMP/regular" "all --out under a regular file" $RUN "$BIN" all --model "$PL" --n-prompts 8 --out "$TMP/regular/sub"
expect_all 3 "$TMP/allf/results.tsv::write error" "all: write error (file size limit)" \
    sh -c 'trap "" XFSZ; ulimit -f 8; exec $RUN "$0" all --model "$1" --n-prompts 8 --out "$2"' "$BIN" "$PL" "$TMP/allf"
left=$(ls "$TMP/allf" 2>/dev/null | wc -l | tr -d ' ')
if [ "$left" -ne 0 ]; then echo "FAIL all: $left files left after a write error: $(ls "$TMP/allf")"; fail=1; fi

# Other commands' outputs.
expect 3 "standard output" "tokenize > /dev/full" sh -c 'exec $RUN "$0" tokenize --tokenizer "$1" hello > /dev/full' "$BIN" "$TOK"
expect 3 "standard output" "detokenize > /dev/full" sh -c 'exec $RUN "$0" detokenize --tokenizer "$1" 70 71 > /dev/full' "$BIN" "$TOK"
expect 3 "$TMP/regular" "synth --out under a regular file" $RUN "$BIN" synth --out "$TMP/regular/x" --rows 2
expect 3 "$TMP/syn/model.safetensors::write error" "synth: write error (file size limit)" \
    sh -c 'trap "" XFSZ; ulimit -f 100; exec $RUN "$0" synth --out "$1" --rows 2' "$BIN" "$TMP/syn"
# config.json is written last: a model directory cut short by an error cannot be loaded.
if [ -e "$TMP/syn/config.json" ]; then echo "FAIL synth: config.json written although the weights failed"; fail=1; fi

echo "test_bad_inputs: $cases cases"
exit $fail

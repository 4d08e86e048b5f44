#!/bin/sh
# test_tokenize.sh - the tokenize / detokenize commands on the hand-written fixtures
# (ids derived by reasoning, see tests/test_tokenizer.c) and a byte-exact round trip.
# Run from the repo root with the binary at $CLEANUP (default ./cleanup), run through $RUN.
BIN=${CLEANUP:-./cleanup}
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
F=tests/fixtures/tokenizer
T=${TMPDIR:-/tmp}/cleanup_tokenize_$$
mkdir -p "$T" || exit 1
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# expect_out NAME WANT CMD...: stdout must be exactly WANT (plus newline), exit 0
expect_out() {
    name=$1; want=$2; shift 2
    got=$("$@" 2>"$T/err"); rc=$?
    if [ $rc -eq 0 ] && [ "$got" = "$want" ]; then ok "$name"; else bad "$name: got '$got' (exit $rc) want '$want'; $(cat "$T/err")"; fi
}
# expect_fail NAME CODE PATTERN CMD...: exit code CODE and stderr containing PATTERN
expect_fail() {
    name=$1; code=$2; pat=$3; shift 3
    "$@" >/dev/null 2>"$T/err"; rc=$?
    if [ $rc -eq "$code" ] && grep -q -- "$pat" "$T/err"; then ok "$name"; else bad "$name: exit $rc, stderr: $(cat "$T/err")"; fi
}

expect_out "tokenize text" "4 8" $RUN $BIN tokenize --tokenizer $F/bytelevel.json "hi's"
expect_out "tokenize --model dir" "3" $RUN $BIN tokenize --model $F/with_config a
expect_out "tokenize --bos (special_tokens_map.json)" "0 3 0" $RUN $BIN tokenize --model $F/with_config --bos "a</s>"
expect_out "tokenize --bos-id" "2 3" $RUN $BIN tokenize --model $F/with_config --bos-id 2 a
expect_out "tokenize empty text" "" $RUN $BIN tokenize --tokenizer $F/bytelevel.json ""
expect_out "tokenize -- -text" "0 1 2" $RUN $BIN tokenize --tokenizer $F/bytelevel.json -- "-hi"
printf 'hi\n' > "$T/in.txt"
expect_out "tokenize --file" "4 9" $RUN $BIN tokenize --tokenizer $F/bytelevel.json --file "$T/in.txt"
expect_out "tokenize --file - (stdin)" "4 9" sh -c "$RUN $BIN tokenize --tokenizer $F/bytelevel.json --file - < '$T/in.txt'"

printf 'hi\377' > "$T/bad.txt"
expect_fail "invalid UTF-8 names the byte" 2 "bad.txt: byte 2: invalid UTF-8" $RUN $BIN tokenize --tokenizer $F/bytelevel.json --file "$T/bad.txt"
expect_fail "missing tokenizer" 2 "nope.json" $RUN $BIN tokenize --tokenizer $F/nope.json x
expect_fail "no BOS defined" 1 "defines no BOS" $RUN $BIN tokenize --tokenizer $F/bytelevel.json --bos hi
expect_fail "both --tokenizer and --model" 1 "exactly one of" $RUN $BIN tokenize --tokenizer $F/bytelevel.json --model $F x
expect_fail "no text" 1 "exactly one of --file F or TEXT" $RUN $BIN tokenize --tokenizer $F/bytelevel.json
expect_fail "unknown option" 1 "unknown option" $RUN $BIN tokenize --frobnicate
$RUN $BIN tokenize --help | grep -q "usage: cleanup tokenize" && ok "tokenize --help" || bad "tokenize --help"
$RUN $BIN detokenize --help | grep -q "usage: cleanup detokenize" && ok "detokenize --help" || bad "detokenize --help"

# detokenize: byte-exact output, no newline added
$RUN $BIN detokenize --tokenizer $F/bytelevel.json 4 8 9 17 > "$T/out.bin" 2>"$T/err"
printf " hi's\n\303\251" > "$T/want.bin"
cmp -s "$T/out.bin" "$T/want.bin" && ok "detokenize byte-exact" || bad "detokenize byte-exact: $(od -c "$T/out.bin" | head -2)"
$RUN $BIN detokenize --tokenizer $F/bytelevel.json "4,8" > "$T/out2.bin" 2>"$T/err"
printf " hi's" > "$T/want2.bin"
cmp -s "$T/out2.bin" "$T/want2.bin" && ok "detokenize comma list" || bad "detokenize comma list"
expect_fail "detokenize unknown id" 2 "token id 99" $RUN $BIN detokenize --tokenizer $F/bytelevel.json 4 99
expect_fail "detokenize not a number" 1 "is not a token id" $RUN $BIN detokenize --tokenizer $F/bytelevel.json 4 x7
expect_fail "detokenize no ids" 1 "no ids" $RUN $BIN detokenize --tokenizer $F/bytelevel.json

# Round trip through both commands on the GPT-NeoX-20B tokenizer (NFC text).
TOK=../shared/data/20B_tokenizer.json
if [ -f "$TOK" ]; then
    printf 'Round trip: \tcode(x) = "caf\303\251" + 42;\r\n  \344\270\255\346\226\207 \360\237\221\215\360\237\217\275 <|endoftext|>  spaces    end\n' > "$T/rt.txt"
    $RUN $BIN tokenize --tokenizer $TOK --file "$T/rt.txt" > "$T/ids.txt" &&
        $RUN $BIN detokenize --tokenizer $TOK --file "$T/ids.txt" > "$T/rt.out" &&
        cmp -s "$T/rt.txt" "$T/rt.out" && ok "20B round trip byte-exact" || bad "20B round trip"
else
    echo "SKIP 20B round trip: $TOK not found (needs ../shared)"
fi
[ $fail -eq 0 ]

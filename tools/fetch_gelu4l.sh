#!/bin/sh
# Downloads gelu-4l, its tokenizer and 300 data rows into weights/gelu-4l/ (`make fetch`).
# Needs network access and curl. On an air-gapped machine, download the same URLs
# elsewhere and copy the files into weights/gelu-4l/ with the names below.
#
# Pinning: the model and tokenizer files all come from one revision of each hub repository:
# MODEL_REVISION / TOKENIZER_REVISION (a commit id) when set, else the commit `main` points
# to now, asked of the hub's API (so the files of one fetch belong together). The revisions
# used and the SHA-256 of every file fetched are written to DEST/FETCHED.txt; compare it with
# a colleague's to know you ran on the same bytes. (The datasets-server rows API serves the
# datasets' current revision and cannot be pinned; the rows' checksums are recorded.)
set -eu
DEST=${1:-weights/gelu-4l}
HF=https://huggingface.co
ROWS=https://datasets-server.huggingface.co/rows
MODEL_REPO=NeelNanda/GELU_4L512W_C4_Code
TOKENIZER_REPO=NeelNanda/gpt-neox-tokenizer-digits
command -v curl >/dev/null 2>&1 || { echo "fetch: curl is required" >&2; exit 1; }
mkdir -p "$DEST"
get() { # URL FILE
    echo "fetch: $2"
    curl -fL --retry 3 -o "$DEST/$2.part" "$1" && mv "$DEST/$2.part" "$DEST/$2"
}
# The commit a repository's main branch points to (the "sha" of its API record).
head_commit() {
    curl -fsL --retry 3 "$HF/api/models/$1" | tr ',' '\n' | sed -n 's/^ *"sha" *: *"\([0-9a-f]\{40\}\)".*/\1/p' | head -n 1
}
MODEL_REVISION=${MODEL_REVISION:-$(head_commit $MODEL_REPO)}
TOKENIZER_REVISION=${TOKENIZER_REVISION:-$(head_commit $TOKENIZER_REPO)}
[ -n "$MODEL_REVISION" ] || { echo "fetch: cannot find the revision of $MODEL_REPO (set MODEL_REVISION)" >&2; exit 1; }
[ -n "$TOKENIZER_REVISION" ] || { echo "fetch: cannot find the revision of $TOKENIZER_REPO (set TOKENIZER_REVISION)" >&2; exit 1; }
echo "fetch: $MODEL_REPO at $MODEL_REVISION, $TOKENIZER_REPO at $TOKENIZER_REVISION"
get "$HF/$MODEL_REPO/resolve/$MODEL_REVISION/config.json" config.json
get "$HF/$MODEL_REPO/resolve/$MODEL_REVISION/model_final.pth" model_final.pth
get "$HF/$TOKENIZER_REPO/resolve/$TOKENIZER_REVISION/tokenizer.json" tokenizer.json
get "$HF/$TOKENIZER_REPO/resolve/$TOKENIZER_REVISION/tokenizer_config.json" tokenizer_config.json
get "$HF/$TOKENIZER_REPO/resolve/$TOKENIZER_REVISION/special_tokens_map.json" special_tokens_map.json
# 240 rows of C4 and 60 of code, 100 rows per request (the rows API's maximum).
get "$ROWS?dataset=NeelNanda/c4-tokenized-2b&config=default&split=train&offset=0&length=100" rows-c4-000.json
get "$ROWS?dataset=NeelNanda/c4-tokenized-2b&config=default&split=train&offset=100&length=100" rows-c4-100.json
get "$ROWS?dataset=NeelNanda/c4-tokenized-2b&config=default&split=train&offset=200&length=40" rows-c4-200.json
get "$ROWS?dataset=NeelNanda/code-tokenized&config=default&split=train&offset=0&length=60" rows-code-000.json
{
    echo "# fetched $(date -u +%Y-%m-%dT%H:%M:%SZ) by tools/fetch_gelu4l.sh"
    echo "model $MODEL_REPO $MODEL_REVISION"
    echo "tokenizer $TOKENIZER_REPO $TOKENIZER_REVISION"
    (cd "$DEST" && sha256sum config.json model_final.pth tokenizer.json tokenizer_config.json special_tokens_map.json \
        rows-c4-000.json rows-c4-100.json rows-c4-200.json rows-code-000.json)
} > "$DEST/FETCHED.txt"
echo "fetch: done (revisions and SHA-256 in $DEST/FETCHED.txt); now run ./cleanup info --model $DEST and ./cleanup all"

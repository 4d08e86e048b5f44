#!/bin/sh
# Downloads gelu-4l, its tokenizer and 300 data rows into weights/gelu-4l/ (`make fetch`).
# Needs network access and curl. On an air-gapped machine, download the same URLs
# elsewhere and copy the files into weights/gelu-4l/ with the names below.
set -eu
DEST=${1:-weights/gelu-4l}
HF=https://huggingface.co
ROWS=https://datasets-server.huggingface.co/rows
command -v curl >/dev/null 2>&1 || { echo "fetch: curl is required" >&2; exit 1; }
mkdir -p "$DEST"
get() { # URL FILE
    echo "fetch: $2"
    curl -fL --retry 3 -o "$DEST/$2.part" "$1" && mv "$DEST/$2.part" "$DEST/$2"
}
get "$HF/NeelNanda/GELU_4L512W_C4_Code/resolve/main/config.json" config.json
get "$HF/NeelNanda/GELU_4L512W_C4_Code/resolve/main/model_final.pth" model_final.pth
get "$HF/NeelNanda/gpt-neox-tokenizer-digits/resolve/main/tokenizer.json" tokenizer.json
get "$HF/NeelNanda/gpt-neox-tokenizer-digits/resolve/main/tokenizer_config.json" tokenizer_config.json
get "$HF/NeelNanda/gpt-neox-tokenizer-digits/resolve/main/special_tokens_map.json" special_tokens_map.json
# 240 rows of C4 and 60 of code, 100 rows per request (the rows API's maximum).
get "$ROWS?dataset=NeelNanda/c4-tokenized-2b&config=default&split=train&offset=0&length=100" rows-c4-000.json
get "$ROWS?dataset=NeelNanda/c4-tokenized-2b&config=default&split=train&offset=100&length=100" rows-c4-100.json
get "$ROWS?dataset=NeelNanda/c4-tokenized-2b&config=default&split=train&offset=200&length=40" rows-c4-200.json
get "$ROWS?dataset=NeelNanda/code-tokenized&config=default&split=train&offset=0&length=60" rows-code-000.json
echo "fetch: done; now run ./cleanup info --model $DEST and ./cleanup all"

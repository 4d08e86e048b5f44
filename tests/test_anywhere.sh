#!/bin/sh
# test_anywhere.sh - the binary installs and runs anywhere, with no files (issue 14).
#
# Installs the binary with `make install` into a staging directory (DESTDIR) and runs
# the installed `cleanup all` from an empty directory: with no
# weights/ beside it, it builds the planted model in memory. Every output must be
# byte-identical to the run on the files `make` wrote (weights/planted), except
# run.txt and SHA256SUMS (which lists report.md), and report.md itself only in its
# provenance: once "planted (built in memory)" is read as "weights/planted" and the
# three "Source:" lines and the command line (--model) are dropped, it must be identical too (so its SHA-256 lines of
# the config, weights, tokenizer and data are the files' SHA-256). report.md and run.txt
# must say the model was built in memory, by which program.
# Run from the repo root with the binary at $CLEANUP (default ./cleanup), after make.
# Exit 0 pass, 1 fail.

BIN=${CLEANUP:-./cleanup}
ROWS=40
if [ ! -x "$BIN" ] || [ ! -f weights/planted/config.json ]; then
    echo "test_anywhere: $BIN or weights/planted not built (run make)"; exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_anywhere.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail=0

# A copy of the binary under test: make has no rule for it, so `make install` installs it
# as it is instead of rebuilding ./cleanup.
mkdir "$TMP/bin" && cp "$BIN" "$TMP/bin/cleanup" || exit 1
BIN=$TMP/bin/cleanup
if ! $RUN "$BIN" all --model weights/planted --rows $ROWS --out "$TMP/files" >"$TMP/log" 2>&1; then
    echo "FAIL all on weights/planted:"; cat "$TMP/log"; exit 1
fi
# `make install` into a staging prefix: the program and its docs, nothing else needed.
if ! make -s --no-print-directory install INSTALL_BIN="$BIN" PREFIX=/opt/cleanup DESTDIR="$TMP/stage" >"$TMP/log" 2>&1; then
    echo "FAIL make install:"; cat "$TMP/log"; exit 1
fi
inst=$TMP/stage/opt/cleanup
for f in bin/cleanup share/doc/cleanup/README.md share/doc/cleanup/PROTOCOL.md share/doc/cleanup/EXPERIMENTS.md; do
    [ -f "$inst/$f" ] || { echo "FAIL: make install did not install $f"; fail=1; }
done
[ -x "$inst/bin/cleanup" ] && cmp -s "$BIN" "$inst/bin/cleanup" || { echo "FAIL: installed binary is not $BIN"; fail=1; }
mkdir "$TMP/away"
# The installed binary, run from an empty directory; the default --out is ./out there.
if ! (cd "$TMP/away" && $RUN "$inst/bin/cleanup" all --rows $ROWS >"$TMP/log" 2>&1); then
    echo "FAIL all with no files:"; cat "$TMP/log"; exit 1
fi
mem=$TMP/away/out
grep -q "built in memory" "$TMP/log" || { echo "FAIL: stdout does not say the model was built in memory"; fail=1; }
[ "$(ls "$TMP/away")" = out ] || { echo "FAIL: the run wrote more than ./out:"; ls "$TMP/away"; fail=1; }

n=0
for f in "$TMP/files"/*; do
    name=$(basename "$f")
    case $name in run.txt|SHA256SUMS|report.md) continue ;; esac
    n=$((n + 1))
    cmp -s "$f" "$mem/$name" || { echo "FAIL: $name differs from the run on weights/planted"; fail=1; }
done
[ "$n" -ge 20 ] || { echo "FAIL: only $n outputs compared"; fail=1; }
[ "$(ls "$TMP/files" | wc -l)" = "$(ls "$mem" | wc -l)" ] || { echo "FAIL: not the same files"; ls "$TMP/files" "$mem"; fail=1; }

grep -q '^- Source: planted model, built in memory by cleanup [0-9]' "$mem/report.md" ||
    { echo "FAIL: report.md does not say the model was built in memory"; fail=1; }
grep -q '^model: planted model, built in memory by cleanup [0-9].*(no input files)$' "$mem/run.txt" ||
    { echo "FAIL: run.txt does not say the model was built in memory"; fail=1; }
sed -e 's#planted (built in memory)#weights/planted#g' "$mem/report.md" |
    awk '/^- Source: planted model, built in memory/ { skip = 3 } skip > 0 { skip--; next } { print }' >"$TMP/mem.md"
grep -v '^- Command line: ' "$TMP/files/report.md" >"$TMP/files.md"
grep -v '^- Command line: ' "$TMP/mem.md" >"$TMP/mem2.md"
if ! cmp -s "$TMP/files.md" "$TMP/mem2.md"; then
    echo "FAIL: report.md differs beyond its provenance:"; diff "$TMP/files.md" "$TMP/mem2.md" | head -20; fail=1
fi
grep -q "$(sha256sum weights/planted/model.safetensors 2>/dev/null | cut -c1-64)" "$mem/report.md" ||
    { command -v sha256sum >/dev/null && { echo "FAIL: report.md lacks the weights' SHA-256"; fail=1; }; }
(cd "$mem" && $RUN "$inst/bin/cleanup" verify . >"$TMP/log" 2>&1) || { echo "FAIL: verify:"; cat "$TMP/log"; fail=1; }

if ! make -s --no-print-directory uninstall PREFIX=/opt/cleanup DESTDIR="$TMP/stage" >"$TMP/log" 2>&1 ||
    [ -n "$(find "$TMP/stage" -type f)" ]; then
    echo "FAIL make uninstall left files:"; find "$TMP/stage" -type f; cat "$TMP/log"; fail=1
fi
[ $fail = 0 ] && echo "test_anywhere: installed, run with no files = all on weights/planted ($n files + report.md)"
exit $fail

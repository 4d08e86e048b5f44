#!/bin/sh
# test_report.sh - the report's outputs checked by independent tools:
#   sha256sum -c over SHA256SUMS (coreutils' SHA-256, not ours), before and after a byte flip;
#   xmllint --noout on every .svg; gnuplot on every .gp (each must produce its PNG);
#   `cleanup verify` (./cleanup when it has the command, else build/test_report --verify).
# Tools that are absent are skipped with a visible note; exit 77 if none could run.
# Run from the repository root (tests/run.sh does); needs build/test_report (make test).
BUILD=${BUILD:-build}
bin=$BUILD/test_report
if [ ! -x "$bin" ]; then
    echo "SKIP: $bin is not built (run make test)"
    exit 77
fi
tmp=${TMPDIR:-/tmp}/cleanup_test_report_sh.$$
rm -rf "$tmp"
mkdir -p "$tmp" || { echo "cannot create $tmp"; exit 1; }
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
out=$tmp/out
fails=0
ran=0
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }

$RUN "$bin" --write "$out" >/dev/null || { echo "  FAIL: $bin --write $out"; exit 1; }

# The verify command: the real CLI if it links and knows `verify`, else the test binary's hook.
cleanup=${CLEANUP:-./cleanup}
if [ -x "$cleanup" ] && $RUN "$cleanup" verify --help >/dev/null 2>&1; then
    verify="$RUN $cleanup verify"
else
    verify="$RUN $bin --verify"
    echo "  note: $cleanup verify unavailable, using $bin --verify"
fi

if command -v sha256sum >/dev/null 2>&1; then
    ran=$((ran + 1))
    (cd "$out" && sha256sum -c --quiet SHA256SUMS) || fail "sha256sum -c rejects our SHA256SUMS"
    n=$(wc -l < "$out/SHA256SUMS")
    [ "$n" -eq 25 ] || fail "SHA256SUMS has $n lines, expected 25"
    # Every listed checksum equals sha256sum's own, line by line.
    while read -r hex name; do
        got=$(cd "$out" && sha256sum "$name" | cut -d' ' -f1)
        [ "$got" = "$hex" ] || fail "$name: SHA256SUMS says $hex, sha256sum says $got"
    done < "$out/SHA256SUMS"
    # Flip one byte of report.md (its first byte is '#'): both tools must now fail.
    cp "$out/report.md" "$tmp/report.md.orig"
    printf '%%' | dd of="$out/report.md" bs=1 seek=0 conv=notrunc 2>/dev/null
    if (cd "$out" && sha256sum -c --quiet SHA256SUMS >/dev/null 2>&1); then fail "sha256sum -c accepts a modified report.md"; fi
    cp "$tmp/report.md.orig" "$out/report.md"
    (cd "$out" && sha256sum -c --quiet SHA256SUMS) || fail "sha256sum -c rejects the restored report.md"
else
    echo "  SKIP (visible): sha256sum not installed - the independent SHA-256 check did not run"
fi

# verify: passes, fails with a message naming the file after a byte flip and after a deletion.
$verify "$out" >/dev/null 2>"$tmp/err" || fail "verify rejects a fresh output: $(cat "$tmp/err")"
cp "$out/fig2.dat" "$tmp/fig2.dat.orig"
printf 'X' | dd of="$out/fig2.dat" bs=1 seek=0 conv=notrunc 2>/dev/null
$verify "$out" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 4 ] || fail "verify exit status $rc after a byte flip, expected 4"
grep -q "fig2.dat: SHA-256 mismatch" "$tmp/err" || fail "verify message does not name fig2.dat: $(cat "$tmp/err")"
cp "$tmp/fig2.dat.orig" "$out/fig2.dat"
rm "$out/fig5.svg"
$verify "$out" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 4 ] || fail "verify exit status $rc after a deletion, expected 4"
grep -q "fig5.svg: listed in SHA256SUMS but missing" "$tmp/err" || fail "verify message does not name fig5.svg: $(cat "$tmp/err")"
$RUN "$bin" --write "$out" >/dev/null || fail "rewrite"
if [ "$verify" = "$RUN $cleanup verify" ]; then
    $verify --bogus "$out" >/dev/null 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] || fail "verify --bogus exit status $rc, expected 1 (a usage error)"
fi
ran=$((ran + 1))

if command -v xmllint >/dev/null 2>&1; then
    ran=$((ran + 1))
    for f in "$out"/*.svg; do
        xmllint --noout "$f" || fail "xmllint rejects $f"
    done
else
    echo "  SKIP (visible): xmllint not installed - SVGs checked only by test_report's own XML checker"
fi

if command -v gnuplot >/dev/null 2>&1; then
    ran=$((ran + 1))
    for g in "$out"/*.gp; do
        stem=$(basename "$g" .gp)
        (cd "$out" && gnuplot "$stem.gp" >"$tmp/gp.err" 2>&1) || fail "gnuplot $stem.gp failed: $(cat "$tmp/gp.err")"
        [ -s "$tmp/gp.err" ] && fail "gnuplot $stem.gp warned: $(cat "$tmp/gp.err")"
        [ -s "$out/$stem.png" ] || fail "gnuplot $stem.gp did not write $stem.png"
    done
    # PNGs drawn by gnuplot are not cleanup outputs: verify still passes.
    $verify "$out" >/dev/null 2>"$tmp/err" || fail "verify rejects gnuplot's extra PNGs: $(cat "$tmp/err")"
else
    echo "  SKIP (visible): gnuplot not installed - .gp scripts not run (gnuplot is optional for users)"
fi

if [ $fails -ne 0 ]; then
    echo "  test_report.sh: $fails failure(s)"
    exit 1
fi
if [ $ran -eq 0 ]; then
    echo "SKIP: no tool available"
    exit 77
fi
echo "  test_report.sh: all checks passed"
exit 0

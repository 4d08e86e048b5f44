#!/bin/sh
# test_figures.sh - the figures of a planted `cleanup all` run (60 rows, to stay quick)
# drawn and looked at by independent tools:
#   1. gnuplot runs every .gp in both modes (PNG, and fmt='svg'), silently;
#   2. gnuplot's SVGs parse (xmllint) and hold no scale(0.00), a zero-size point
#      transform that SVG renderers refuse; rsvg-convert renders them;
#   3. rsvg-convert renders the program's own SVGs;
#   4. every PNG of 1-3 is decoded (netpbm's pngtopam) and its pixels counted (awk):
#      not blank, a plot frame at least 55% of the image wide (a key outside the plot
#      must not squeeze it), and the colours the figure is drawn in (see COLOURS below).
# A missing tool skips its parts with the reason printed, and the test then exits 77
# (SKIP) unless a check failed: it never passes with a part left out.
# Run from the repository root (tests/run.sh does); uses $CLEANUP (default ./cleanup).
# FIGURES_VERBOSE=1 prints every image's numbers; FIGURES_FROM=DIR checks a copy of an existing output directory instead of a new run.
cd "$(dirname "$0")/.." || exit 1
BIN=${CLEANUP:-./cleanup}
if [ ! -x "$BIN" ]; then echo "FAIL: $BIN not built (run make)"; exit 1; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_figures.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
out=$tmp/out
fails=0
skipped=""
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }
skip() { echo "  SKIP (visible): $*"; skipped="$skipped; $*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# The colours each figure must show (rrggbb, as the program's palette in plot.c and
# exp_fig2.c; drawn opaque, so they appear as such in every rendering):
#   fig1: the writer L0H2's line in panel (a) (palette 2), its median in panel (b) (COLOR_CLEAN);
#   fig2: layers 0, 1, 2 and 3 (palette 0, 1, 2 and 9), the cleaners (COLOR_CLEANER) and
#         layer 0's MLP bar paler: 1f77b4 at 45% over white = 9ac2dd;
#   fig3a/b, fig4a/b: clean and patched bars (COLOR_CLEAN, COLOR_PATCHED);
#   fig5: the least-squares line (COLOR_CLEANER).
colours_of() {
    case $1 in
    fig1) echo 2ca02c,4c72b0 ;;
    fig2) echo 1f77b4,ff7f0e,2ca02c,17becf,c44e52,9ac2dd ;;
    fig3a | fig3b | fig4a | fig4b) echo 4c72b0,dd8452 ;;
    fig5) echo c44e52 ;;
    *) echo "" ;;
    esac
}

# Pixel statistics of a PNG: "W H INK LEFT RIGHT N1 N2 ..." where INK is the fraction of
# pixels that are not near-white, LEFT..RIGHT the outermost columns holding a dark
# vertical run at least 45% of the image high (the plot frame's sides), Ni the number of
# pixels within 10 per channel of the i-th colour of the list $2.
pixel_stats() {
    pngtopam "$1" 2>/dev/null | pnmtoplainpnm 2>/dev/null | awk -v colours="$2" '
    function hex2(s) { return (index("0123456789abcdef", substr(s, 1, 1)) - 1) * 16 + index("0123456789abcdef", substr(s, 2, 1)) - 1 }
    BEGIN {
        nc = colours == "" ? 0 : split(colours, hx, ",")
        for (i = 1; i <= nc; i++) { cr[i] = hex2(substr(hx[i], 1, 2)); cg[i] = hex2(substr(hx[i], 3, 2)); cb[i] = hex2(substr(hx[i], 5, 2)); cnt[i] = 0 }
        hdr = 0; k = 0; x = 0; ink = 0
    }
    /^#/ { next }
    {
        for (f = 1; f <= NF; f++) {
            if (hdr < 4) {
                if (hdr == 0) ch = ($f == "P3") ? 3 : 1
                else if (hdr == 1) W = $f + 0
                else if (hdr == 2) H = $f + 0
                else scale = 255 / ($f + 0)
                hdr++
                continue
            }
            s[k++] = $f * scale
            if (k < ch) continue
            k = 0
            r = s[0]; g = ch == 3 ? s[1] : r; b = ch == 3 ? s[2] : r
            sum = r + g + b
            if (sum < 720) ink++
            if (sum < 450) { if (++run[x] > best[x]) best[x] = run[x] } else run[x] = 0
            for (i = 1; i <= nc; i++)
                if (r - cr[i] <= 10 && cr[i] - r <= 10 && g - cg[i] <= 10 && cg[i] - g <= 10 && b - cb[i] <= 10 && cb[i] - b <= 10) cnt[i]++
            if (++x == W) x = 0
        }
    }
    END {
        if (hdr < 4 || W == 0 || H == 0) { print "0 0 0 -1 -1"; exit }
        left = -1; right = -1
        for (c = 0; c < W; c++) if (best[c] >= 0.45 * H) { if (left < 0) left = c; right = c }
        line = W " " H " " ink / (W * H) " " left " " right
        for (i = 1; i <= nc; i++) line = line " " cnt[i]
        print line
    }'
}

# Checks one PNG ($1, described as $2) of figure $3.
check_png() {
    png=$1 what=$2 fig=$3 cols=$(colours_of "$3")
    set -- $(pixel_stats "$png" "$cols")
    if [ $# -lt 5 ] || [ "$1" = 0 ]; then fail "$what: cannot decode $png"; return; fi
    w=$1 h=$2 inkf=$3 left=$4 right=$5
    shift 5
    [ -n "${FIGURES_VERBOSE:-}" ] && echo "  $what: ${w}x$h, inked $inkf, frame columns $left..$right, colour counts $*"
    awk -v f="$inkf" 'BEGIN { exit !(f >= 0.01 && f <= 0.6) }' || fail "$what: ${inkf} of the pixels are inked (blank or flooded image?)"
    if [ "$fig" = scan_heatmap ] && [ "${what#gnuplot}" = "$what" ]; then
        : # our heatmap's cells fill its plot area: no dark frame line to find
    elif [ "$left" -lt 0 ]; then
        fail "$what: no plot frame found (no dark vertical line 45% of the image high)"
    else
        awk -v a="$left" -v b="$right" -v w="$w" 'BEGIN { exit !((b - a) >= 0.55 * w) }' ||
            fail "$what: the plot frame spans columns $left..$right of $w (under 55%: squeezed)"
    fi
    i=0
    for c in $(echo "$cols" | tr ',' ' '); do
        i=$((i + 1))
        n=$(echo "$@" | cut -d' ' -f$i)
        [ "${n:-0}" -ge 20 ] || fail "$what: ${n:-0} pixels of colour #$c (expected at least 20)"
    done
    checked=$((checked + 1))
}

if [ -n "${FIGURES_FROM:-}" ]; then
    cp -R "$FIGURES_FROM" "$out" && rc=0 || rc=$?
    echo "all: copied from $FIGURES_FROM" >"$tmp/all.log"
else
    $RUN "$BIN" all --n-prompts 60 --out "$out" >"$tmp/all.log" 2>&1
    rc=$?
fi
# A verdict exit status is not this test's concern; the figures must be there.
for s in fig1 fig2 fig3a fig3b fig4a fig4b fig5; do
    [ -s "$out/$s.gp" ] && [ -s "$out/$s.svg" ] || fail "cleanup all (exit $rc) did not write $s.gp and $s.svg"
done
[ $fails -eq 0 ] || { tail -5 "$tmp/all.log"; exit 1; }
stems=$(cd "$out" && ls *.gp | sed 's/\.gp$//')

pixels=1
if ! have pngtopam || ! have pnmtoplainpnm; then
    skip "netpbm (pngtopam, pnmtoplainpnm) not installed - no pixel checks (apt-get install netpbm)"
    pixels=0
fi
checked=0

# 1-2: gnuplot in both modes
if have gnuplot; then
    for s in $stems; do
        (cd "$out" && gnuplot "$s.gp" >"$tmp/gp.err" 2>&1) || fail "gnuplot $s.gp failed: $(cat "$tmp/gp.err")"
        [ -s "$tmp/gp.err" ] && fail "gnuplot $s.gp warned: $(cat "$tmp/gp.err")"
        [ -s "$out/$s.png" ] || { fail "gnuplot $s.gp wrote no $s.png"; continue; }
        [ $pixels = 1 ] && check_png "$out/$s.png" "gnuplot $s.png" "$s"
        (cd "$out" && gnuplot -e "fmt='svg'" "$s.gp" >"$tmp/gp.err" 2>&1) || fail "gnuplot fmt=svg $s.gp failed: $(cat "$tmp/gp.err")"
        [ -s "$tmp/gp.err" ] && fail "gnuplot fmt=svg $s.gp warned: $(cat "$tmp/gp.err")"
        g=$out/$s.gnuplot.svg
        [ -s "$g" ] || { fail "gnuplot fmt=svg $s.gp wrote no $s.gnuplot.svg"; continue; }
        grep -q 'scale(0\.00)' "$g" && fail "$s.gnuplot.svg has scale(0.00) (a zero-size point; renderers refuse it)"
        if have xmllint; then xmllint --noout "$g" 2>"$tmp/xml.err" || fail "xmllint rejects $s.gnuplot.svg: $(head -3 "$tmp/xml.err")"; fi
        if have rsvg-convert; then
            if rsvg-convert -b white -o "$tmp/$s.gnuplot.png" "$g" 2>"$tmp/rsvg.err"; then
                [ $pixels = 1 ] && check_png "$tmp/$s.gnuplot.png" "gnuplot $s.gnuplot.svg rendered" "$s"
            else
                fail "rsvg-convert cannot render $s.gnuplot.svg: $(cat "$tmp/rsvg.err")"
            fi
        fi
    done
else
    skip "gnuplot not installed - .gp scripts not run (apt-get install gnuplot-nox)"
fi
have xmllint || skip "xmllint not installed - SVGs not parsed (apt-get install libxml2-utils)"

# 3: the program's own SVGs
if have rsvg-convert; then
    for s in $stems; do
        if rsvg-convert -b white -o "$tmp/$s.own.png" "$out/$s.svg" 2>"$tmp/rsvg.err"; then
            [ $pixels = 1 ] && check_png "$tmp/$s.own.png" "$s.svg rendered" "$s"
        else
            fail "rsvg-convert cannot render $s.svg: $(cat "$tmp/rsvg.err")"
        fi
    done
else
    skip "rsvg-convert not installed - SVGs not rendered (apt-get install librsvg2-bin)"
fi

echo "  $checked images checked pixel by pixel"
if [ $fails -ne 0 ]; then
    echo "  test_figures.sh: $fails failure(s)"
    exit 1
fi
if [ -n "$skipped" ]; then
    echo "  test_figures.sh: the checks that ran passed, but parts were skipped$skipped"
    exit 77
fi
echo "  test_figures.sh: all checks passed"
exit 0

#!/bin/sh
# Timing two builds on a shared host: runs A and B one after the other, PAIRS times,
# and prints each pair's wall times, then the mean of (A - B) and its standard error.
# Hosts like the ones BENCHMARKS.md was measured on change speed by 10-20% within minutes,
# so a difference between builds means something only from alternated runs like these
# (BENCHMARKS.md: "Every timing below is alternated runs"). The order alternates too,
# A B, B A, A B, ... (ABBA): a drift within a pair or a penalty for running second falls
# on A and B alike over an even number of pairs (session 16, paper scale, the order fixed:
# B ran second and came out 5.7 s slower in 4 pairs of 4, then, swapped, 3.1 s faster in
# 2 of 2: most of both was the second run's place, not the build).
#
#   sh tools/alternate.sh A B [PAIRS] -- ARGS...
#
# A and B are cleanup binaries (copy ./cleanup aside after each build); ARGS are the
# arguments of both runs except --out (each run writes to a fresh scratch directory,
# removed afterwards), for example
#   sh tools/alternate.sh /tmp/cleanup.old ./cleanup 4 -- all --model DIR
# Output: one line a pair ("pair 1: A 69.48 s, B 65.76 s, A - B 3.72 s": A's and B's
# times whichever ran first; even pairs run B first), then
# "A - B: mean 3.03 s, SE 1.11 s over 8 pairs" (the SE of the mean of the differences).
# Needs GNU date (`date +%s.%N`) for sub-second times.
set -eu
if [ $# -lt 3 ]; then
    echo "usage: sh tools/alternate.sh A B [PAIRS] -- ARGS..." >&2
    exit 2
fi
a=$1
b=$2
shift 2
pairs=4
if [ "$1" != "--" ]; then
    pairs=$1
    shift
fi
if [ "${1:-}" != "--" ]; then
    echo "alternate.sh: expected -- before the runs' arguments" >&2
    exit 2
fi
shift
for bin in "$a" "$b"; do
    if [ ! -x "$bin" ]; then
        echo "alternate.sh: $bin: not an executable" >&2
        exit 2
    fi
done
case $pairs in
'' | *[!0-9]* | 0 | 0*)
    echo "alternate.sh: PAIRS must be a positive number, not '$pairs'" >&2
    exit 2
    ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Wall seconds of one run of $1 with the arguments after it (its output to $tmp/out).
wall() {
    bin=$1
    shift
    rm -rf "$tmp/out"
    t0=$(date +%s.%N)
    if ! "$bin" "$@" --out "$tmp/out" > "$tmp/stdout" 2> "$tmp/stderr"; then
        echo "alternate.sh: $bin $* failed:" >&2
        tail -3 "$tmp/stderr" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}'
}

i=1
: > "$tmp/diffs"
while [ "$i" -le "$pairs" ]; do
    if [ $((i % 2)) -eq 1 ]; then
        ta=$(wall "$a" "$@")
        tb=$(wall "$b" "$@")
    else
        tb=$(wall "$b" "$@")
        ta=$(wall "$a" "$@")
    fi
    echo "$ta $tb" | awk -v i="$i" '{printf "pair %d: A %.2f s, B %.2f s, A - B %.2f s\n", i, $1, $2, $1 - $2}'
    echo "$ta $tb" | awk '{print $1 - $2}' >> "$tmp/diffs"
    i=$((i + 1))
done
awk '{n++; s += $1; q += $1 * $1} END {
    m = s / n
    if (n > 1) { v = (q - n * m * m) / (n - 1); if (v < 0) v = 0; printf "A - B: mean %.2f s, SE %.2f s over %d pairs\n", m, sqrt(v / n), n }
    else printf "A - B: %.2f s (one pair: no SE)\n", m
}' "$tmp/diffs"

#!/bin/sh
# test_cross.sh - the program on other architectures: cross-builds it with
# Debian's cross compilers (static, so no target libraries are needed at run
# time) into build-ARCH/, and runs it under qemu-user-static without binfmt
# (every program goes through $RUN, see tests/run.sh):
#   1. build: `make programs` with CC="TRIPLET-gcc -static" (compiler warnings counted);
#   2. all:   planted `cleanup all` compared byte for byte, every file but
#             run.txt, with the host's run of the same command on its baseline
#             kernels (CLEANUP_SIMD=baseline: on x86-64 the SSE2 copy, which
#             computes the same chains as every other target's only copy);
#   3. test:  the test suite (tests/run.sh) on the cross-built programs.
# Ends with one table line per architecture and exits non-zero if any step failed.
#
#   sh tools/test_cross.sh [--ci] ARCH...    ARCH: aarch64 armhf s390x i686 riscv64
#
# --ci: the CI selection (.ci/run): `all` on the first CROSS_PROMPTS (default 40)
# of the planted model's 300 prompts, and only the tests of CROSS_TESTS
# (formats, load, engine, bad inputs, data directories). Without it: all 300
# prompts and the whole suite (slow under emulation: see README).
# Missing cross compilers or qemu are installed with apt-get when that is
# possible (root, Debian/Ubuntu), else the script says what to install.
# OPENMP=0 builds without OpenMP (default 1: libgomp links statically).
set -u
cd "$(dirname "$0")/.." || exit 1

ci=0
if [ "${1:-}" = --ci ]; then ci=1; shift; fi
[ $# -gt 0 ] || { echo "usage: sh tools/test_cross.sh [--ci] ARCH... (aarch64 armhf s390x i686 riscv64)" >&2; exit 1; }
if [ $ci = 1 ]; then
    prompts=${CROSS_PROMPTS:-40}
    tests=${CROSS_TESTS:-test_formats test_load test_engine.sh test_bad_inputs.sh test_experiments_data}
else
    prompts=${CROSS_PROMPTS:-}
    tests=${CROSS_TESTS:-}
fi
openmp=${OPENMP:-1}

# triplet ARCH / emulator ARCH: the Debian cross compiler's prefix, qemu's name.
triplet() {
    case $1 in
        aarch64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;;
        s390x) echo s390x-linux-gnu ;; i686) echo i686-linux-gnu ;;
        riscv64) echo riscv64-linux-gnu ;; *) return 1 ;;
    esac
}
debarch() { # Debian's name for the architecture (its cross C library: libc6-dev-NAME-cross)
    case $1 in
        aarch64) echo arm64 ;; armhf) echo armhf ;; s390x) echo s390x ;; i686) echo i386 ;; riscv64) echo riscv64 ;;
    esac
}
emulator() {
    case $1 in
        aarch64) echo qemu-aarch64-static ;; armhf) echo qemu-arm-static ;;
        s390x) echo qemu-s390x-static ;; i686) echo qemu-i386-static ;;
        riscv64) echo qemu-riscv64-static ;;
    esac
}

# Tools first, all at once: one apt-get for everything that is missing.
missing=""
for a in "$@"; do
    t=$(triplet "$a") || { echo "test_cross: unknown architecture '$a' (aarch64 armhf s390x i686 riscv64)" >&2; exit 1; }
    command -v "$t-gcc" >/dev/null 2>&1 || missing="$missing gcc-$t"
    # the cross C library is only a Recommends of gcc-$t, which --no-install-recommends skips
    [ -f "/usr/$t/include/stdio.h" ] || missing="$missing libc6-dev-$(debarch "$a")-cross"
    command -v "$(emulator "$a")" >/dev/null 2>&1 || case $missing in *qemu-user-static*) ;; *) missing="$missing qemu-user-static" ;; esac
done
if [ -n "$missing" ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "test_cross: installing$missing"
        # shellcheck disable=SC2086
        { apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 ||
          { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $missing >/dev/null; }; } || {
            echo "test_cross: apt-get install$missing failed" >&2; exit 2; }
    else
        echo "test_cross: missing$missing; install them (Debian/Ubuntu, as root: apt-get install$missing)" >&2
        exit 2
    fi
fi

now() { date +%s; }

# One version string for every build of this run (report.md names the commit and whether
# the tree was modified, which can change while a long cross run goes on).
VERSION_COMMIT=${VERSION_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null)$(git rev-parse --git-dir >/dev/null 2>&1 &&
    ! git diff --quiet HEAD 2>/dev/null && echo ", modified")}
export VERSION_COMMIT

# The reference: the host's own build, baseline kernels.
echo "test_cross: host build and reference run (CLEANUP_SIMD=baseline)"
make -j2 >/dev/null || { echo "test_cross: the host build failed" >&2; exit 1; }
ref=build-cross-ref/planted${prompts:+-$prompts}
rm -rf "$ref"
mkdir -p build-cross-ref
CLEANUP_SIMD=baseline ./cleanup all ${prompts:+--n-prompts $prompts} --out "$ref" >build-cross-ref/all.log 2>&1 ||
    [ -f "$ref/results.tsv" ] || { echo "test_cross: reference run failed:"; cat build-cross-ref/all.log; exit 1; }

status=0
summary=""
for a in "$@"; do
    t=$(triplet "$a"); run=$(emulator "$a"); build=build-$a
    echo "== $a ($t, $run)"
    t0=$(now)
    mkdir -p "$build"
    if make -j2 BUILD="$build" CC="$t-gcc -static" OPENMP="$openmp" programs >"$build/build.log" 2>&1; then
        # The only link warning expected: static glibc's dlopen, pulled in by libgomp.
        nw=$(grep 'warning:' "$build/build.log" | grep -vc "Using 'dlopen' in statically linked")
        if [ "$nw" -eq 0 ]; then b="clean"; else b="$nw warnings"; fi
    else
        b="FAILS"; nw=0
        grep -E 'error|warning' "$build/build.log" | head -n 10
    fi
    t1=$(now)
    echo "build: $b ($((t1 - t0)) s, log $build/build.log)"
    if [ "$b" = FAILS ]; then
        status=1; summary="$summary| $a | fails | - | - |
"; continue
    fi
    [ "$nw" -eq 0 ] || status=1

    out=$build/planted${prompts:+-$prompts}
    rm -rf "$out"
    $run "$build/cleanup" all ${prompts:+--n-prompts $prompts} --out "$out" >"$build/all.log" 2>&1
    n=0; same=0; diff=""
    for f in $(ls "$ref" | grep -v '^run.txt$'); do
        n=$((n + 1))
        if cmp -s "$ref/$f" "$out/$f"; then same=$((same + 1)); else diff="$diff $f"; fi
    done
    for f in $(ls "$out" 2>/dev/null | grep -v '^run.txt$'); do
        [ -e "$ref/$f" ] || diff="$diff $f(new)"
    done
    t2=$(now)
    if [ -z "$diff" ]; then
        c="identical ($same/$n files)"
    else
        c="DIFFERS:$diff"; status=1; tail -n 5 "$build/all.log"
    fi
    echo "all${prompts:+ --n-prompts $prompts}: $c ($((t2 - t1)) s)"

    RUN=$run CLEANUP=$build/cleanup TESTS=$tests sh tests/run.sh "$build" >"$build/test.log" 2>&1
    rc=$?
    line=$(tail -n 1 "$build/test.log")
    t3=$(now)
    [ $rc -eq 0 ] || { status=1; grep -E '^(FAIL|failed:)' "$build/test.log" | head -n 20; }
    echo "tests${tests:+ ($tests)}: $line ($((t3 - t2)) s, log $build/test.log)"
    summary="$summary| $a | $b ($((t1 - t0)) s) | $c ($((t2 - t1)) s) | $line ($((t3 - t2)) s) |
"
done
echo
echo "| target | build | all${prompts:+ --n-prompts $prompts} vs host baseline | tests |"
echo "| --- | --- | --- | --- |"
printf '%s' "$summary"
exit $status

#!/bin/sh
# Runs every test program (build/test_*) and shell test (tests/test_*.sh).
# Exit status 0 = pass, 77 = skipped (reason printed), anything else = fail.
# Ends with the line "N passed, N failed, N skipped".
BUILD=${1:-build}
# Shell tests run the binary named by $CLEANUP (make test-sanitize: build-san/cleanup).
# Every program (test programs and $CLEANUP) runs through $RUN: empty, or an
# emulator such as qemu-s390x-static for a cross-built suite (make test-cross).
# TESTS (optional) names the tests to run, e.g. "test_formats test_engine.sh".
CLEANUP=${CLEANUP:-./cleanup}
export BUILD CLEANUP RUN
cd "$(dirname "$0")/.." || exit 1
passed=0; failed=0; skipped=0; failures=""
for t in "$BUILD"/test_* tests/test_*.sh; do
    [ -e "$t" ] || continue
    case "$t" in *.sh) cmd="sh $t" ;; *.d|*.o) continue ;; *) cmd="$RUN $t" ;; esac
    name=$(basename "$t")
    if [ -n "${TESTS:-}" ]; then
        case " $TESTS " in *" $name "*) ;; *) continue ;; esac
    fi
    echo "== $name"
    $cmd
    rc=$?
    if [ $rc -eq 0 ]; then passed=$((passed+1)); echo "PASS $name"
    elif [ $rc -eq 77 ]; then skipped=$((skipped+1)); echo "SKIP $name"
    else failed=$((failed+1)); failures="$failures $name"; echo "FAIL $name (exit $rc)"
    fi
done
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]

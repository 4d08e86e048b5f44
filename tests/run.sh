#!/bin/sh
# Runs every test program (build/test_*) and shell test (tests/test_*.sh).
# Exit status 0 = pass, 77 = skipped (reason printed), anything else = fail.
# Ends with the line "N passed, N failed, N skipped".
BUILD=${1:-build}
# Shell tests run the binary named by $CLEANUP (make test-sanitize: build-san/cleanup).
CLEANUP=${CLEANUP:-./cleanup}
export CLEANUP
cd "$(dirname "$0")/.." || exit 1
passed=0; failed=0; skipped=0; failures=""
for t in "$BUILD"/test_* tests/test_*.sh; do
    [ -e "$t" ] || continue
    case "$t" in *.sh) cmd="sh $t" ;; *.d|*.o) continue ;; *) cmd="$t" ;; esac
    name=$(basename "$t")
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

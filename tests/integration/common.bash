# common.bash: helpers for the integration tests (sourced, not a test).
# The tests run real cflink binaries and plugins from the build tree
# ($CF_BUILD_DIR, set by ctest) and check exact outputs.
set -euo pipefail

: "${CF_BUILD_DIR:?CF_BUILD_DIR is not set (run through ctest)}"
: "${CF_SOURCE_DIR:?CF_SOURCE_DIR is not set (run through ctest)}"
CFLINK="$CF_BUILD_DIR/bin/cflink"
PLUGINS="$CF_BUILD_DIR/tests/plugins"
EXAMPLES="$CF_BUILD_DIR/examples"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cflink-it.XXXXXX")
export CFLINK_CONF_DIR="$CF_BUILD_DIR/conf"
trap 'rm -rf "$WORK"' EXIT

FAILURES=0
CHECKS=0

fail() {
    echo "FAIL: $*" >&2
    FAILURES=$((FAILURES + 1))
}

ok() {
    CHECKS=$((CHECKS + 1))
    echo "ok: $*"
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
    if [ "$2" == "$3" ]; then
        ok "$1"
    else
        fail "$1: expected [$2], got [$3]"
    fi
}

# expect_contains NAME FILE TEXT
expect_contains() {
    if grep -qF -- "$3" "$2"; then
        ok "$1"
    else
        fail "$1: '$3' not found in:"
        sed 's/^/    /' "$2" >&2 | head -20
    fi
}

# run_cf OUT ERR TIMEOUT ARGS...: run cflink, capture output and exit code
# (in RC); a run that exceeds TIMEOUT seconds counts as a hang.
run_cf() {
    local out=$1 err=$2 to=$3
    shift 3
    set +e
    timeout -k 5 "$to" "$CFLINK" "$@" >"$out" 2>"$err"
    RC=$?
    set -e
    if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        fail "cflink $* hung (timeout ${to}s)"
    fi
}

# Strip the "N> " prefix of the print sink.
strip_prefix() {
    sed -E 's/^[0-9]+> //'
}

# The lines a job printed (between the submission line and the end).
job_output() {
    grep -vE '^(Job has been submitted|Program execution finished|Job with JobID|Job Runtime)' "$1" || true
}

finish() {
    echo "$CHECKS checks, $FAILURES failures"
    [ "$FAILURES" -eq 0 ]
}

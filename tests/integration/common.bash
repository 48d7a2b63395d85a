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

# The tests call python3 often (JSON checks, fake peers). Where python3
# on PATH is a version manager's shim (pyenv's costs 0.1 s per call, a
# second on a loaded machine), the Debian interpreter setup.sh installs
# is used directly.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
    mkdir -p "$WORK/.bin"
    ln -sf /usr/bin/python3 "$WORK/.bin/python3"
    PATH="$WORK/.bin:$PATH"
fi

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

# free_port: a TCP port nobody listens on at 127.0.0.1 right now, for a
# daemon that needs a fixed port. It is taken below the kernel's
# ephemeral range (ip_local_port_range), so that neither an outgoing
# connection nor a listener on port 0 of a test running in parallel can
# take it before the daemon binds it.
free_port() {
    local lo p i
    lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [[ "$lo" =~ ^[0-9]+$ ]] && [ "$lo" -gt 12000 ] || lo=32768
    for ((i = 0; i < 200; i++)); do
        p=$((10000 + RANDOM % (lo - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo 0
}

finish() {
    echo "$CHECKS checks, $FAILURES failures"
    [ "$FAILURES" -eq 0 ]
}

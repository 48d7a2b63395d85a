# daemons.bash: what the cluster benchmarks (scripts/bench/rest_latency.sh,
# tests/bench/bench_cluster.sh) share to run daemons: a work directory,
# stopping every daemon started (TERM, then KILL), waiting for a log line,
# and failing with the logs' tails. Sourced, not run.
#
# Before sourcing, set BENCH_NAME (prefix of messages and of the work
# directory) and KEEP (1: keep the logs). Afterwards: WORK, PIDS (append
# the pid of every daemon started), stop_all, wait_log, die_logs; the
# EXIT trap stops the daemons and removes WORK.

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cflink-$BENCH_NAME.XXXXXX")
PIDS=()

# stop_all: TERM every daemon (newest first), up to 5 s, then KILL.
stop_all() {
    local pid i n=${#PIDS[@]}
    for ((i = n - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[$i]}" 2>/dev/null || true
    done
    for ((i = 0; i < 50; i++)); do
        local alive=0
        for pid in "${PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

cleanup() {
    stop_all
    if [ "$KEEP" = 1 ]; then
        echo "$BENCH_NAME: logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_log FILE REGEX: wait up to 20 s for a line; prints it.
wait_log() {
    local i
    for ((i = 0; i < 400; i++)); do
        if [ -f "$1" ] && grep -qE -- "$2" "$1"; then
            grep -E -- "$2" "$1" | head -1
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# die_logs MESSAGE: print it and the tails of the logs, exit 1.
die_logs() {
    echo "$BENCH_NAME: $*" >&2
    for f in "$WORK"/*.log "$WORK"/*.out; do
        [ -f "$f" ] || continue
        echo "--- $f" >&2
        tail -20 "$f" >&2
    done
    exit 1
}

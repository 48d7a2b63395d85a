#!/usr/bin/env bash
# A failing user function fails the job with its message, exit code 1,
# and nothing hangs (also with an unbounded source).
source "$(dirname "$0")/common.bash"

check_failed() { # name expected-text args...
    local name=$1 text=$2
    shift 2
    run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 2 "$PLUGINS/tp_fail.so" "$@"
    expect_eq "$name: exit code" 1 "$RC"
    expect_contains "$name: banner" "$WORK/err" "The program finished with the following exception:"
    expect_contains "$name: message" "$WORK/err" "$text"
}

check_failed "map fails" "bad value 500 in subtask" --mode map
check_failed "unbounded source, map fails" "bad value 7777 in subtask" --mode map --at 7777 --unbounded
check_failed "code without message" "map function of operator 'check' failed (code -7)" --mode code
check_failed "open fails" "cannot open resource for check -> Sink: Discard" --mode open
check_failed "keyed state on a non-keyed stream" \
    "Keyed state can only be used on a 'keyed stream'" --mode unkeyed

# cf_fail() followed by CF_OK still fails the job.
run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 2 "$PLUGINS/tp_union_keyed.so" --failok
expect_eq "cf_fail then CF_OK: exit code" 1 "$RC"
expect_contains "cf_fail then CF_OK: message" "$WORK/err" "failed at 7 but returned CF_OK"
# A union of keyed streams into a non-keyed operator runs (no crash).
run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 2 "$PLUGINS/tp_union_keyed.so"
expect_eq "union of keyed streams: exit code" 0 "$RC"
expect_eq "union of keyed streams: output" "$(seq 0 19)" "$(job_output "$WORK/out" | strip_prefix | sort -n)"

# Failures while building the job: one line, exit code 1.
run_cf "$WORK/out" "$WORK/err" 30 run -t local "$PLUGINS/tp_fail.so" --mode build
expect_eq "entry fails: exit code" 1 "$RC"
expect_eq "entry fails: one line" \
    "cflink: $PLUGINS/tp_fail.so: the entry refuses to build (mode build)" "$(cat "$WORK/err")"
run_cf "$WORK/out" "$WORK/err" 30 run -t local "$PLUGINS/tp_fail.so" --mode graph
expect_eq "builder misuse: exit code" 1 "$RC"
expect_contains "builder misuse: message" "$WORK/err" "reduce() requires a keyed stream"
finish

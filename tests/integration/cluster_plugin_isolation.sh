#!/usr/bin/env bash
# Two jobs of the same plugin on one TaskManager must not share the
# plugin's global variables (Flink gives every job its own class loader;
# cflink loads a private copy of the plugin per job). tp_exactly_once
# keeps its settings (--keys, --events, ...) in globals: two jobs run at
# the same time on one TaskManager with different settings must each
# produce exactly their own sequences.
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"
source "$(dirname "$0")/checkpoint.bash"

cluster_require_bins
PLUGIN=$(ckpt_plugin tp_exactly_once)
cluster_trap

cluster_start_jm || { fail "JobManager start"; finish; exit 1; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=4
cluster_wait_tms 1 20 || { fail "TaskManager registered"; finish; exit 1; }

# Job A: 3 keys x 3000 events, slowly (still running when B starts).
ckpt_submit "$WORK/a.out" "$WORK/a.err" -p 2 "$PLUGIN" --keys 3 \
    --events 3000 --rate 2000 --out "$WORK/outA"
expect_eq "job A submitted" 0 "$RC"
JA=$JID
cluster_wait_running "$JA" 30 || fail "job A running"
# Job B: 5 keys x 700 events.
ckpt_submit "$WORK/b.out" "$WORK/b.err" -p 2 "$PLUGIN" --keys 5 \
    --events 700 --rate 2000 --out "$WORK/outB"
expect_eq "job B submitted" 0 "$RC"
JB=$JID
expect_eq "job A still running when B started" RUNNING "$(ckpt_job_state "$JA")"
expect_eq "job B result" SUCCEEDED "$(cluster_wait_job_done "$JB" 60)"
expect_eq "job A result" SUCCEEDED "$(cluster_wait_job_done "$JA" 60)"

for j in A:3:3000 B:5:700; do
    IFS=: read -r name keys events <<<"$j"
    ckpt_committed "$WORK/out$name" | grep -v ALERT >"$WORK/$name.txt" || true
    if msg=$(ckpt_check_seq "$WORK/$name.txt" "$keys" "$events"); then
        ok "job $name: its own settings: ${msg##*$'\n'}"
    else
        fail "job $name: output does not match its settings:"
        echo "$msg" | sed 's/^/    /' >&2
    fi
done
finish

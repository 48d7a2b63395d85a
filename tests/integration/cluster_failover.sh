#!/usr/bin/env bash
# TaskManager failover: a JobManager (heartbeat.interval 500 ms,
# heartbeat.timeout 3 s, fixed-delay restarts) and two TaskManagers with
# two slots each run an unbounded job at parallelism 2. kill -9 of the
# TaskManager running its tasks: the JobManager notices at once (lost
# connection) or within heartbeat.timeout, the job goes RESTARTING and
# runs again on the survivor's slots, with the failure in
# /jobs/:id/exceptions; a new TaskManager registers; a REST cancel ends
# the job CANCELED within a second with every slot free. Then the
# JobManager is restarted (SIGTERM, started again on the same ports) and
# both TaskManagers register with it again.
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_slow.so"
if [ ! -f "$PLUGIN" ]; then
    echo "SKIP: $PLUGIN is not built"
    exit 77
fi
cluster_trap

# failover_count FILE REGEX: matching lines (0 when the file is missing).
failover_count() {
    grep -cE -- "$2" "$1" 2>/dev/null || true
}

HB=(-D heartbeat.interval=500 -D heartbeat.timeout=3000)
RPC_PORT=$(free_port)
REST_FIXED=$(free_port)
JM_ARGS=("${HB[@]}" -D restart-strategy.type=fixed-delay
    -D restart-strategy.fixed-delay.attempts=3
    -D restart-strategy.fixed-delay.delay=200ms
    -D jobmanager.rpc.port="$RPC_PORT" -D rest.port="$REST_FIXED"
    -D rest.bind-port="$REST_FIXED")

cluster_start_jm "${JM_ARGS[@]}"
expect_eq "JobManager on the chosen RPC port" "$RPC_PORT" "$JM_RPC_PORT"
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2 "${HB[@]}"
cluster_start_tm b -D taskmanager.numberOfTaskSlots=2 "${HB[@]}"
if cluster_wait_tms 2 20; then ok "two TaskManagers registered"; else
    fail "two TaskManagers registered"; fi
expect_contains "registration logged" "$WORK/taskmanager-a.log" \
    "Successful registration at resource manager"
expect_contains "resource id logged" "$WORK/taskmanager-a.log" \
    "Starting TaskManager with ResourceID: 127.0.0.1:"

# An unbounded job: a fast source held back by a slow sink.
run_cf "$WORK/run.out" "$WORK/run.err" 30 run -d -m "127.0.0.1:$REST_PORT" \
    -p 2 "$PLUGIN" --records 1000000000 --every 1 --size 1024
expect_eq "detached run exit code" 0 "$RC"
JID=$(sed -nE 's/.*JobID ([0-9a-f]{32}).*/\1/p' "$WORK/run.out" | head -1)
if [ -z "$JID" ]; then
    fail "no job id in: $(cat "$WORK/run.out" "$WORK/run.err")"
    finish
    exit 1
fi
if cluster_wait_running "$JID" 20; then ok "job running"; else
    fail "job running"; fi

# The TaskManager that runs tasks (both, if spread: take a).
VICTIM=a
SURVIVOR=b
if [ "$(failover_count "$WORK/taskmanager-a.log" 'Received task')" = 0 ]; then
    VICTIM=b
    SURVIVOR=a
fi
expect_contains "plugin fetched by the TaskManager" \
    "$WORK/taskmanager-$VICTIM.log" "Downloaded plugin blob"
VICTIM_RID=$(sed -nE 's/.*Starting TaskManager with ResourceID: ([^ ]+).*/\1/p' \
    "$WORK/taskmanager-$VICTIM.log" | head -1)

t0=$(date +%s%N)
kill -9 "${TM_PIDS[$VICTIM]}"
wait "${TM_PIDS[$VICTIM]}" 2>/dev/null || true
if line=$(cluster_wait_log "$JM_LOG" \
    "TaskManager with id $VICTIM_RID (is no longer reachable|timed out)" 5); then
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ "$ms" -le 3500 ]; then ok "loss of $VICTIM noticed in ${ms} ms"; else
        fail "loss of $VICTIM noticed after ${ms} ms"; fi
else
    fail "the JobManager did not notice the loss of $VICTIM_RID"
fi
if cluster_wait_running "$JID" 20; then ok "job running again"; else
    fail "job running again"; fi
expect_eq "job state after the restart" RUNNING \
    "$(cluster_job_field "$JID" 'd["state"]')"
ts=$(cluster_job_field "$JID" 'str(d["timestamps"].get("RESTARTING", 0) > 0)')
expect_eq "the job went through RESTARTING" True "$ts"
rest_call GET "/jobs/$JID/exceptions" "$WORK/exc.json"
expect_eq "exceptions status" 200 "$HTTP_CODE"
n=$(json_py "$WORK/exc.json" 'len(d.get("exceptionHistory", {}).get("entries", []))')
if [ "${n:-0}" -ge 1 ]; then ok "exception history has $n entries"; else
    fail "no exception history entry: $(cat "$WORK/exc.json")"; fi
after=$(failover_count "$WORK/taskmanager-$SURVIVOR.log" 'Received task')
if [ "$after" -ge 3 ]; then ok "tasks redeployed on $SURVIVOR"; else
    fail "only $after tasks deployed on $SURVIVOR"; fi

# A new TaskManager joins.
cluster_start_tm c -D taskmanager.numberOfTaskSlots=2 "${HB[@]}"
if cluster_wait_tms 2 20; then ok "new TaskManager registered"; else
    fail "new TaskManager registered"; fi

# Cancel through REST: CANCELED and every slot free within a second.
rest_call PATCH "/jobs/$JID?mode=cancel" "$WORK/cancel.json"
expect_eq "cancel status" 202 "$HTTP_CODE"
t0=$(date +%s%N)
state=
for _ in $(seq 100); do
    state=$(cluster_job_field "$JID" 'd["state"]')
    [ "$state" = CANCELED ] && break
    sleep 0.02
done
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "job state after cancel" CANCELED "$state"
free=
for _ in $(seq 100); do
    rest_call GET /overview "$WORK/ov.json"
    free=$(json_py "$WORK/ov.json" 'str(d["slots-available"]) + "/" + str(d["slots-total"])')
    [ "$free" = "4/4" ] && break
    sleep 0.02
done
ms2=$((($(date +%s%N) - t0) / 1000000))
expect_eq "slots free after cancel" 4/4 "$free"
if [ "$ms" -le 1000 ] && [ "$ms2" -le 1500 ]; then
    ok "canceled in ${ms} ms, slots free in ${ms2} ms"
else
    fail "cancel took ${ms} ms, slots free after ${ms2} ms"
fi
expect_contains "tasks reported CANCELED" "$WORK/taskmanager-$SURVIVOR.log" \
    "sending final execution state CANCELED"

# JobManager restart on the same ports: the TaskManagers register again.
regs_s=$(failover_count "$WORK/taskmanager-$SURVIVOR.log" 'Successful registration')
regs_c=$(failover_count "$WORK/taskmanager-c.log" 'Successful registration')
kill -TERM "$JM_PID"
set +e
timeout 15 tail --pid="$JM_PID" -f /dev/null
set -e
if kill -0 "$JM_PID" 2>/dev/null; then fail "JobManager still running"; else
    ok "JobManager stopped"; fi
mv "$JM_LOG" "$WORK/jobmanager-1.log"
sleep 1
cluster_start_jm "${JM_ARGS[@]}"
if cluster_wait_tms 2 20; then ok "TaskManagers registered again"; else
    fail "TaskManagers registered again"; fi
expect_eq "survivor registered again" $((regs_s + 1)) \
    "$(failover_count "$WORK/taskmanager-$SURVIVOR.log" 'Successful registration')"
expect_eq "new TaskManager registered again" $((regs_c + 1)) \
    "$(failover_count "$WORK/taskmanager-c.log" 'Successful registration')"
rest_call GET /overview "$WORK/ov2.json"
expect_eq "slots after the JobManager restart" 4/4 \
    "$(json_py "$WORK/ov2.json" 'str(d["slots-available"]) + "/" + str(d["slots-total"])')"

# Graceful TaskManager shutdown: exit code 0.
kill -TERM "${TM_PIDS[c]}"
set +e
wait "${TM_PIDS[c]}"
rc=$?
set -e
expect_eq "TaskManager exit code after SIGTERM" 0 "$rc"
expect_contains "TaskManager stopped" "$WORK/taskmanager-c.log" " stopped."
if ! grep -qE 'ERROR|Assertion|AddressSanitizer|runtime error' \
    "$WORK"/taskmanager-*.log "$WORK"/taskmanager-*.out; then
    ok "no errors in the TaskManager logs"
else
    fail "errors in the TaskManager logs:"
    grep -hE 'ERROR|Assertion|AddressSanitizer|runtime error' \
        "$WORK"/taskmanager-*.log "$WORK"/taskmanager-*.out | head -10 >&2
fi
finish

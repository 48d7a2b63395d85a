#!/usr/bin/env bash
# Lifecycle races of the control plane on a real cluster (a JobManager
# with heartbeat.interval 300 ms, heartbeat.timeout 2 s,
# pekko.ask.timeout 1 s, and TaskManagers with 2 slots each):
#  1. a TaskManager paused (SIGSTOP) while a job asks for slots: its
#     RequestSlot times out, the job runs on the other TaskManager; the
#     paused one is dropped on heartbeat timeout and, continued (SIGCONT),
#     registers again: listed once, its slots free again (none leaked);
#  2. cancel while slots are pending (parallelism above the free slots):
#     CANCELED at once, the pending requests dropped (a TaskManager that
#     joins later gets no slot request of that job);
#  3. cancel right after submission (slots being offered or tasks
#     deploying), several times: every job CANCELED, no slot leaked;
#  4. duplicate registration (a TaskManager restarted with the same
#     taskmanager.resource-id): listed once;
#  5. SIGTERM of the JobManager with jobs RUNNING, waiting for slots,
#     FINISHED, FAILED and CANCELED: it exits 0 and the TaskManagers stay
#     up, free their slots and wait for a new JobManager;
#  6. SIGTERM of a TaskManager: it exits 0 and its blob cache directory
#     (cflink-tm-blobs-<id> under io.tmp.dirs, with the job's plugin) is
#     gone, io.tmp.dirs itself stays.
# No daemon may print a sanitizer report (checked by cluster_stop).
#
# Exits 77 (skipped) when the daemons or the test plugins are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
SLOW="$PLUGINS/tp_slow.so"
FAILP="$PLUGINS/tp_fail.so"
for f in "$SLOW" "$FAILP"; do
    [ -f "$f" ] || { echo "SKIP: $f is not built"; exit 77; }
done
cluster_trap

J="$WORK/r.json"
HB=(-D heartbeat.interval=300 -D heartbeat.timeout=2000)

# lc_wait_state JID STATE [TIMEOUT_S]
lc_wait_state() {
    local i st
    for ((i = 0; i < ${3:-20} * 20; i++)); do
        st=$(cluster_job_field "$1" 'd["state"]')
        [ "$st" = "$2" ] && return 0
        sleep 0.05
    done
    echo "job $1: $st, not $2" >&2
    return 1
}

# lc_slots: "free/total" from /overview.
lc_slots() {
    rest_call GET /overview "$WORK/.ov.json"
    json_py "$WORK/.ov.json" 'str(d["slots-available"]) + "/" + str(d["slots-total"])'
}

# lc_wait_slots EXPECTED [TIMEOUT_S]
lc_wait_slots() {
    local i got
    for ((i = 0; i < ${2:-10} * 10; i++)); do
        got=$(lc_slots)
        [ "$got" = "$1" ] && return 0
        sleep 0.1
    done
    echo "slots $got, expected $1" >&2
    return 1
}

# lc_submit PLUGIN P ARGS...: detached run; prints the job id.
lc_submit() {
    local plugin=$1 p=$2
    shift 2
    run_cf "$WORK/run.out" "$WORK/run.err" 30 run -d -m "127.0.0.1:$REST_PORT" \
        -p "$p" "$plugin" "$@"
    sed -nE 's/.*JobID ([0-9a-f]{32}).*/\1/p' "$WORK/run.out" | head -1
}

lc_cancel() {
    rest_call PATCH "/jobs/$1?mode=cancel" "$J"
    expect_eq "cancel $1 accepted" 202 "$HTTP_CODE"
}

cluster_start_jm "${HB[@]}" -D pekko.ask.timeout=1s \
    -D restart-strategy.type=fixed-delay \
    -D restart-strategy.fixed-delay.attempts=100 \
    -D restart-strategy.fixed-delay.delay=100ms ||
    { fail "JobManager start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2 "${HB[@]}" \
    -D taskmanager.resource-id=tm-a
cluster_wait_tms 1 20 || fail "a registered"
cluster_start_tm b -D taskmanager.numberOfTaskSlots=2 "${HB[@]}" \
    -D taskmanager.resource-id=tm-b
if cluster_wait_tms 2 20; then ok "two TaskManagers"; else fail "two TaskManagers"; fi

# ---- 1. RequestSlot timeout, heartbeat timeout, SIGSTOP/SIGCONT ---------
kill -STOP "${TM_PIDS[a]}"
J1=$(lc_submit "$SLOW" 2 --records 1000000000 --every 1 --size 64)
[ -n "$J1" ] || fail "no job id: $(cat "$WORK/run.out" "$WORK/run.err")"
if cluster_wait_log "$JM_LOG" "Slot request [0-9a-f]+ for slot [0-9]+ of TaskManager tm-a failed" 10 >/dev/null; then
    ok "RequestSlot to the paused TaskManager timed out"
else
    fail "no RequestSlot failure for tm-a"
fi
if cluster_wait_running "$J1" 20; then ok "job 1 runs on the other TaskManager"; else
    fail "job 1 running"; fi
if cluster_wait_log "$JM_LOG" "TaskManager with id tm-a timed out" 10 >/dev/null; then
    ok "paused TaskManager dropped on heartbeat timeout"
else
    fail "tm-a not dropped"
fi
kill -CONT "${TM_PIDS[a]}"
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c 'Successful registration at resource manager' \
        "$WORK/taskmanager-a.log")" -ge 2 ] && break
    sleep 0.1
done
expect_eq "tm-a registered again after SIGCONT" 2 \
    "$(grep -c 'Successful registration at resource manager' "$WORK/taskmanager-a.log")"
if cluster_wait_tms 2 10; then ok "listed once after re-registration"; else
    fail "TaskManager entries after re-registration"; fi
rest_call GET /taskmanagers "$J"
expect_eq "TaskManager ids" "tm-a,tm-b" \
    "$(json_py "$J" '",".join(sorted(t["id"] for t in d["taskmanagers"]))')"
if lc_wait_slots 2/4 10; then ok "tm-a's slots free again (none leaked)"; else
    fail "slots after SIGCONT: $(lc_slots)"; fi
expect_eq "job 1 still RUNNING" RUNNING "$(cluster_job_field "$J1" 'd["state"]')"
kill -0 "${TM_PIDS[a]}" 2>/dev/null && ok "tm-a alive" || fail "tm-a died"

# ---- 2. cancel while slots are pending ----------------------------------
J2=$(lc_submit "$SLOW" 4 --records 1000000000 --every 1 --size 64)
sleep 0.5
expect_eq "job 2 waits for slots" RUNNING "$(cluster_job_field "$J2" 'd["state"]')"
lc_cancel "$J2"
if lc_wait_state "$J2" CANCELED 2; then ok "job 2 CANCELED while waiting"; else
    fail "job 2 not CANCELED"; fi
if lc_wait_slots 2/4 5; then ok "no slot held after cancel"; else
    fail "slots after cancel of a waiting job: $(lc_slots)"; fi
# Its released slots must not be asked for again on its behalf.
after_cancel=$(sed -n "/Trying to cancel job .*($J2)/,\$p" "$JM_LOG" |
    grep -c "Requesting slot .* for job $J2" || true)
expect_eq "no slot requested for job 2 after its cancel" 0 "$after_cancel"
n_before=$(grep -c "for job $J2" "$JM_LOG" || true)
cluster_start_tm c -D taskmanager.numberOfTaskSlots=2 "${HB[@]}" \
    -D taskmanager.resource-id=tm-c
cluster_wait_tms 3 20 || fail "tm-c registered"
sleep 0.5
expect_eq "no slot request for the canceled job to a new TaskManager" \
    "$n_before" "$(grep -c "for job $J2" "$JM_LOG" || true)"
if lc_wait_slots 4/6 5; then ok "tm-c's slots free"; else
    fail "slots with tm-c: $(lc_slots)"; fi

# ---- 3. cancel right after submission, several times --------------------
for r in 1 2 3 4; do
    Jr=$(lc_submit "$SLOW" 2 --records 1000000000 --every 1 --size 64)
    [ $r -gt 2 ] && sleep 0.0$((r * 2))
    rest_call PATCH "/jobs/$Jr?mode=cancel" "$J"
    if [ "$HTTP_CODE" = 202 ] && lc_wait_state "$Jr" CANCELED 5; then
        ok "early cancel $r: CANCELED"
    else
        fail "early cancel $r: HTTP $HTTP_CODE, $(cluster_job_field "$Jr" 'd["state"]')"
    fi
done
if lc_wait_slots 4/6 5; then ok "no slot leaked by early cancels"; else
    fail "slots after early cancels: $(lc_slots)"; fi

# ---- 4. duplicate registration -----------------------------------------
kill -9 "${TM_PIDS[c]}"
wait "${TM_PIDS[c]}" 2>/dev/null || true
cluster_start_tm c2 -D taskmanager.numberOfTaskSlots=2 "${HB[@]}" \
    -D taskmanager.resource-id=tm-c
sleep 1
if cluster_wait_tms 3 10; then ok "restarted tm-c listed once"; else
    fail "entries after a restart with the same id"; fi
if lc_wait_slots 4/6 5; then ok "slots after the restart of tm-c"; else
    fail "slots after the restart of tm-c: $(lc_slots)"; fi

# ---- 5. JobManager shutdown with jobs in every state --------------------
JF=$(lc_submit "$SLOW" 1 --records 10 --every 0 --size 8)
lc_wait_state "$JF" FINISHED 20 && ok "a FINISHED job" || fail "job FINISHED"
JX=$(lc_submit "$FAILP" 1 --mode map --at 5 --n 10)
rest_call GET "/jobs/$JX" "$J"
JW=$(lc_submit "$SLOW" 8 --records 1000000000 --every 1 --size 64)
sleep 0.3
expect_eq "a job waiting for slots" RUNNING "$(cluster_job_field "$JW" 'd["state"]')"
rest_call GET /jobs/overview "$J"
echo "jobs: $(json_py "$J" '" ".join(sorted(j["state"] for j in d["jobs"]))')"
kill -TERM "$JM_PID"
rc=0
for ((i = 0; i < 100; i++)); do
    kill -0 "$JM_PID" 2>/dev/null || break
    sleep 0.1
done
wait "$JM_PID" || rc=$?
expect_eq "JobManager exit code after SIGTERM" 0 "$rc"
for t in a b c2; do
    kill -0 "${TM_PIDS[$t]}" 2>/dev/null && ok "TaskManager $t survives" ||
        fail "TaskManager $t died with the JobManager"
done
if cluster_wait_log "$WORK/taskmanager-b.log" "Free slot TaskSlot" 10 >/dev/null; then
    ok "tm-b freed its slots"
else
    fail "tm-b did not free its slots: $(tail -5 "$WORK/taskmanager-b.log")"
fi

# ---- 6. TaskManager SIGTERM: its blob cache directory goes ---------------
BLOBS="$WORK/cflink-tm-blobs-tm-b"
if ls "$BLOBS"/*.so >/dev/null 2>&1; then ok "tm-b cached the job's plugin"; else
    fail "no plugin in $BLOBS"; fi
kill -TERM "${TM_PIDS[b]}"
for ((i = 0; i < 100; i++)); do
    kill -0 "${TM_PIDS[b]}" 2>/dev/null || break
    sleep 0.1
done
rc=0
wait "${TM_PIDS[b]}" || rc=$?
expect_eq "TaskManager exit code after SIGTERM" 0 "$rc"
if [ ! -e "$BLOBS" ]; then ok "tm-b's blob cache directory removed"; else
    fail "$BLOBS left behind: $(ls -A "$BLOBS" | tr '\n' ' ')"; fi
if [ -d "$WORK" ]; then ok "io.tmp.dirs itself stays"; else
    fail "io.tmp.dirs $WORK removed"; fi
expect_contains "removal logged" "$WORK/taskmanager-b.log" \
    "Removed the blob cache directory"

if cluster_stop; then ok "no sanitizer report"; fi
finish

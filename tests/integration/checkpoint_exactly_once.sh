#!/usr/bin/env bash
# Exactly-once under TaskManager process failures (the checkpoint issue's
# acceptance test, as Flink's TaskManagerProcessFailure / process-failure
# tests): a JobManager and two TaskManagers (2 slots each) on 127.0.0.1,
# checkpoints every 200 ms into a directory of the test, fixed-delay
# restarts. The exactly-once job pair (tests/plugins/tp_exactly_once.c:
# a source numbering events per key with its positions in operator
# state, a keyed checker that alerts unless each step is +1, a
# two-phase-commit file sink of "<key> <seq>" lines) runs at -p 4 for a
# bounded number of events per key. After each completed checkpoint one
# TaskManager (alternately) is killed with kill -9 and started again, at
# least 3 times; then the job must end FINISHED with:
#   - zero alert lines;
#   - checkpoint ids that never go back (GET /jobs/:id/checkpoints polled
#     all along, the JobManager's "Completed checkpoint" and
#     "Triggering checkpoint" log lines) and restores from the latest;
#   - in the committed part files only (not in-progress or pending
#     ones), every sequence number of every key exactly once (lost
#     records, a replay that reaches the output twice or a transaction
#     committed twice all fail the count).
#
# Exits 77 (skipped) when the daemons or the plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"
source "$(dirname "$0")/checkpoint.bash"

cluster_require_bins
PLUGIN=$(ckpt_plugin tp_exactly_once)
cluster_trap

# 8 keys over 4 source instances (2 each), 10000 sequence numbers per key
# at 1000 records/s per instance: 20 s without failures.
KEYS=${CKPT_EO_KEYS:-8}
EVENTS=${CKPT_EO_EVENTS:-10000} # per key
RATE=${CKPT_EO_RATE:-1000}      # records/s per source instance
KILLS=${CKPT_EO_KILLS:-4}
CK="$WORK/checkpoints"
OUT="$WORK/out"
mkdir -p "$CK" "$OUT"

HB=(-D heartbeat.interval=500 -D heartbeat.timeout=5000)
CKPT_TM_OPTS=(-D taskmanager.numberOfTaskSlots=2 "${HB[@]}")
ckpt_start_cluster "${HB[@]}" \
    -D execution.checkpointing.interval=200ms \
    -D execution.checkpointing.dir="$CK" \
    -D restart-strategy.type=fixed-delay \
    -D restart-strategy.fixed-delay.attempts=40 \
    -D restart-strategy.fixed-delay.delay=200ms ||
    { fail "cluster start"; finish; exit 1; }
ok "JobManager and two TaskManagers with 2 slots each"

ckpt_submit "$WORK/run.out" "$WORK/run.err" -p 4 "$PLUGIN" \
    --keys "$KEYS" --events "$EVENTS" --rate "$RATE" --out "$OUT"
expect_eq "detached run exit code" 0 "$RC"
if [ -z "$JID" ]; then
    fail "no job id in: $(cat "$WORK/run.out" "$WORK/run.err")"
    finish
    exit 1
fi
if cluster_wait_running "$JID" 30; then ok "job running at -p 4"; else
    fail "job running"; fi

CKPT_SEEN="$WORK/seen-ids.txt"
: >"$CKPT_SEEN"
RESTORED="$WORK/restored-ids.txt"
: >"$RESTORED"

# The first completed checkpoint: its directory has _metadata.
if first=$(ckpt_wait_completed "$JID" 0 30); then
    ok "first checkpoint $first completed"
    # (the glob alone: a retained checkpoint may be subsumed and deleted
    # between a glob and a later stat of what it found)
    if compgen -G "$CK/$JID/chk-*/_metadata" >/dev/null; then
        ok "chk-*/_metadata under $CK/<jobid>"
    else
        fail "no chk-*/_metadata under $CK/$JID: $(ls -R "$CK" | head -20)"
    fi
else
    fail "no checkpoint completed in 30 s: $(ckpt_stats "$JID")"
    finish
    exit 1
fi

# Kill a TaskManager after each completed checkpoint, alternately.
declare -A GEN=([a]=0 [b]=0)
declare -A CUR=([a]=a [b]=b)
victim=a
last=${first:-0}
kills=0
recover_ms=()
while [ "$kills" -lt "$KILLS" ]; do
    id=$(ckpt_wait_completed "$JID" "$last" 30) || {
        fail "no checkpoint after $last (kill $kills): $(ckpt_stats "$JID")"
        break
    }
    st=$(ckpt_job_state "$JID")
    if [ "$st" != RUNNING ]; then
        echo "job is $st after checkpoint $id: stop killing"
        break
    fi
    name=${CUR[$victim]}
    t0=$(date +%s%N)
    ckpt_tm_kill "$name"
    kills=$((kills + 1))
    echo "kill $kills: TaskManager $name after checkpoint $id"
    GEN[$victim]=$((GEN[$victim] + 1))
    name="$victim${GEN[$victim]}"
    CUR[$victim]=$name
    cluster_start_tm "$name" "${CKPT_TM_OPTS[@]}"
    ckpt_wait_disturbed "$JID" 10 || fail "kill $kills: the job never left RUNNING"
    if cluster_wait_running "$JID" 40; then
        recover_ms+=($((($(date +%s%N) - t0) / 1000000)))
    else
        st=$(ckpt_job_state "$JID")
        [ "$st" = FINISHED ] || fail "job not running again after kill $kills ($st)"
    fi
    s=$(ckpt_stats "$JID")
    r=$(awk '{print $3}' <<<"$s")
    [[ "$r" =~ ^[0-9]+$ ]] && [ "$r" -ge 0 ] && echo "$r" >>"$RESTORED"
    last=$id
    if [ "$victim" = a ]; then victim=b; else victim=a; fi
done
if [ "$kills" -ge 3 ]; then ok "$kills TaskManager kills (recovered in ${recover_ms[*]} ms)"; else
    fail "only $kills TaskManager kills before the job ended (raise CKPT_EO_EVENTS)"; fi

result=$(cluster_wait_job_done "$JID" 80) || true
expect_eq "job result" SUCCEEDED "$result"
expect_eq "job state" FINISHED "$(ckpt_job_state "$JID")"
s=$(ckpt_stats "$JID")
echo "checkpoints (completed, latest, restored, failed): $s"
awk '{print $2}' <<<"$s" | grep -E '^[0-9]+$' >>"$CKPT_SEEN" || true
r=$(awk '{print $3}' <<<"$s")
[[ "$r" =~ ^[0-9]+$ ]] && echo "$r" >>"$RESTORED"

# Restarts really happened and restored state.
rest_call GET "/jobs/$JID/exceptions" "$WORK/exc.json"
n=$(json_py "$WORK/exc.json" 'len(d.get("exceptionHistory", {}).get("entries", []))' 2>/dev/null || echo 0)
if [ "${n:-0}" -ge "$kills" ] && [ "$kills" -gt 0 ]; then
    ok "$n failures in the exception history"
else
    fail "exception history has ${n:-0} entries for $kills kills"
fi
nr=$(ckpt_grep_count 'Restoring task .* from checkpoint [0-9]+' "$WORK"/taskmanager-*.log)
if [ "$nr" -ge 4 ]; then ok "$nr subtasks restored from checkpoints"; else
    fail "only $nr 'Restoring task' lines in the TaskManager logs"; fi
if [ -s "$RESTORED" ] && [ "$(sort -n "$RESTORED" | tail -1)" -gt 0 ]; then
    ok "REST latest.restored: $(sort -n "$RESTORED" | uniq | tr '\n' ' ')"
else
    fail "REST latest.restored never showed a checkpoint: $(cat "$RESTORED")"
fi

# Checkpoint ids never go back.
if msg=$(ckpt_nondecreasing "$CKPT_SEEN"); then
    ok "latest completed id never went back ($(wc -l <"$CKPT_SEEN") samples, last $(tail -1 "$CKPT_SEEN"))"
else
    fail "latest completed checkpoint id went back: $msg"
fi
if msg=$(ckpt_nondecreasing "$RESTORED"); then ok "restored ids never went back"; else
    fail "restored checkpoint id went back: $msg"; fi
grep -oE "Completed checkpoint [0-9]+ for job $JID" "$JM_LOG" |
    awk '{print $3}' >"$WORK/completed-log.txt" || true
grep -oE "Triggering checkpoint [0-9]+ " "$JM_LOG" |
    awk '{print $3}' >"$WORK/triggered-log.txt" || true
if [ -s "$WORK/completed-log.txt" ] && msg=$(ckpt_increasing "$WORK/completed-log.txt"); then
    ok "'Completed checkpoint' ids strictly increase ($(wc -l <"$WORK/completed-log.txt") lines)"
else
    fail "'Completed checkpoint' ids in the JobManager log: ${msg:-none found}"
fi
if [ -s "$WORK/triggered-log.txt" ] && msg=$(ckpt_increasing "$WORK/triggered-log.txt"); then
    ok "'Triggering checkpoint' ids strictly increase"
else
    fail "'Triggering checkpoint' ids in the JobManager log: ${msg:-none found}"
fi

# Zero alerts.
na=$( (cat "$WORK"/taskmanager-*.out 2>/dev/null; find "$OUT" -type f \
    -print0 | xargs -0 -r cat) | grep -c 'ALERT' || true)
expect_eq "alert lines" 0 "$na"

# Exactly once in the committed output.
ckpt_committed "$OUT" | grep -v 'ALERT' >"$WORK/committed.txt" || true
echo "committed part files: $(find "$OUT" -type f -name 'part-*' | wc -l)," \
    "uncommitted left (attempts killed mid-transaction): $(ckpt_uncommitted "$OUT" | wc -l)"
ckpt_uncommitted "$OUT" | head -3 | sed 's|^.*/|    |'
if msg=$(ckpt_check_seq "$WORK/committed.txt" "$KEYS" "$EVENTS"); then
    ok "every sequence number exactly once per key: ${msg##*$'\n'}"
else
    fail "committed output is not exactly-once:"
    echo "$msg" | sed 's/^/    /' >&2
fi
# The checker of the check: a committed file seen twice must fail it.
if [ -s "$WORK/committed.txt" ]; then
    head -3 "$WORK/committed.txt" | cat "$WORK/committed.txt" - >"$WORK/dup.txt"
    if ckpt_check_seq "$WORK/dup.txt" "$KEYS" "$EVENTS" >/dev/null; then
        fail "the exactly-once check accepts duplicated lines"
    else
        ok "the exactly-once check rejects duplicated lines"
    fi
fi

# The daemons survived (the restarted TaskManagers too).
alive=0
for n in "${CUR[@]}"; do kill -0 "${TM_PIDS[$n]}" 2>/dev/null && alive=$((alive + 1)); done
expect_eq "TaskManagers alive" 2 "$alive"
if kill -0 "$JM_PID" 2>/dev/null; then ok "JobManager alive"; else fail "JobManager died"; fi
finish

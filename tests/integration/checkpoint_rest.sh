#!/usr/bin/env bash
# The REST API and the CLI of checkpoints and savepoints on a real
# cluster (a JobManager and one TaskManager with 4 slots), Flink's JSON
# field by field:
#   /jobs/:id/checkpoints/config, /checkpoints (counts, summary, latest,
#   history), /checkpoints/details/:cid and .../subtasks/:vid with a job
#   checkpointing every 200 ms (retention 2);
#   POST /jobs/:id/checkpoints (FULL, INCREMENTAL refused) and its status;
#   POST /jobs/:id/savepoints (no directory: 400; a triggerId twice is one
#   savepoint; an unwritable directory: a failure-cause) and its status;
#   POST /savepoint-disposal and its status; unknown jobs and trigger ids;
#   a job without checkpointing: 404 statistics, savepoints still work;
#   the CLI: savepoint, savepoint -d, checkpoint [-full], stop -p,
#   run -s (latest.restored names the savepoint), run -s of a missing
#   path, cancel -s, savepoint of a finished job; POST /jobs/:id/stop with
#   Nexmark's string boolean.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_stateful.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
cluster_trap

J="$WORK/r.json"
HEX32='^[0-9a-f]{32}$'

jexpect() {
    local got
    got=$(json_py "$2" "$3" 2>&1) || got="ERROR: $got"
    expect_eq "$1" "$4" "$got"
}
code_expect() { expect_eq "$1 (HTTP status)" "$2" "$HTTP_CODE"; }

# post PATH OUTFILE JSON
post() { rest_call POST "$1" "$2" -H 'Content-Type: application/json' -d "$3"; }

# wait_op PATH [TIMEOUT_S]: poll an asynchronous operation's status until
# COMPLETED (body in $J); status 1 on timeout.
wait_op() {
    local i
    for ((i = 0; i < ${2:-30} * 10; i++)); do
        rest_call GET "$1" "$J"
        if [ "$HTTP_CODE" = 200 ] &&
            [ "$(json_py "$J" 'd["status"]["id"]')" = COMPLETED ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "operation $1 not completed: $(cat "$J")" >&2
    return 1
}

# completed_count JID: counts.completed of /checkpoints (-1 on error).
completed_count() {
    rest_call GET "/jobs/$1/checkpoints" "$WORK/.c.json"
    [ "$HTTP_CODE" = 200 ] || { echo -1; return 0; }
    json_py "$WORK/.c.json" 'd["counts"]["completed"]'
}

wait_completed() {
    local jid=$1 n=$2 i c
    for ((i = 0; i < 300; i++)); do
        c=$(completed_count "$jid")
        [ "$c" -ge "$n" ] && return 0
        sleep 0.1
    done
    echo "job $jid: $c completed checkpoints, wanted $n" >&2
    return 1
}

submit() { # OUT ARGS...: cflink run -d; sets JID
    local out=$1
    shift
    run_cf "$out" "$out.err" 30 run -d -m "127.0.0.1:$REST_PORT" "$@"
    JID=$(sed -nE 's/^Job has been submitted with JobID ([0-9a-f]{32})$/\1/p' "$out")
}

cli() { run_cf "$WORK/o.txt" "$WORK/e.txt" 60 "$@" -m "127.0.0.1:$REST_PORT"; }

CHK="$WORK/chk"
SP="$WORK/sp"
mkdir -p "$CHK" "$SP"
CKPT_OPTS=(-D execution.checkpointing.interval=200ms
    -D "execution.checkpointing.dir=$CHK"
    -D execution.checkpointing.num-retained=2)

cluster_start_jm || { fail "JobManager start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=4
cluster_wait_tms 1 30 || { fail "TaskManager registered"; finish; }

# ---- job A: checkpointing every 200 ms ----------------------------------
submit "$WORK/a.txt" "${CKPT_OPTS[@]}" -p 2 "$PLUGIN" --keys 8 --rate 400 --discard
A=$JID
[[ "$A" =~ $HEX32 ]] && ok "job A submitted" || { fail "job A: $(cat "$WORK/a.txt" "$WORK/a.txt.err")"; finish; }
cluster_wait_running "$A" 30 || fail "job A running"

rest_call GET "/jobs/$A/checkpoints/config" "$J"
code_expect "checkpoints/config" 200
jexpect "config fields" "$J" 'sorted(d)' \
    '["aligned_checkpoint_timeout","changelog_periodic_materialization_interval","changelog_storage","checkpoint_storage","checkpoints_after_tasks_finish","externalization","interval","max_concurrent","min_pause","mode","state_backend","state_changelog_enabled","timeout","tolerable_failed_checkpoints","unaligned_checkpoints"]'
jexpect "config values" "$J" \
    '[d["mode"], d["interval"], d["timeout"], d["min_pause"], d["max_concurrent"], d["tolerable_failed_checkpoints"], d["state_backend"], d["checkpoint_storage"], d["unaligned_checkpoints"], d["checkpoints_after_tasks_finish"]]' \
    '["exactly_once",200,600000,0,1,0,"hashmap","FileSystemCheckpointStorage",false,true]'
jexpect "config externalization" "$J" 'd["externalization"]' \
    '{"enabled":false,"delete_on_cancellation":true}'

wait_completed "$A" 3 && ok "3 periodic checkpoints completed" || fail "periodic checkpoints"
rest_call GET "/jobs/$A/checkpoints" "$J"
code_expect "checkpoints" 200
cp "$J" "$WORK/stats.json"
S="$WORK/stats.json"
jexpect "statistics fields" "$S" 'sorted(d)' '["counts","history","latest","summary"]'
jexpect "counts fields" "$S" 'sorted(d["counts"])' '["completed","failed","in_progress","restored","total"]'
jexpect "counts consistent" "$S" \
    'd["counts"]["total"] == d["counts"]["completed"] + d["counts"]["failed"] + d["counts"]["in_progress"] and d["counts"]["restored"] == 0' true
jexpect "summary fields" "$S" 'sorted(d["summary"])' \
    '["alignment_buffered","checkpointed_size","end_to_end_duration","persisted_data","processed_data","state_size"]'
jexpect "summary dto fields" "$S" 'sorted(set(tuple(sorted(v)) for v in d["summary"].values()))' \
    '[["avg","max","min","p50","p90","p95","p99","p999"]]'
jexpect "summary durations ordered" "$S" \
    '(lambda s: s["min"] <= s["avg"] <= s["max"] and s["min"] <= s["p50"] <= s["p99"] <= s["max"])(d["summary"]["end_to_end_duration"])' true
jexpect "summary sizes positive" "$S" 'd["summary"]["state_size"]["max"] > 0' true
jexpect "latest fields" "$S" 'sorted(d["latest"])' '["completed","failed","restored","savepoint"]'
jexpect "latest restored/savepoint null" "$S" '[d["latest"]["restored"], d["latest"]["savepoint"]]' '[null,null]'
jexpect "latest completed fields" "$S" 'sorted(d["latest"]["completed"])' \
    '["alignment_buffered","checkpoint_type","checkpointed_size","className","discarded","end_to_end_duration","external_path","id","is_savepoint","latest_ack_timestamp","num_acknowledged_subtasks","num_subtasks","persisted_data","processed_data","savepointFormat","state_size","status","tasks","trigger_timestamp"]'
jexpect "latest completed values" "$S" \
    '(lambda c: [c["className"], c["status"], c["is_savepoint"], c["checkpoint_type"], c["savepointFormat"], c["discarded"], c["tasks"], c["num_subtasks"] == c["num_acknowledged_subtasks"] > 0, c["latest_ack_timestamp"] >= c["trigger_timestamp"] > 1600000000000, c["end_to_end_duration"] >= 0])(d["latest"]["completed"])' \
    '["completed","COMPLETED",false,"CHECKPOINT",null,false,{},true,true,true]'
LATEST=$(json_py "$S" 'd["latest"]["completed"]["id"]')
jexpect "latest completed external_path" "$S" 'd["latest"]["completed"]["external_path"]' "$CHK/$A/chk-$LATEST"
# Checkpoints go on while this runs and only 2 are retained: by the time
# the directory is looked at, the latest one reported may have been
# subsumed. The newest checkpoint on disk with a _metadata is at least the
# latest one reported.
rest_call GET "/jobs/$A/checkpoints" "$J"
L=$(json_py "$J" 'd["latest"]["completed"]["id"]')
newest=$(compgen -G "$CHK/$A/chk-*/_metadata" | sed -E 's|.*/chk-([0-9]+)/_metadata$|\1|' | sort -n | tail -1)
if [ -n "$newest" ] && [ "$newest" -ge "$L" ] 2>/dev/null; then
    ok "latest completed _metadata exists (chk-$newest, latest reported $L)"
else
    fail "no chk-N/_metadata with N >= $L; $CHK/$A has: $(ls "$CHK/$A" | tr '\n' ' ')"
fi
jexpect "history newest first" "$S" '[h["id"] for h in d["history"]] == sorted([h["id"] for h in d["history"]], reverse=True) and len(d["history"]) >= 3' true
jexpect "history classNames" "$S" 'sorted(set(h["className"] for h in d["history"]) - {"in_progress"})' '["completed"]'
jexpect "history status by className" "$S" \
    'all({"completed": "COMPLETED", "failed": "FAILED", "in_progress": "IN_PROGRESS"}[h["className"]] == h["status"] for h in d["history"])' true
jexpect "history at most web.checkpoints.history" "$S" 'len(d["history"]) <= 10' true
jexpect "history retention (2 retained, older discarded)" "$S" \
    '[h["discarded"] for h in d["history"] if h["className"] == "completed"][:2]' '[false,false]'

# retention: at most 2 chk-* directories (+ one being written)
sleep 0.5
n=$(find "$CHK/$A" -maxdepth 1 -name 'chk-*' | wc -l)
[ "$n" -le 3 ] && ok "retention keeps few chk-* dirs ($n)" || fail "retention: $n chk-* dirs"

# ---- details --------------------------------------------------------------
# The history holds the last 10 (2 s at 200 ms): a fresh id each time.
latest_id() {
    rest_call GET "/jobs/$A/checkpoints" "$WORK/.l.json"
    json_py "$WORK/.l.json" 'd["latest"]["completed"]["id"]'
}
LATEST=$(latest_id)
rest_call GET "/jobs/$A/checkpoints/details/$LATEST" "$J"
code_expect "details" 200
rest_call GET "/jobs/$A" "$WORK/job.json"
VIDS=$(json_py "$WORK/job.json" 'sorted(v["id"] for v in d["vertices"])')
jexpect "details tasks are the job's vertices" "$J" 'sorted(d["tasks"])' "$VIDS"
jexpect "details task fields" "$J" 'sorted(set(tuple(sorted(t)) for t in d["tasks"].values()))' \
    '[["alignment_buffered","checkpointed_size","end_to_end_duration","id","latest_ack_timestamp","num_acknowledged_subtasks","num_subtasks","persisted_data","processed_data","state_size","status"]]'
jexpect "details task acks" "$J" 'all(t["num_subtasks"] == t["num_acknowledged_subtasks"] and t["status"] == "COMPLETED" and t["id"] == '"$LATEST"' for t in d["tasks"].values())' true
VID=$(json_py "$WORK/job.json" 'd["vertices"][-1]["id"]')
VPAR=$(json_py "$WORK/job.json" 'd["vertices"][-1]["parallelism"]')
LATEST=$(latest_id)
rest_call GET "/jobs/$A/checkpoints/details/$LATEST/subtasks/$VID" "$J"
code_expect "subtask details" 200
jexpect "subtask details fields" "$J" 'sorted(d)' \
    '["alignment_buffered","checkpointed_size","end_to_end_duration","id","latest_ack_timestamp","num_acknowledged_subtasks","num_subtasks","persisted_data","processed_data","state_size","status","subtasks","summary"]'
jexpect "subtask details summary" "$J" 'sorted(d["summary"])' \
    '["alignment","checkpoint_duration","checkpointed_size","end_to_end_duration","start_delay","state_size"]'
jexpect "subtask details subtasks" "$J" '[(s["index"], s["className"], s["status"]) for s in d["subtasks"]] == [(i, "completed", "completed") for i in range('"$VPAR"')]' true
jexpect "subtask details subtask fields" "$J" 'sorted(d["subtasks"][0])' \
    '["aborted","ack_timestamp","alignment","checkpoint","checkpointed_size","className","end_to_end_duration","index","start_delay","state_size","status","unaligned_checkpoint"]'
rest_call GET "/jobs/$A/checkpoints/details/999999" "$J"
code_expect "details of an unknown checkpoint" 404
jexpect "details of an unknown checkpoint message" "$J" 'd["errors"][0]' 'Could not find checkpointing statistics for checkpoint 999999.'
rest_call GET "/jobs/$A/checkpoints/details/abc" "$J"
code_expect "details of a bad checkpoint id" 400
LATEST=$(latest_id)
rest_call GET "/jobs/$A/checkpoints/details/$LATEST/subtasks/00000000000000000000000000000000" "$J"
code_expect "subtask details of an unknown vertex" 404
jexpect "subtask details of an unknown vertex message" "$J" 'd["errors"][0]' 'There is no checkpoint statistics for task 00000000000000000000000000000000.'
rest_call GET "/v1/jobs/$A/checkpoints" "$J"
code_expect "/v1/jobs/:jobid/checkpoints" 200

# ---- manual checkpoints ----------------------------------------------------
post "/jobs/$A/checkpoints" "$J" '{"checkpointType":"FULL"}'
code_expect "POST checkpoints" 202
jexpect "POST checkpoints fields" "$J" 'sorted(d)' '["request-id"]'
T=$(json_py "$J" 'd["request-id"]')
[[ "$T" =~ $HEX32 ]] && ok "checkpoint trigger id" || fail "checkpoint trigger id: $T"
wait_op "/jobs/$A/checkpoints/$T" && ok "manual checkpoint completed" || fail "manual checkpoint"
jexpect "manual checkpoint result" "$J" '[sorted(d), sorted(d["operation"]), isinstance(d["operation"]["checkpointId"], int) and d["operation"]["checkpointId"] > 0]' \
    '[["operation","status"],["checkpointId"],true]'
post "/jobs/$A/checkpoints" "$J" '{"checkpointType":"INCREMENTAL"}'
code_expect "INCREMENTAL checkpoint refused" 400
post "/jobs/$A/checkpoints" "$J" '{"checkpointType":"SOMETIMES"}'
code_expect "bad checkpointType" 400
jexpect "bad checkpointType message" "$J" 'd["errors"][0]' 'Request did not match expected format CheckpointTriggerRequestBody.'
rest_call GET "/jobs/$A/checkpoints/0123456789abcdef0123456789abcdef" "$J"
code_expect "unknown checkpoint trigger" 404
jexpect "unknown checkpoint trigger message" "$J" 'd["errors"][0]' \
    "There is no checkpoint operation with triggerId=0123456789abcdef0123456789abcdef for job $A."

# ---- savepoints over REST -------------------------------------------------
post "/jobs/$A/savepoints" "$J" '{}'
code_expect "savepoint without a directory" 400
jexpect "savepoint without a directory message" "$J" 'd["errors"][0]' \
    'Config key [execution.checkpointing.savepoint-dir] is not set. Property [target-directory] must be provided.'
post "/jobs/$A/savepoints" "$J" '{"cancel-job":"maybe"}'
code_expect "savepoint with a bad body" 400
jexpect "savepoint with a bad body message" "$J" 'd["errors"][0]' 'Request did not match expected format SavepointTriggerRequestBody.'
TID=aaaabbbbccccddddeeeeffff00001111
post "/jobs/$A/savepoints" "$J" "{\"target-directory\":\"$SP\",\"cancel-job\":false,\"formatType\":\"CANONICAL\",\"triggerId\":\"$TID\"}"
code_expect "POST savepoints" 202
jexpect "POST savepoints request-id is the triggerId" "$J" 'd["request-id"]' "$TID"
post "/jobs/$A/savepoints" "$J" "{\"target-directory\":\"$SP\",\"triggerId\":\"$TID\"}"
code_expect "POST savepoints again with the triggerId" 202
wait_op "/jobs/$A/savepoints/$TID" && ok "savepoint completed" || fail "savepoint"
jexpect "savepoint result" "$J" '[sorted(d), sorted(d["operation"])]' '[["operation","status"],["location"]]'
LOC=$(json_py "$J" 'd["operation"]["location"]')
[[ "$LOC" =~ ^$SP/savepoint-${A:0:6}-[0-9a-f]{12}$ ]] && ok "savepoint location $LOC" || fail "savepoint location: $LOC"
[ -f "$LOC/_metadata" ] && ok "savepoint _metadata" || fail "savepoint _metadata missing"
n=$(find "$SP" -maxdepth 1 -name 'savepoint-*' | wc -l)
expect_eq "one savepoint for one triggerId" 1 "$n"
rest_call GET "/jobs/$A/checkpoints" "$J"
jexpect "latest savepoint" "$J" \
    '(lambda s: [s["is_savepoint"], s["checkpoint_type"], s["savepointFormat"], s["external_path"], s["className"]])(d["latest"]["savepoint"])' \
    "[true,\"SAVEPOINT\",\"CANONICAL\",\"$LOC\",\"completed\"]"
post "/jobs/$A/savepoints" "$J" '{"target-directory":"/proc/cflink-no-such-dir"}'
code_expect "savepoint to an unwritable directory" 202
T=$(json_py "$J" 'd["request-id"]')
wait_op "/jobs/$A/savepoints/$T" && ok "failed savepoint completed" || fail "failed savepoint"
jexpect "failure-cause fields" "$J" 'sorted(d["operation"]["failure-cause"])' '["class","serialized-throwable","stack-trace"]'
jexpect "failure-cause names the directory" "$J" '"/proc/cflink-no-such-dir" in d["operation"]["failure-cause"]["stack-trace"]' true
jexpect "failure-cause stack-trace starts with the class" "$J" \
    'd["operation"]["failure-cause"]["stack-trace"].startswith(d["operation"]["failure-cause"]["class"] + ": ")' true
expect_eq "job A still running after the failed savepoint" RUNNING "$(cluster_job_field "$A" 'd["state"]')"
rest_call GET "/jobs/$A/savepoints/0123456789abcdef0123456789abcdef" "$J"
code_expect "unknown savepoint trigger" 404
jexpect "unknown savepoint trigger message" "$J" 'd["errors"][0]' \
    "There is no savepoint operation with triggerId=0123456789abcdef0123456789abcdef for job $A."
rest_call GET "/jobs/$A/savepoints/xyz" "$J"
code_expect "bad trigger id" 400
post "/jobs/ffffffffffffffffffffffffffffffff/savepoints" "$J" "{\"target-directory\":\"$SP\"}"
code_expect "savepoint of an unknown job" 404
jexpect "savepoint of an unknown job message" "$J" 'd["errors"][0]' 'Job ffffffffffffffffffffffffffffffff not found'

# ---- disposal over REST ---------------------------------------------------
post /savepoint-disposal "$J" "{\"savepoint-path\":\"$LOC\"}"
code_expect "POST savepoint-disposal" 200
T=$(json_py "$J" 'd["request-id"]')
wait_op "/savepoint-disposal/$T" && ok "disposal completed" || fail "disposal"
jexpect "disposal result" "$J" 'd' '{"status":{"id":"COMPLETED"},"operation":{}}'
[ ! -e "$LOC" ] && ok "disposed savepoint removed" || fail "disposed savepoint still there"
post /savepoint-disposal "$J" "{\"savepoint-path\":\"$WORK/none\"}"
T=$(json_py "$J" 'd["request-id"]')
wait_op "/savepoint-disposal/$T" && ok "failed disposal completed" || fail "failed disposal"
jexpect "failed disposal names the path" "$J" '"'"$WORK/none"'" in d["operation"]["failure-cause"]["stack-trace"]' true
post /savepoint-disposal "$J" '{}'
code_expect "disposal without a path" 400
rest_call GET /savepoint-disposal/0123456789abcdef0123456789abcdef "$J"
code_expect "unknown disposal trigger" 404

# ---- the CLI on job A -----------------------------------------------------
cli savepoint "$A" "$SP"
expect_eq "cflink savepoint exit" 0 "$RC"
P=$(sed -nE 's/^Savepoint completed\. Path: (.*)$/\1/p' "$WORK/o.txt")
expect_eq "cflink savepoint output" \
    "Triggering savepoint for job $A.|Waiting for response...|Savepoint completed. Path: $P|You can resume your program from this savepoint with the run command." \
    "$(paste -sd'|' "$WORK/o.txt")"
[ -f "$P/_metadata" ] && ok "CLI savepoint _metadata" || fail "CLI savepoint: $(cat "$WORK/o.txt" "$WORK/e.txt")"
cli savepoint -d "$P"
expect_eq "cflink savepoint -d" "0|Disposing savepoint '$P'.|Waiting for response...|Savepoint '$P' disposed." \
    "$RC|$(paste -sd'|' "$WORK/o.txt")"
[ ! -e "$P" ] && ok "CLI disposal removed the savepoint" || fail "CLI disposal left $P"
cli savepoint -d "$P"
expect_eq "cflink savepoint -d again fails" 1 "$RC"
expect_contains "disposal failure banner" "$WORK/e.txt" "org.apache.flink.util.FlinkException: Failed to dispose the savepoint '$P'."
cli checkpoint "$A"
expect_eq "cflink checkpoint exit" 0 "$RC"
grep -qE "^Checkpoint [0-9]+ for job $A completed\.$" "$WORK/o.txt" && ok "cflink checkpoint output" || fail "cflink checkpoint: $(cat "$WORK/o.txt" "$WORK/e.txt")"
cli checkpoint -full "$A"
grep -qE "^Checkpoint\(FULL\) [0-9]+ for job $A completed\.$" "$WORK/o.txt" && ok "cflink checkpoint -full output" || fail "cflink checkpoint -full: $(cat "$WORK/o.txt" "$WORK/e.txt")"
cli savepoint
expect_eq "cflink savepoint without a job" "1|Missing JobID. Specify a Job ID to trigger a savepoint." "$RC|$(head -1 "$WORK/e.txt")"
cli checkpoint
expect_eq "cflink checkpoint without a job" "1|Missing JobID. Specify a Job ID to manipulate a checkpoint." "$RC|$(head -1 "$WORK/e.txt")"
cli savepoint "$A"
expect_eq "cflink savepoint without a directory" 1 "$RC"
expect_contains "no directory banner" "$WORK/e.txt" "Config key [execution.checkpointing.savepoint-dir] is not set."
run_cf "$WORK/o.txt" "$WORK/e.txt" 10 savepoint -h
expect_contains "savepoint -h" "$WORK/o.txt" "-d,--dispose <arg>"

# ---- stop with a savepoint, then run -s -----------------------------------
cli stop -p "$SP" "$A"
expect_eq "cflink stop exit" 0 "$RC"
P=$(sed -nE 's/^Savepoint completed\. Path: (.*)$/\1/p' "$WORK/o.txt")
expect_eq "cflink stop output" \
    "Suspending job \"$A\" with a CANONICAL savepoint.|Triggering stop-with-savepoint for job $A.|Waiting for response...|Savepoint completed. Path: $P" \
    "$(paste -sd'|' "$WORK/o.txt")"
[ -f "$P/_metadata" ] && ok "stop savepoint _metadata" || fail "stop savepoint missing"
st=$(cluster_wait_job_done "$A" 30)
expect_eq "job A ends FINISHED after stop" SUCCEEDED "$st"
rest_call GET "/jobs/$A/checkpoints" "$J"
jexpect "stop savepoint is SYNC_SAVEPOINT" "$J" '(lambda s: [s["checkpoint_type"], s["external_path"]])(d["latest"]["savepoint"])' "[\"SYNC_SAVEPOINT\",\"$P\"]"
cli savepoint "$A" "$SP"
expect_eq "savepoint of a finished job fails" 1 "$RC"
expect_contains "finished job banner" "$WORK/e.txt" "Failed to trigger a savepoint for the job $A."
expect_contains "finished job cause" "$WORK/e.txt" "FlinkJobNotFoundException: Could not find Flink job ($A)"

submit "$WORK/b.txt" -s "$P" "${CKPT_OPTS[@]}" -p 1 "$PLUGIN" --keys 8 --rate 400 --discard
R=$JID
[[ "$R" =~ $HEX32 ]] && ok "run -s submitted" || fail "run -s: $(cat "$WORK/b.txt" "$WORK/b.txt.err")"
cluster_wait_running "$R" 30 || fail "restored job running"
rest_call GET "/jobs/$R/checkpoints" "$J"
jexpect "restored from the savepoint" "$J" \
    '(lambda r: [r["is_savepoint"], r["external_path"], isinstance(r["id"], int), r["restore_timestamp"] > 0])(d["latest"]["restored"])' \
    "[true,\"$P\",true,true]"
jexpect "counts.restored" "$J" 'd["counts"]["restored"]' 1
run_cf "$WORK/o.txt" "$WORK/e.txt" 30 run -d -m "127.0.0.1:$REST_PORT" -s "$WORK/no-such-savepoint" "$PLUGIN" --discard
expect_eq "run -s of a missing path fails" 1 "$RC"
expect_contains "run -s names the path" "$WORK/e.txt" "$WORK/no-such-savepoint"

# Nexmark's stop: formatType NATIVE, drain as a string
post "/jobs/$R/stop" "$J" "{\"formatType\":\"NATIVE\",\"drain\":\"true\",\"targetDirectory\":\"$SP\"}"
code_expect "POST stop (Nexmark)" 202
T=$(json_py "$J" 'd["request-id"]')
wait_op "/jobs/$R/savepoints/$T" 60 && ok "stop --drain completed" || fail "stop --drain"
jexpect "stop --drain location" "$J" 'd["operation"]["location"].startswith("'"$SP"'/savepoint-")' true
expect_eq "restored job ends FINISHED after the drain" SUCCEEDED "$(cluster_wait_job_done "$R" 30)"
post "/jobs/$R/stop" "$J" '{"drain":true}'
code_expect "stop without a directory" 400
jexpect "stop without a directory message" "$J" 'd["errors"][0]' \
    'Config key [execution.checkpointing.savepoint-dir] is not set. Property [targetDirectory] must be provided.'

# ---- job B: no checkpointing; savepoints still work; cancel -s -----------
submit "$WORK/c.txt" -p 1 "$PLUGIN" --keys 4 --rate 200 --discard
B=$JID
cluster_wait_running "$B" 30 || fail "job B running"
rest_call GET "/jobs/$B/checkpoints" "$J"
code_expect "statistics without checkpointing" 404
jexpect "statistics without checkpointing message" "$J" 'd["errors"][0]' 'Checkpointing has not been enabled.'
rest_call GET "/jobs/$B/checkpoints/config" "$J"
code_expect "config without checkpointing" 404
jexpect "config without checkpointing message" "$J" 'd["errors"][0]' "Checkpointing is not enabled for this job ($B)."
cli cancel -s "$SP" "$B"
expect_eq "cflink cancel -s exit" 0 "$RC"
P=$(sed -nE "s/^Cancelled job $B\. Savepoint stored in (.*)\.$/\1/p" "$WORK/o.txt")
expect_eq "cflink cancel -s output" \
    "DEPRECATION WARNING: Cancelling a job with savepoint is deprecated. Use \"stop\" instead.|Cancelling job $B with CANONICAL savepoint to $SP.|Cancelled job $B. Savepoint stored in $P." \
    "$(paste -sd'|' "$WORK/o.txt")"
[ -f "$P/_metadata" ] && ok "cancel -s savepoint _metadata" || fail "cancel -s savepoint missing"
expect_eq "job B canceled" CANCELED "$(cluster_wait_job_done "$B" 30)"

finish

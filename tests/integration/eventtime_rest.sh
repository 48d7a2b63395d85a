#!/usr/bin/env bash
# Event-time figures on the REST API, carried from the TaskManagers by
# the heartbeats' task reports and the state updates (Flink's task metrics
# currentInputWatermark and numLateRecordsDropped):
#  1. an unbounded event-time job (tp_windows' generator: timestamps
#     seq * 10 ms, 4 keys, 400 records/s per instance, tumbling 1 s
#     windows) runs at parallelism 2 on a cluster with
#     heartbeat.interval=300. GET /jobs/<id>/vertices/<window>/watermarks
#     is a bare array with one {"id":"<i>.currentInputWatermark",
#     "value":"<decimal string>"} per subtask, and every subtask's
#     watermark grows between two polls ~1.5 s apart while the tasks stay
#     RUNNING. The metrics endpoints serve the same figures with Flink's
#     names: vertex metrics ("<i>.<name>", list and ?get=), a subtask's
#     metrics (/subtasks/<i>/metrics) and the aggregated subtask metrics
#     (min/max/avg/sum/skew numbers); no record of the in-order data is
#     late ("0"); unknown names are left out. Unknown ids: 404 for
#     /watermarks, an empty array for the metrics endpoints (Flink's
#     metric store), 400 for malformed ids.
#  2. a bounded job (tp_windows' paced source, parallelism 1) sends a
#     record at 10 s, pauses so that the watermark passes its window,
#     then sends one at 1 s: the window drops it as late. After the job
#     FINISHED the window vertex shows numLateRecordsDropped "1" and the
#     final input watermark Long.MAX_VALUE (the end of input), from the
#     tasks' final state updates.
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_windows.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
cluster_trap

J="$WORK/e.json"
MIN=-9223372036854775808
MAX=9223372036854775807

cluster_start_jm -D heartbeat.interval=300 ||
    { fail "JobManager did not start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2
cluster_wait_tms 1 || { fail "TaskManager did not register"; finish; }

rest_call POST /jars/upload "$WORK/upload.json" -F "jarfile=@$PLUGIN"
expect_eq "upload" 200 "$HTTP_CODE"
JAR=$(json_py "$WORK/upload.json" 'd["filename"].split("/")[-1]')

# ---------------------------------------------------------------------
# 1. Watermarks of a running job
# ---------------------------------------------------------------------
rest_call POST "/jars/$JAR/run" "$J" -H 'Content-Type: application/json' \
    -d "{\"parallelism\":2,\"programArgsList\":[\"--gen\",\"1\",\"--keys\",\"4\",\"--events\",\"0\",\"--step\",\"10\",\"--rate\",\"400\",\"--size\",\"1000\",\"--out\",\"$WORK/out1\"]}"
expect_eq "run the unbounded event-time job" 200 "$HTTP_CODE"
JID=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
cluster_wait_running "$JID" 30 || { fail "job not running"; finish; }
ok "job running"
expect_eq "two vertices (source chain, window chain)" 2 \
    "$(cluster_job_field "$JID" 'len(d["vertices"])')"
SRC=$(cluster_job_field "$JID" 'd["vertices"][0]["id"]')
WIN=$(cluster_job_field "$JID" 'd["vertices"][1]["id"]')

# wm_values VID: the subtasks' watermarks "w0 w1" from /watermarks, or a
# description of what is wrong with the body (shape, ids, strings).
wm_values() {
    rest_call GET "/jobs/$JID/vertices/$1/watermarks" "$J"
    [ "$HTTP_CODE" = 200 ] || { echo "HTTP $HTTP_CODE"; return 0; }
    json_py "$J" '(
        "not a bare array" if not isinstance(d, list) else
        "entries: " + json.dumps(d) if len(d) != 2 else
        "bad ids: " + json.dumps(d) if [e.get("id") for e in d] !=
            ["0.currentInputWatermark", "1.currentInputWatermark"] else
        "bad keys: " + json.dumps(d) if any(sorted(e) != ["id", "value"]
                                            for e in d) else
        "values not decimal strings: " + json.dumps(d) if not all(
            isinstance(e["value"], str) and
            e["value"].lstrip("-").isdigit() for e in d) else
        " ".join(e["value"] for e in d))'
}

# Wait until both window subtasks have received a watermark.
for _ in $(seq 100); do
    read -r a0 a1 <<<"$(wm_values "$WIN")"
    if [[ "$a0" =~ ^-?[0-9]+$ ]] && [ "$a0" != "$MIN" ] &&
        [[ "$a1" =~ ^-?[0-9]+$ ]] && [ "$a1" != "$MIN" ]; then
        break
    fi
    sleep 0.1
done
echo "first poll: window watermarks $a0 $a1"
if [[ "$a0 $a1" =~ ^-?[0-9]+\ -?[0-9]+$ ]]; then
    ok "watermarks: bare array of {id: <i>.currentInputWatermark, value: string}"
else
    fail "watermarks body: $a0 $a1"
fi
if [ "$a0" != "$MIN" ] && [ "$a1" != "$MIN" ]; then
    ok "both window subtasks have a watermark"
else
    fail "window watermarks still Long.MIN_VALUE: $a0 $a1"
fi

sleep 1.5
read -r b0 b1 <<<"$(wm_values "$WIN")"
echo "second poll: window watermarks $b0 $b1"
expect_eq "job still RUNNING" "RUNNING:True" "$(cluster_job_field "$JID" \
    'd["state"] + ":" + str(all(v["status"] == "RUNNING" for v in d["vertices"]))')"
if [ "$b0" -gt "$a0" ] 2>/dev/null && [ "$b1" -gt "$a1" ] 2>/dev/null; then
    ok "window watermarks advance while RUNNING ($a0 -> $b0, $a1 -> $b1)"
else
    fail "window watermarks did not advance: $a0 -> $b0, $a1 -> $b1"
fi
read -r s0 s1 <<<"$(wm_values "$SRC")"
if [[ "$s0 $s1" =~ ^-?[0-9]+\ -?[0-9]+$ ]]; then
    ok "source vertex watermarks per subtask ($s0 $s1)"
else
    fail "source vertex watermarks: $s0 $s1"
fi

# Vertex metrics: ids prefixed with the subtask index.
rest_call GET "/jobs/$JID/vertices/$WIN/metrics" "$J"
expect_eq "GET vertex metrics" 200 "$HTTP_CODE"
expect_eq "vertex metric ids" \
    '["0.currentInputWatermark","0.numLateRecordsDropped","1.currentInputWatermark","1.numLateRecordsDropped"]' \
    "$(json_py "$J" 'sorted(e["id"] for e in d if "value" not in e and e["id"].split(".", 1)[1] in ("currentInputWatermark", "numLateRecordsDropped"))')"
rest_call GET "/jobs/$JID/vertices/$WIN/metrics?get=1.currentInputWatermark,0.numLateRecordsDropped,0.noSuchMetric" "$J"
expect_eq "vertex metrics ?get= (unknown names left out)" \
    '[["1.currentInputWatermark",true],["0.numLateRecordsDropped","0"]]' \
    "$(json_py "$J" '[[e["id"], e["value"] if e["id"].endswith("Dropped") else int(e["value"]) >= int("'"$b1"'")] for e in d]')"

# One subtask's metrics.
rest_call GET "/jobs/$JID/vertices/$WIN/subtasks/0/metrics?get=currentInputWatermark,numLateRecordsDropped" "$J"
expect_eq "GET subtask metrics" 200 "$HTTP_CODE"
expect_eq "subtask 0 metrics" \
    '[["currentInputWatermark",true],["numLateRecordsDropped","0"]]' \
    "$(json_py "$J" '[[e["id"], e["value"] if e["id"].endswith("Dropped") else int(e["value"]) >= int("'"$b0"'")] for e in d]')"
rest_call GET "/jobs/$JID/vertices/$WIN/subtasks/0/metrics" "$J"
expect_eq "subtask 0 metric ids" \
    '["currentInputWatermark","numLateRecordsDropped"]' \
    "$(json_py "$J" 'sorted(e["id"] for e in d if e["id"] in ("currentInputWatermark", "numLateRecordsDropped"))')"
rest_call GET "/jobs/$JID/vertices/$WIN/subtasks/7/metrics?get=currentInputWatermark" "$J"
expect_eq "subtask out of range: empty array" "200 []" \
    "$HTTP_CODE $(json_py "$J" 'd')"
rest_call GET "/jobs/$JID/vertices/$WIN/subtasks/-1/metrics" "$J"
expect_eq "negative subtask index" 400 "$HTTP_CODE"

# Aggregated over the subtasks.
rest_call GET "/jobs/$JID/vertices/$WIN/subtasks/metrics?get=currentInputWatermark,numLateRecordsDropped" "$J"
expect_eq "GET aggregated subtask metrics" 200 "$HTTP_CODE"
expect_eq "aggregated: fields and the late sum" \
    '[["currentInputWatermark",["avg","id","max","min","skew","sum"],true],["numLateRecordsDropped",["avg","id","max","min","skew","sum"],0.0]]' \
    "$(json_py "$J" '[[e["id"], sorted(e), e["sum"] if e["id"].endswith("Dropped") else e["min"] <= e["max"]] for e in d]')"
rest_call GET "/jobs/$JID/vertices/$WIN/subtasks/metrics?get=currentInputWatermark&agg=max" "$J"
expect_eq "aggregated: agg=max" '[["id","max"]]' \
    "$(json_py "$J" '[sorted(e) for e in d]')"

# Unknown and malformed ids.
NOJOB=0123456789abcdef0123456789abcdef
rest_call GET "/jobs/$JID/vertices/$NOJOB/watermarks" "$J"
expect_eq "watermarks of an unknown vertex" \
    "404 JobVertex $NOJOB not found" "$HTTP_CODE $(json_py "$J" 'd["errors"][0]')"
rest_call GET "/jobs/$NOJOB/vertices/$WIN/watermarks" "$J"
expect_eq "watermarks of an unknown job" \
    "404 Job $NOJOB not found" "$HTTP_CODE $(json_py "$J" 'd["errors"][0]')"
rest_call GET "/jobs/nojob/vertices/$WIN/watermarks" "$J"
expect_eq "watermarks with a malformed job id" 400 "$HTTP_CODE"
rest_call GET "/jobs/$NOJOB/vertices/$WIN/metrics?get=0.currentInputWatermark" "$J"
expect_eq "metrics of an unknown job: empty array" "200 []" \
    "$HTTP_CODE $(json_py "$J" 'd')"

rest_call PATCH "/jobs/$JID?mode=cancel" "$J"
expect_eq "cancel" 202 "$HTTP_CODE"
expect_eq "cancelled job" CANCELED "$(cluster_wait_job_done "$JID" 30 || true)"
read -r c0 c1 <<<"$(wm_values "$WIN")"
if [ "$c0" -ge "$b0" ] 2>/dev/null && [ "$c1" -ge "$b1" ] 2>/dev/null; then
    ok "watermarks kept after the cancel, not below the running ones"
else
    fail "watermarks after cancel: $b0 -> $c0, $b1 -> $c1"
fi

# ---------------------------------------------------------------------
# 2. A late record, counted
# ---------------------------------------------------------------------
mkdir -p "$WORK/in2"
printf '%s\n' 'a,10000,1' '#pause,1500' 'a,1000,1' >"$WORK/in2/0.txt"
rest_call POST "/jars/$JAR/run" "$J" -H 'Content-Type: application/json' \
    -d "{\"parallelism\":1,\"programArgsList\":[\"--source\",\"paced\",\"--in\",\"$WORK/in2\",\"--size\",\"5000\",\"--out\",\"$WORK/out2\"]}"
expect_eq "run the late-record job" 200 "$HTTP_CODE"
JID=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
expect_eq "late-record job" SUCCEEDED "$(cluster_wait_job_done "$JID" 60 || true)"
WIN=$(cluster_job_field "$JID" 'd["vertices"][1]["id"]')
rest_call GET "/jobs/$JID/vertices/$WIN/subtasks/0/metrics?get=numLateRecordsDropped,currentInputWatermark" "$J"
expect_eq "finished window: one late record dropped, watermark at the end" \
    "[[\"numLateRecordsDropped\",\"1\"],[\"currentInputWatermark\",\"$MAX\"]]" \
    "$(json_py "$J" '[[e["id"], e["value"]] for e in d]')"
rest_call GET "/jobs/$JID/vertices/$WIN/watermarks" "$J"
expect_eq "finished window watermarks" \
    "[{\"id\":\"0.currentInputWatermark\",\"value\":\"$MAX\"}]" \
    "$(json_py "$J" 'd')"

expect_eq "JobManager alive" 0 "$(kill -0 "$JM_PID"; echo $?)"
finish

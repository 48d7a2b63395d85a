#!/usr/bin/env bash
# Metrics of a running job move with the heartbeats: on a cluster with
# heartbeat.interval=300 (two TaskManagers, one slot each), an unbounded
# job (tp_slow: a source at parallelism 2 rebalancing into one slowed
# sink) runs while GET /jobs/<id> is polled. The source vertex's
# write-records and the sink's read-records are > 0 and grow between two
# polls about 1 s apart while every task stays RUNNING (no state change
# carries them), the "-complete" flags are false, and the subtask view
# (GET /jobs/<id>/vertices/<vid>) sums to the vertex view. After the
# cancel the counters are final: the flags are true and the counts no
# longer change.
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_slow.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
cluster_trap

J="$WORK/m.json"

cluster_start_jm -D heartbeat.interval=300 ||
    { fail "JobManager did not start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=1
cluster_start_tm b -D taskmanager.numberOfTaskSlots=1
cluster_wait_tms 2 || { fail "TaskManagers did not register"; finish; }

rest_call POST /jars/upload "$WORK/upload.json" -F "jarfile=@$PLUGIN"
expect_eq "upload" 200 "$HTTP_CODE"
JAR=$(json_py "$WORK/upload.json" 'd["filename"].split("/")[-1]')

rest_call POST "/jars/$JAR/run" "$J" -H 'Content-Type: application/json' \
    -d '{"parallelism":2,"programArgsList":["--records","100000000","--size","64","--every","100"]}'
expect_eq "run the unbounded job" 200 "$HTTP_CODE"
JID=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
cluster_wait_running "$JID" 30 || { fail "job not running"; finish; }
ok "job running"

# metrics: "<state> <source write-records> <sink read-records>
# <source write-bytes> <complete flags> <statuses>" from GET /jobs/<id>.
metrics() {
    cluster_job_field "$JID" 'd["state"] + " " + " ".join(str(x) for x in (
        d["vertices"][0]["metrics"]["write-records"],
        d["vertices"][1]["metrics"]["read-records"],
        d["vertices"][0]["metrics"]["write-bytes"],
        ",".join(str(v["metrics"][k]) for v in d["vertices"]
                 for k in ("write-records-complete", "read-records-complete")),
        ",".join(sorted(set(v["status"] for v in d["vertices"])))))'
}

# Wait for the first counters (a heartbeat after the source started).
for _ in $(seq 50); do
    read -r st w1 r1 b1 c1 s1 <<<"$(metrics)"
    [ "${w1:-0}" -gt 0 ] 2>/dev/null && break
    sleep 0.1
done
echo "first poll: $st write-records=$w1 read-records=$r1 write-bytes=$b1"
expect_eq "state at the first poll" "RUNNING RUNNING" "$st $s1"
if [ "${w1:-0}" -gt 0 ] 2>/dev/null; then
    ok "source write-records > 0 while RUNNING ($w1)"
else
    fail "source write-records while RUNNING: '$w1'"
fi
if [ "${b1:-0}" -ge $((w1 * 64)) ] 2>/dev/null; then
    ok "source write-bytes cover the records ($b1)"
else
    fail "source write-bytes $b1 for $w1 records of 64 bytes"
fi
expect_eq "complete flags while RUNNING" "False,False,False,False" "$c1"

sleep 1.2
read -r st w2 r2 b2 c2 s2 <<<"$(metrics)"
echo "second poll: $st write-records=$w2 read-records=$r2 write-bytes=$b2"
expect_eq "state at the second poll" "RUNNING RUNNING" "$st $s2"
if [ "${w2:-0}" -gt "${w1:-0}" ] 2>/dev/null; then
    ok "source write-records grow while RUNNING ($w1 -> $w2)"
else
    fail "source write-records did not grow: '$w1' -> '$w2'"
fi
if [ "${r2:-0}" -gt "${r1:-0}" ] 2>/dev/null; then
    ok "sink read-records grow while RUNNING ($r1 -> $r2)"
else
    fail "sink read-records did not grow: '$r1' -> '$r2'"
fi

# The subtask view carries the same counters, per subtask.
VID=$(cluster_job_field "$JID" 'd["vertices"][0]["id"]')
rest_call GET "/jobs/$JID/vertices/$VID" "$J"
expect_eq "GET vertex" 200 "$HTTP_CODE"
got=$(json_py "$J" '[len(d["subtasks"]), all(s["metrics"]["write-records"] > 0 for s in d["subtasks"]), any(s["metrics"]["write-records-complete"] for s in d["subtasks"])]')
expect_eq "source subtasks: 2, each wrote records, none complete" \
    '[2,true,false]' "$got"
sub=$(json_py "$J" 'sum(s["metrics"]["write-records"] for s in d["subtasks"])')
vtx=$(cluster_job_field "$JID" 'd["vertices"][0]["metrics"]["write-records"]')
if [ "$sub" -gt 0 ] && [ "$sub" -le "$vtx" ] 2>/dev/null; then
    ok "subtask counters sum to at most the later vertex count ($sub <= $vtx)"
else
    fail "subtask sum $sub vs vertex $vtx"
fi

# Cancel: the final counters stay.
rest_call PATCH "/jobs/$JID?mode=cancel" "$J"
expect_eq "cancel" 202 "$HTTP_CODE"
expect_eq "cancelled job" CANCELED "$(cluster_wait_job_done "$JID" 30 || true)"
read -r st w3 r3 b3 c3 s3 <<<"$(metrics)"
echo "after cancel: $st write-records=$w3 read-records=$r3 write-bytes=$b3"
expect_eq "state after cancel" "CANCELED CANCELED" "$st $s3"
if [ "${w3:-0}" -ge "${w2:-0}" ] && [ "${r3:-0}" -ge "${r2:-0}" ] 2>/dev/null; then
    ok "final counters not below the running ones"
else
    fail "counters went back: $w2 -> $w3, $r2 -> $r3"
fi
expect_eq "complete flags after cancel" "True,True,True,True" "$c3"
sleep 1
read -r st w4 r4 b4 c4 s4 <<<"$(metrics)"
expect_eq "counters final after cancel" "$w3 $r3 $b3" "$w4 $r4 $b4"
expect_eq "JobManager alive" 0 "$(kill -0 "$JM_PID"; echo $?)"
finish

#!/usr/bin/env bash
# Backpressure across TaskManagers keeps memory bounded: a fast source at
# parallelism 2 rebalances 1 KiB records into one slow sink, on two
# TaskManagers with one slot each, so half of the records cross the
# network manager's TCP connection. The slow sink's credits run out, the
# remote producer's pool fills, and it waits: the TaskManagers' peak RSS
# must not grow with the volume (1 GB here vs a tiny baseline run), and the
# sink must receive every record.
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_slow.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
cluster_trap

cluster_start_jm || { fail "JobManager did not start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=1
TM_A=$TM_PID
cluster_start_tm b -D taskmanager.numberOfTaskSlots=1
TM_B=$TM_PID
cluster_wait_tms 2 || { fail "TaskManagers did not register"; finish; }

rest_call POST /jars/upload "$WORK/upload.json" -F "jarfile=@$PLUGIN"
expect_eq "upload" 200 "$HTTP_CODE"
JAR=$(json_py "$WORK/upload.json" 'd["filename"].split("/")[-1]')

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# bp_run RECORDS EVERY: run the job, sample both TaskManagers' RSS until
# it ends; prints "<peak kB of a> <peak kB of b> <status>".
bp_run() {
    local body jid peak_a=0 peak_b=0 r st=
    body=$(printf '{"parallelism":2,"programArgsList":["--records","%s","--every","%s"]}' "$1" "$2")
    rest_call POST "/jars/$JAR/run" "$WORK/run.json" \
        -H 'Content-Type: application/json' -d "$body"
    [ "$HTTP_CODE" = 200 ] || { echo "0 0 HTTP$HTTP_CODE"; return; }
    jid=$(json_py "$WORK/run.json" 'd["jobid"]')
    echo "$jid" >"$WORK/last.jid"
    for ((i = 0; i < 1200; i++)); do
        r=$(rss_kb "$TM_A"); [ "$r" -gt "$peak_a" ] && peak_a=$r
        r=$(rss_kb "$TM_B"); [ "$r" -gt "$peak_b" ] && peak_b=$r
        rest_call GET "/jobs/$jid/status" "$WORK/st.json"
        st=$(json_py "$WORK/st.json" 'd.get("status","")' 2>/dev/null)
        case "$st" in FINISHED | FAILED | CANCELED) break ;; esac
        sleep 0.05
    done
    echo "$peak_a $peak_b $st"
}

read -r base_a base_b st <<<"$(bp_run 1000 0)"
expect_eq "baseline job" FINISHED "$st"
read -r big_a big_b st <<<"$(bp_run 1000000 250)"
expect_eq "1 GB job" FINISHED "$st"
expect_eq "sink output" \
    "received 1000 bytes=1024000
received 1000000 bytes=1024000000" \
    "$(cat "$WORK"/taskmanager-*.out | grep -E '^received' | sort -t' ' -k2n)"
echo "peak RSS: TaskManager a ${base_a} -> ${big_a} kB, b ${base_b} -> ${big_b} kB"
for t in a b; do
    eval "base=\$base_$t big=\$big_$t"
    if [ "$big" -gt 0 ] && [ "$big" -lt $((base + 65536)) ]; then
        ok "TaskManager $t memory bounded (grew $(((big - base) / 1024)) MB for 1 GB)"
    else
        fail "TaskManager $t RSS grew from ${base} kB to ${big} kB"
    fi
done
# The remote channel really carried data: the two source subtasks ran on
# different TaskManagers, so one of them wrote through the network manager.
JID=$(cat "$WORK/last.jid")
rest_call GET "/jobs/$JID" "$WORK/job.json"
SRC=$(json_py "$WORK/job.json" '[v["id"] for v in d["vertices"] if v["name"].startswith("Source")][0]')
rest_call GET "/jobs/$JID/vertices/$SRC" "$WORK/src.json"
expect_eq "sources on two TaskManagers" 2 \
    "$(json_py "$WORK/src.json" 'len(set(s["taskmanager-id"] for s in d["subtasks"]))')"
expect_eq "JobManager alive" 0 "$(kill -0 "$JM_PID"; echo $?)"
finish

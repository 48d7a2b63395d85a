#!/usr/bin/env bash
# The cflink CLI against a real cluster: a JobManager and two TaskManagers
# (2 slots each) on 127.0.0.1 with ephemeral ports. "run" uploads
# WordCount and runs it with parallelism 4 (exact counts), "run -d" and
# "list" show a running job with Flink's line format, "cancel" ends it
# CANCELED within a second, an interrupted attached run leaves its job
# running (and cancels it with -sae), and failures print Flink's error
# banner with exit code 1: a failing job, an unknown job id, a bad upload,
# an unreachable JobManager.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
WC="$EXAMPLES/wordcount.so"
SLOW="$PLUGINS/tp_slow.so"
for f in "$WC" "$SLOW" "$PLUGINS/tp_fail.so"; do
    [ -f "$f" ] || { echo "SKIP: $f is not built"; exit 77; }
done
cluster_trap

oracle() { cat "$@" | tr 'A-Z' 'a-z' | grep -oE '[a-z]+' | sort | uniq -c | awk '{print $2, $1}' | sort; }
last_counts() { sed -E 's/^[0-9]+> //' | grep -E '^\(' | sed -E 's/^\(([^,]*),([0-9]+)\)$/\1 \2/' |
    awk '{last[$1] = $2} END { for (w in last) print w, last[w] }' | sort; }

# expect_match NAME FILE REGEX: a line of FILE matches REGEX (extended).
expect_match() {
    if grep -qE -- "$3" "$2"; then
        ok "$1"
    else
        fail "$1: no line matches /$3/ in:"
        sed 's/^/    /' "$2" >&2 | head -20
    fi
}

# job_status JOBID: the job's status from GET /jobs/:jobid/status.
job_status() {
    rest_call GET "/jobs/$1/status" "$WORK/.status.json"
    if [ "$HTTP_CODE" = 200 ]; then
        json_py "$WORK/.status.json" 'd["status"]'
    else
        echo "HTTP $HTTP_CODE"
    fi
}

# wait_status JOBID STATE TIMEOUT_S: poll until the job is in STATE.
wait_status() {
    local i
    for ((i = 0; i < $3 * 50; i++)); do
        [ "$(job_status "$1")" = "$2" ] && return 0
        sleep 0.02
    done
    return 1
}

# A port nothing listens on: bound, then closed.
dead_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

BANNER=" The program finished with the following exception:"

cluster_start_jm
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2
cluster_start_tm b -D taskmanager.numberOfTaskSlots=2
cluster_wait_tms 2
JM="127.0.0.1:$REST_PORT"

# --- run (attached): WordCount with parallelism 4 across both TMs ---
for i in $(seq 20); do cat "$CF_SOURCE_DIR/examples/data/hamlet.txt"; echo "Line $i: MiXeD-case words_and 123 digits"; done > "$WORK/big.txt"
run_cf "$WORK/out" "$WORK/err" 120 run -m "$JM" -p 4 "$WC" --input "$WORK/big.txt" --output "$WORK/result"
expect_eq "run: exit code" 0 "$RC"
expect_match "run: submission line" "$WORK/out" '^Job has been submitted with JobID [0-9a-f]{32}$'
WC_JOB=$(sed -nE 's/^Job has been submitted with JobID ([0-9a-f]{32})$/\1/p' "$WORK/out")
expect_eq "run: Flink's end lines" \
    "Program execution finished|Job with JobID $WC_JOB has finished.|ok" \
    "$(sed -n '2,3p' "$WORK/out" | paste -sd'|')|$(sed -n 4p "$WORK/out" | grep -qE '^Job Runtime: [0-9]+ ms$' && echo ok)"
expect_eq "run: exact counts" "$(oracle "$WORK/big.txt")" "$(cat "$WORK"/result/part-* 2>/dev/null | last_counts)"
expect_eq "run: one part file per sink subtask" 4 "$(ls "$WORK/result" | grep -c '^part-' || true)"
rest_call GET "/jobs/$WC_JOB" "$WORK/job.json"
expect_eq "run: parallelism 4 reached the JobManager" 4 \
    "$(json_py "$WORK/job.json" 'max(v["parallelism"] for v in d["vertices"])')"
expect_eq "run: the plugin stays uploaded" 1 \
    "$(rest_call GET /jars "$WORK/jars.json"; json_py "$WORK/jars.json" 'len(d["files"])')"

# --- the address from the configuration instead of -m ---
mkdir -p "$WORK/conf"
printf 'rest:\n  address: 127.0.0.1\n  port: %s\n' "$REST_PORT" > "$WORK/conf/config.yaml"
CFLINK_CONF_DIR="$WORK/conf" run_cf "$WORK/out" "$WORK/err" 30 list -a
expect_eq "config address: exit code" 0 "$RC"
expect_match "config address: finished job listed" "$WORK/out" \
    "^[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} : $WC_JOB : WordCount \(FINISHED\)$"
run_cf "$WORK/out" "$WORK/err" 30 list -a -D rest.address=127.0.0.1 -D rest.port="$REST_PORT"
expect_eq "-D address: exit code" 0 "$RC"
expect_eq "list -a: Flink's sections" \
    "Waiting for response...|No running jobs.|No scheduled jobs.|---------------------- Terminated Jobs -----------------------|x|--------------------------------------------------------------" \
    "$(sed -E '5s/.*/x/' "$WORK/out" | paste -sd'|')"

# --- run -d, list, cancel ---
run_cf "$WORK/out" "$WORK/err" 30 run -d -m "$JM" -p 2 "$SLOW" --records 100000000 --every 1
expect_eq "run -d: exit code" 0 "$RC"
expect_match "run -d: submission line only" "$WORK/out" '^Job has been submitted with JobID [0-9a-f]{32}$'
expect_eq "run -d: nothing else printed" 1 "$(wc -l < "$WORK/out" | tr -d ' ')"
SLOW_JOB=$(sed -nE 's/^Job has been submitted with JobID ([0-9a-f]{32})$/\1/p' "$WORK/out")
wait_status "$SLOW_JOB" RUNNING 10 || fail "detached job not RUNNING: $(job_status "$SLOW_JOB")"
run_cf "$WORK/out" "$WORK/err" 30 list -m "$JM"
expect_eq "list: exit code" 0 "$RC"
expect_eq "list: Flink's output" \
    "Waiting for response...|------------------ Running/Restarting Jobs -------------------|x : $SLOW_JOB : Backpressure test (RUNNING)|--------------------------------------------------------------|No scheduled jobs." \
    "$(sed -E 's/^[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} : /x : /' "$WORK/out" | paste -sd'|')"
run_cf "$WORK/out" "$WORK/err" 30 list -s -m "$JM"
expect_eq "list -s" "Waiting for response...|No scheduled jobs." "$(paste -sd'|' "$WORK/out")"
run_cf "$WORK/out" "$WORK/err" 30 list -r -m "$JM"
expect_eq "list -r: running section only" 4 "$(wc -l < "$WORK/out" | tr -d ' ')"

start=$(date +%s%N)
run_cf "$WORK/out" "$WORK/err" 30 cancel -m "$JM" "$SLOW_JOB"
expect_eq "cancel: exit code" 0 "$RC"
expect_eq "cancel: Flink's messages" "Cancelling job $SLOW_JOB.|Cancelled job $SLOW_JOB." \
    "$(paste -sd'|' "$WORK/out")"
if wait_status "$SLOW_JOB" CANCELED 5; then
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ "$ms" -lt 1000 ]; then ok "CANCELED in ${ms} ms"; else fail "CANCELED after ${ms} ms"; fi
else
    fail "cancelled job is $(job_status "$SLOW_JOB")"
fi
free_slots=
for _ in $(seq 50); do
    rest_call GET /overview "$WORK/overview.json"
    free_slots=$(json_py "$WORK/overview.json" 'd["slots-available"]')
    [ "$free_slots" = 4 ] && break
    sleep 0.02
done
expect_eq "cancel frees the slots" 4 "$free_slots"

# --- an interrupted attached run: the job keeps running; -sae cancels ---
interrupted_run() { # extra-option... -> sets RUN_RC and RUN_JOB
    "$CFLINK" run "$@" -m "$JM" -p 2 "$SLOW" --records 100000000 --every 1 \
        >"$WORK/out" 2>"$WORK/err" &
    local pid=$! i
    for ((i = 0; i < 200; i++)); do
        grep -q "Job has been submitted" "$WORK/out" && break
        sleep 0.05
    done
    RUN_JOB=$(sed -nE 's/^Job has been submitted with JobID ([0-9a-f]{32})$/\1/p' "$WORK/out")
    wait_status "$RUN_JOB" RUNNING 10 || true
    kill -INT "$pid"
    set +e
    timeout 10 tail --pid="$pid" -f /dev/null
    wait "$pid"
    RUN_RC=$?
    set -e
}
interrupted_run
expect_eq "Ctrl-C: exit code" 130 "$RUN_RC"
expect_contains "Ctrl-C: says the job keeps running" "$WORK/err" "keeps running on the cluster"
sleep 0.3
expect_eq "Ctrl-C: the job keeps running" RUNNING "$(job_status "$RUN_JOB")"
run_cf "$WORK/out" "$WORK/err" 30 cancel -m "$JM" "$RUN_JOB"
wait_status "$RUN_JOB" CANCELED 5 || fail "job $RUN_JOB not cancelled"
interrupted_run -sae
expect_eq "Ctrl-C with -sae: exit code" 130 "$RUN_RC"
if wait_status "$RUN_JOB" CANCELED 5; then ok "Ctrl-C with -sae cancels the job"; else
    fail "Ctrl-C with -sae: job is $(job_status "$RUN_JOB")"; fi

# --- failures: the banner and exit code 1 ---
run_cf "$WORK/out" "$WORK/err" 60 run -m "$JM" -p 2 "$PLUGINS/tp_fail.so" --mode map
expect_eq "failing job: exit code" 1 "$RC"
expect_contains "failing job: banner" "$WORK/err" "$BANNER"
expect_contains "failing job: exception" "$WORK/err" \
    "org.apache.flink.runtime.client.JobExecutionException: Job execution failed."
expect_contains "failing job: cause" "$WORK/err" "bad value 500 in subtask"

UNKNOWN=0123456789abcdef0123456789abcdef
run_cf "$WORK/out" "$WORK/err" 30 cancel -m "$JM" "$UNKNOWN"
expect_eq "unknown job: exit code" 1 "$RC"
expect_eq "unknown job: stdout" "Cancelling job $UNKNOWN." "$(cat "$WORK/out")"
expect_contains "unknown job: banner" "$WORK/err" "$BANNER"
expect_contains "unknown job: exception" "$WORK/err" \
    "org.apache.flink.util.FlinkException: Could not cancel job $UNKNOWN."
expect_match "unknown job: the server's error" "$WORK/err" \
    '^Caused by: org\.apache\.flink\.runtime\.rest\.util\.RestClientException: \[.+\]$'
run_cf "$WORK/out" "$WORK/err" 30 cancel -m "$JM" not-a-job-id
expect_eq "malformed job id: exit code" 1 "$RC"
expect_contains "malformed job id: message" "$WORK/err" 'Cannot parse JobID from "not-a-job-id".'
run_cf "$WORK/out" "$WORK/err" 30 cancel -m "$JM"
expect_contains "missing job id: message" "$WORK/err" "Missing JobID. Specify a JobID to cancel a job."

echo "not a library" > "$WORK/text.so"
run_cf "$WORK/out" "$WORK/err" 30 run -m "$JM" "$WORK/text.so"
expect_eq "bad upload: exit code" 1 "$RC"
expect_contains "bad upload: banner" "$WORK/err" "Could not upload the plugin $WORK/text.so."
expect_match "bad upload: the server's reason" "$WORK/err" \
    '^Caused by: org\.apache\.flink\.runtime\.rest\.util\.RestClientException: \[.+\]$'
run_cf "$WORK/out" "$WORK/err" 30 run -m "$JM" "$WORK/missing.so"
expect_eq "missing plugin: one line" "cflink: $WORK/missing.so: No such file or directory" "$(cat "$WORK/err")"

DEAD=$(dead_port)
run_cf "$WORK/out" "$WORK/err" 30 list -m "127.0.0.1:$DEAD"
expect_eq "unreachable JobManager (list): exit code" 1 "$RC"
expect_contains "unreachable JobManager (list): banner" "$WORK/err" "$BANNER"
expect_contains "unreachable JobManager (list): message" "$WORK/err" \
    "Could not connect to the JobManager at http://127.0.0.1:$DEAD: Connection refused"
run_cf "$WORK/out" "$WORK/err" 30 run -m "127.0.0.1:$DEAD" "$WC"
expect_eq "unreachable JobManager (run): exit code" 1 "$RC"
expect_contains "unreachable JobManager (run): message" "$WORK/err" \
    "Could not connect to the JobManager at http://127.0.0.1:$DEAD: Connection refused"
run_cf "$WORK/out" "$WORK/err" 30 cancel -m "127.0.0.1:$DEAD" "$UNKNOWN"
expect_contains "unreachable JobManager (cancel): message" "$WORK/err" \
    "Could not connect to the JobManager at http://127.0.0.1:$DEAD: Connection refused"

# --- checkpoint actions on an unknown job: Flink's banner and the
# server's "not found" ---
for a in stop savepoint checkpoint; do
    run_cf "$WORK/out" "$WORK/err" 30 "$a" -m "$JM" "$UNKNOWN"
    expect_eq "$a unknown job: exit code" 1 "$RC"
    expect_contains "$a unknown job: banner" "$WORK/err" "$BANNER"
    expect_contains "$a unknown job: message" "$WORK/err" \
        "RestClientException: [Job $UNKNOWN not found]"
done
finish

# cluster.bash: helpers for integration tests that start real daemons
# (sourced after common.bash, not a test). Everything listens on 127.0.0.1
# with ephemeral ports; every daemon is killed by PID when the test exits.
#
# Functions are appended by several tests' authors: keep names distinct
# and do not change the behaviour of an existing function.

JM_BIN="$CF_BUILD_DIR/bin/cflink-jobmanager"
TM_BIN="$CF_BUILD_DIR/bin/cflink-taskmanager"
CLUSTER_PIDS=()

# cluster_require_bins: exit 77 (skipped) when a daemon is not built.
cluster_require_bins() {
    local b
    for b in "$JM_BIN" "$TM_BIN"; do
        if [ ! -x "$b" ]; then
            echo "SKIP: $b is not built"
            exit 77
        fi
    done
}

# cluster_stop: SIGTERM every daemon started here (TaskManagers first),
# SIGKILL what is still alive after 10 s.
cluster_stop() {
    local pid i n=${#CLUSTER_PIDS[@]}
    for ((i = n - 1; i >= 0; i--)); do
        pid=${CLUSTER_PIDS[$i]}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for ((i = 0; i < 100; i++)); do
        local alive=0
        for pid in "${CLUSTER_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${CLUSTER_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    CLUSTER_PIDS=()
    cluster_check_sanitizers
}

# cluster_check_sanitizers: fail (and return 1) when a daemon's log or
# .out file in $WORK has an AddressSanitizer, LeakSanitizer or UBSan
# report (builds with -DCF_SANITIZE=ON); the report is printed. Reports
# already counted are not counted again.
CLUSTER_SAN_SEEN=""
cluster_check_sanitizers() {
    local f bad=0
    for f in "$WORK"/*.log "$WORK"/*.out; do
        [ -f "$f" ] || continue
        case " $CLUSTER_SAN_SEEN " in *" $f "*) continue ;; esac
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
            CLUSTER_SAN_SEEN="$CLUSTER_SAN_SEEN $f"
            echo "FAIL: sanitizer report in $(basename "$f"):" >&2
            grep -E -A 30 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
                "$f" | head -60 | sed 's/^/    /' >&2
            FAILURES=$((FAILURES + 1))
            bad=1
        fi
    done
    return $bad
}

# cluster_trap: stop the daemons and remove $WORK when the test exits.
# The exit status becomes 1 when cluster_stop finds a sanitizer report.
cluster_trap() {
    trap 'cf_st=$?; cluster_stop || cf_st=1; rm -rf "$WORK"; exit $cf_st' EXIT
}

# cluster_wait_log FILE REGEX [TIMEOUT_S]: wait until FILE has a line
# matching REGEX (extended); prints that line.
cluster_wait_log() {
    local file=$1 re=$2 to=${3:-20} i
    for ((i = 0; i < to * 20; i++)); do
        if [ -f "$file" ] && grep -qE -- "$re" "$file"; then
            grep -E -- "$re" "$file" | head -1
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# cluster_start_jm [-D key=value ...]: start a JobManager with ephemeral
# RPC and REST ports on 127.0.0.1; sets JM_PID, JM_LOG, JM_RPC_PORT,
# REST_PORT and REST_URL.
cluster_start_jm() {
    JM_LOG="$WORK/jobmanager.log"
    "$JM_BIN" -D rest.port=0 -D rest.bind-port=0 -D rest.address=127.0.0.1 \
        -D rest.bind-address=127.0.0.1 -D jobmanager.rpc.port=0 \
        -D jobmanager.rpc.address=127.0.0.1 -D jobmanager.bind-host=127.0.0.1 \
        -D web.tmpdir="$WORK" "$@" --log-file "$JM_LOG" \
        >"$WORK/jobmanager.out" 2>&1 &
    JM_PID=$!
    CLUSTER_PIDS+=("$JM_PID")
    local l1 l2
    l1=$(cluster_wait_log "$JM_LOG" 'RPC endpoint listening at [^ ]+:[0-9]+') || {
        echo "JobManager did not start:" >&2
        cat "$WORK/jobmanager.out" "$JM_LOG" >&2 || true
        return 1
    }
    l2=$(cluster_wait_log "$JM_LOG" 'Rest endpoint listening at [^ ]+:[0-9]+') || {
        echo "JobManager REST did not start:" >&2
        cat "$JM_LOG" >&2 || true
        return 1
    }
    JM_RPC_PORT=$(sed -E 's/.*listening at [^ ]+:([0-9]+).*/\1/' <<<"$l1")
    REST_PORT=$(sed -E 's/.*listening at [^ ]+:([0-9]+).*/\1/' <<<"$l2")
    REST_URL="http://127.0.0.1:$REST_PORT"
}

# cluster_start_tm NAME [-D key=value ...]: start a TaskManager that
# registers with the JobManager started above; sets TM_PID (also kept in
# TM_PIDS[NAME]) and logs to $WORK/taskmanager-NAME.log.
declare -A TM_PIDS=()
cluster_start_tm() {
    local name=$1
    shift
    "$TM_BIN" -D jobmanager.rpc.address=127.0.0.1 \
        -D jobmanager.rpc.port="$JM_RPC_PORT" -D taskmanager.host=127.0.0.1 \
        -D taskmanager.bind-host=127.0.0.1 -D io.tmp.dirs="$WORK" "$@" \
        --log-file "$WORK/taskmanager-$name.log" \
        >"$WORK/taskmanager-$name.out" 2>&1 &
    TM_PID=$!
    TM_PIDS[$name]=$TM_PID
    CLUSTER_PIDS+=("$TM_PID")
}

# json_py FILE EXPR: evaluate a Python expression over the JSON document
# d of FILE; strings print raw, anything else as compact JSON.
json_py() {
    python3 - "$1" "$2" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    d = json.load(f)
v = eval(sys.argv[2], {"d": d, "json": json})
print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
PY
}

# rest_call METHOD PATH OUTFILE [curl args...]: HTTP status in HTTP_CODE,
# body in OUTFILE.
rest_call() {
    local method=$1 path=$2 out=$3
    shift 3
    HTTP_CODE=$(curl -s -o "$out" -w '%{http_code}' -X "$method" \
        --max-time 30 "$@" "$REST_URL$path") || HTTP_CODE=000
}

# cluster_wait_tms N [TIMEOUT_S]: wait until GET /taskmanagers lists N.
cluster_wait_tms() {
    local n=$1 to=${2:-30} i got=
    for ((i = 0; i < to * 10; i++)); do
        rest_call GET /taskmanagers "$WORK/.tms.json"
        if [ "$HTTP_CODE" = 200 ]; then
            got=$(json_py "$WORK/.tms.json" 'len(d["taskmanagers"])')
            [ "$got" = "$n" ] && return 0
        fi
        sleep 0.1
    done
    echo "expected $n TaskManagers, got '${got}'" >&2
    return 1
}

# cluster_job_field JID EXPR: evaluate EXPR over GET /jobs/JID ("HTTP
# <status>" when that fails).
cluster_job_field() {
    rest_call GET "/jobs/$1" "$WORK/.job.json"
    [ "$HTTP_CODE" = 200 ] || { echo "HTTP $HTTP_CODE"; return 0; }
    json_py "$WORK/.job.json" "$2"
}

# cluster_wait_running JID [TIMEOUT_S]: wait until the job is RUNNING with
# every subtask RUNNING.
cluster_wait_running() {
    local jid=$1 to=${2:-20} i st
    for ((i = 0; i < to * 20; i++)); do
        st=$(cluster_job_field "$jid" \
            'd["state"] + ":" + str(all(v["status"] == "RUNNING" for v in d["vertices"]))')
        [ "$st" = "RUNNING:True" ] && return 0
        sleep 0.05
    done
    echo "job $jid not running: $st" >&2
    return 1
}

# cluster_wait_job_done JOBID [TIMEOUT_S]: poll execution-result until
# COMPLETED; prints the application-status.
cluster_wait_job_done() {
    local jid=$1 to=${2:-60} i
    for ((i = 0; i < to * 10; i++)); do
        rest_call GET "/jobs/$jid/execution-result" "$WORK/.result.json"
        if [ "$HTTP_CODE" = 200 ] &&
            [ "$(json_py "$WORK/.result.json" 'd["status"]["id"]')" = COMPLETED ]; then
            json_py "$WORK/.result.json" 'd["job-execution-result"]["application-status"]'
            return 0
        fi
        sleep 0.1
    done
    echo TIMEOUT
    return 1
}

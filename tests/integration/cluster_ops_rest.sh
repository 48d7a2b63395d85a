#!/usr/bin/env bash
# The JobManager's operational REST endpoints on a real cluster (a
# JobManager and a TaskManager on 127.0.0.1): /jobmanager/environment,
# /jobmanager/log and /stdout (the daemon's real --log-file and .out),
# /jobmanager/logs and /logs/:filename, /jobmanager/thread-dump,
# /jobs/:jobid/jobmanager/{config,environment,log-url} and the
# TaskManager log-url, then hostile file names (CVE-2020-17519 style:
# "..", %2e%2e, %252f, absolute, names outside the listing) that must
# never serve a file outside the log directory.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
WC="$EXAMPLES/wordcount.so"
[ -f "$WC" ] || { echo "SKIP: $WC is not built"; exit 77; }
cluster_trap

jexpect() {
    local got
    got=$(json_py "$2" "$3" 2>&1) || got="ERROR: $got"
    expect_eq "$1" "$4" "$got"
}
code_expect() { expect_eq "$1 (HTTP status)" "$2" "$HTTP_CODE"; }

J="$WORK/r.json"
T="$WORK/r.txt"

cluster_start_jm -D my.service.password=hunter2 || { fail "JobManager start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=1
if cluster_wait_tms 1 30; then ok "TaskManager registered"; else fail "TaskManager registered"; fi


# ---- environment -------------------------------------------------------
rest_call GET /jobmanager/environment "$J"
code_expect "/jobmanager/environment" 200
jexpect "environment fields" "$J" '[sorted(d), sorted(d["jvm"])]' '[["classpath","jvm"],["arch","options","version"]]'
jexpect "environment version" "$J" 'd["jvm"]["version"].startswith("cflink ")' true
jexpect "environment arch" "$J" 'd["jvm"]["arch"]' "$(uname -m)"
jexpect "environment options are argv" "$J" '[d["jvm"]["options"][0].endswith("cflink-jobmanager"), "--log-file" in d["jvm"]["options"]]' '[true,true]'

# ---- thread dump -------------------------------------------------------
rest_call GET /jobmanager/thread-dump "$J"
code_expect "/jobmanager/thread-dump" 200
jexpect "thread-dump entries" "$J" 'len(d["threadInfos"]) >= 1 and all(sorted(t) == ["stringifiedThreadInfo", "threadName"] for t in d["threadInfos"])' true
jexpect "thread-dump format" "$J" 'all(t["stringifiedThreadInfo"].startswith("\"" + t["threadName"] + "\" Id=") for t in d["threadInfos"])' true

# ---- logs listing ------------------------------------------------------
rest_call GET /jobmanager/logs "$J"
code_expect "/jobmanager/logs" 200
jexpect "logs lists the JobManager log" "$J" '"jobmanager.log" in [l["name"] for l in d["logs"]]' true
jexpect "logs entry fields" "$J" 'all(sorted(l) == ["mtime", "name", "size"] and isinstance(l["size"], int) and l["mtime"] > 1600000000000 for l in d["logs"])' true
jexpect "logs has no directories" "$J" 'any("/" in l["name"] for l in d["logs"])' false

# ---- log and stdout: the daemon's real files ----------------------------
rest_call GET /jobmanager/log "$T"
if [ "$HTTP_CODE" = 501 ]; then
    echo "NOTE: text bodies need cf_rest_respond_raw in rest.c; log contents not checked"
else
    code_expect "/jobmanager/log" 200
    if grep -q "Starting StandaloneSessionClusterEntrypoint\|Starting .*(Version" "$T" &&
        grep -q "Rest endpoint listening at" "$T"; then
        ok "/jobmanager/log is the daemon's log"
    else
        fail "/jobmanager/log is the daemon's log: $(head -c 300 "$T")"
    fi
    ctype=$(curl -s -o /dev/null -w '%{content_type}' "$REST_URL/jobmanager/log")
    expect_eq "/jobmanager/log is text/plain" "text/plain; charset=UTF-8" "$ctype"
    echo "hello from the jm stdout" >>"$WORK/jobmanager.out"
    rest_call GET /jobmanager/stdout "$T"
    code_expect "/jobmanager/stdout" 200
    expect_contains "/jobmanager/stdout is the .out file" "$T" "hello from the jm stdout"
    rest_call GET /jobmanager/logs/taskmanager-a.log "$T"
    code_expect "/jobmanager/logs/taskmanager-a.log" 200
    cmp -s "$T" "$WORK/taskmanager-a.log" && ok "logs/:filename serves the listed file" ||
        fail "logs/:filename differs from the file"
fi

# ---- hostile file names -------------------------------------------------
# A file below the log directory (not in its listing) and a symlink in it.
mkdir -p "$WORK/secret-dir"
echo "TOP SECRET" >"$WORK/secret-dir/secret.txt"
ln -s /etc/passwd "$WORK/passwd.log"
for p in "..%2f..%2fetc%2fpasswd" "..%252f..%252fetc%252fpasswd" "%2e%2e" "%252e%252e" \
    "%2fetc%2fpasswd" "secret-dir%2fsecret.txt" "secret-dir%252fsecret.txt" "secret-dir" \
    "passwd.log" "nonexistent.log" \
    "jobmanager.log%00" "..%5cjobmanager.log"; do
    code=$(curl -s --path-as-is -o "$T" -w '%{http_code}' "$REST_URL/jobmanager/logs/$p")
    case "$code" in
    400 | 404) ok "logs/$p refused ($code)" ;;
    *) fail "logs/$p answered $code" ;;
    esac
    if grep -q "TOP SECRET\|root:" "$T"; then fail "logs/$p leaked a file"; fi
    jexpect "logs/$p has errors" "$T" 'isinstance(d["errors"], list) and len(d["errors"]) == 1' true
done

# ---- a job: config, environment, log urls --------------------------------
rest_call POST /jars/upload "$J" -F "jarfile=@$WC"
code_expect "upload wordcount.so" 200
JAR_ID=$(basename "$(json_py "$J" 'd["filename"]')")
rest_call POST "/jars/$JAR_ID/run" "$J" -H 'Content-Type: application/json' \
    -d "{\"parallelism\":1,\"programArgsList\":[\"--input\",\"$CF_SOURCE_DIR/examples/data/hamlet.txt\",\"--output\",\"$WORK/result\"]}"
code_expect "run wordcount" 200
JID=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
expect_eq "wordcount SUCCEEDED" SUCCEEDED "$(cluster_wait_job_done "$JID" 120 || true)"

rest_call GET "/jobs/$JID/jobmanager/config" "$J"
code_expect "/jobs/:jobid/jobmanager/config" 200
jexpect "job config is [{key,value}]" "$J" 'all(sorted(e) == ["key", "value"] and isinstance(e["value"], str) for e in d)' true
jexpect "job config rest.address" "$J" '[e["value"] for e in d if e["key"] == "rest.address"]' '["127.0.0.1"]'
jexpect "job config hides secrets" "$J" '[e["value"] for e in d if e["key"] == "my.service.password"]' '["******"]'
rest_call GET "/jobs/$JID/jobmanager/environment" "$J"
code_expect "/jobs/:jobid/jobmanager/environment" 200
jexpect "job environment fields" "$J" 'sorted(d)' '["classpath","jvm"]'
rest_call GET "/jobs/$JID/jobmanager/log-url" "$J"
code_expect "/jobs/:jobid/jobmanager/log-url" 200
jexpect "jobmanager log-url" "$J" 'd' "{\"url\":\"http://127.0.0.1:$REST_PORT/#/job-manager/logs\"}"
TMID=$(curl -s "$REST_URL/taskmanagers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["taskmanagers"][0]["id"])')
rest_call GET "/jobs/$JID/taskmanagers/$TMID/log-url" "$J"
code_expect "/jobs/:jobid/taskmanagers/:tmid/log-url" 200
jexpect "taskmanager log-url" "$J" 'd["url"]' "http://127.0.0.1:$REST_PORT/#/task-manager/$TMID/logs"

rest_call GET "/jobs/00000000000000000000000000000000/jobmanager/config" "$J"
code_expect "unknown job config" 404
rest_call GET "/jobs/xyz/jobmanager/config" "$J"
code_expect "bad job id config" 400
rest_call GET "/jobs/$JID/taskmanagers/a%252fb/log-url" "$J"
code_expect "bad taskmanager id" 400
rest_call DELETE /jobmanager/log "$J"
code_expect "DELETE /jobmanager/log" 405
jexpect "405 has errors" "$J" 'len(d["errors"])' 1

# The JobManager survived all of it.
rest_call GET /overview "$J"
code_expect "/overview after bad input" 200
finish

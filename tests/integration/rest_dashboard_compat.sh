#!/usr/bin/env bash
# Flink's own web dashboard (release 2.2) against a cflink JobManager:
# every REST call the dashboard makes (FLINK_INTERFACES.md section 6.2)
# is sent with real ids and its JSON is checked against the fields and
# types the dashboard's TypeScript interfaces read (dashboard_schema.py,
# a JSON path per problem). Cluster: a JobManager and one TaskManager with
# 2 slots; jobs: a finished one (tp_stateful --events), a running one
# checkpointing every 300 ms (the checkpoint pages, with a completed
# checkpoint) and one cancelled with the dashboard's cancel call
# (GET /jobs/:id/yarn-cancel). Also the error format the dashboard's
# interceptor reads ({"errors":[...]}: 404 routes, 405 methods, unknown
# ids), Content-Type and the CORS header.
#
# Lines "GAP" are known, documented differences
# (docs/internals/dashboard-compat.md) that do not fail the test.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_stateful.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
cluster_trap
SCHEMA="$(dirname "$0")/dashboard_schema.py"
T0=$SECONDS

submit() { # OUT ARGS...: cflink run -d; sets JID
    local out=$1
    shift
    run_cf "$out" "$out.err" 30 run -d -m "127.0.0.1:$REST_PORT" "$@"
    JID=$(sed -nE 's/^Job has been submitted with JobID ([0-9a-f]{32})$/\1/p' "$out")
}

CHK="$WORK/chk"
mkdir -p "$CHK"
# Task counters and rates reach the JobManager with the heartbeats (like
# Flink's metric fetcher, every 10 s by default): 500 ms here, so that
# the running job's figures are there after a second.
HB=(-D heartbeat.interval=500ms)
cluster_start_jm "${HB[@]}" || { fail "JobManager start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2 "${HB[@]}"
cluster_wait_tms 1 30 && ok "TaskManager registered" || { fail "TaskManager registered"; finish; }

# ---- a finished job ------------------------------------------------------
submit "$WORK/b.txt" -p 1 "$PLUGIN" --keys 4 --events 40 --rate 0 --discard
B=$JID
[ -n "$B" ] && ok "finished job submitted" || { fail "job B: $(cat "$WORK/b.txt" "$WORK/b.txt.err")"; finish; }
st=$(cluster_wait_job_done "$B" 30) || true
expect_eq "job B finished" SUCCEEDED "$st"

# ---- a running job with checkpoints and one to cancel --------------------
submit "$WORK/a.txt" -D execution.checkpointing.interval=300ms \
    -D "execution.checkpointing.dir=$CHK" -p 1 "$PLUGIN" --keys 8 --rate 200 --discard
A=$JID
[ -n "$A" ] && ok "running job submitted" || { fail "job A: $(cat "$WORK/a.txt" "$WORK/a.txt.err")"; finish; }
submit "$WORK/c.txt" -p 1 "$PLUGIN" --keys 8 --rate 200 --discard
C=$JID
[ -n "$C" ] && ok "job to cancel submitted" || { fail "job C: $(cat "$WORK/c.txt" "$WORK/c.txt.err")"; finish; }
cluster_wait_running "$A" 30 || fail "job A running"
cluster_wait_running "$C" 30 || fail "job C running"

# The first completed checkpoint (the checkpoint pages need one).
for ((i = 0; i < 200; i++)); do
    rest_call GET "/jobs/$A/checkpoints" "$WORK/ck.json"
    if [ "$HTTP_CODE" = 200 ] &&
        [ "$(json_py "$WORK/ck.json" '(d.get("counts") or {}).get("completed", 0)')" -ge 1 ]; then
        break
    fi
    sleep 0.1
done
[ "$(json_py "$WORK/ck.json" '(d.get("counts") or {}).get("completed", 0)' 2>/dev/null)" -ge 1 ] 2>/dev/null &&
    ok "job A completed a checkpoint" || fail "job A: no completed checkpoint: $(cat "$WORK/ck.json")"
# Let the rates and the busy/back-pressure ratios have a sample or two.
sleep 1.2

# ---- every dashboard call, checked by the schema ---------------------------
set +e
/usr/bin/python3 - "$REST_PORT" "$A" "$B" "$C" "$SCHEMA" >"$WORK/compat.out" 2>&1 <<'PY'
import http.client, json, re, sys, time, importlib.util
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

port, A, B, C, schema_path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
spec = importlib.util.spec_from_file_location("dashboard_schema", schema_path)
ds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ds)

# Known differences that do not fail the test (documented).
GAPS = ()

fails = 0
seen = set()
def out(kind, label, msg=""):
    global fails
    if kind == "FAIL":
        key = label.split(" ")[0]
        if key in GAPS:
            kind = "GAP"
        if kind != "GAP":
            fails += 1
    print("%s: %s%s" % (kind, label, (": " + msg) if msg else ""), flush=True)

def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
    except Exception as e:  # a hang or a reset
        return 0, {}, repr(e).encode()
    finally:
        c.close()

def get_json(label, path, schema, status=200, extra=None):
    """GET path, check status, Content-Type, CORS, JSON and schema; the
    parsed document (None on failure)."""
    st, h, data = req("GET", path)
    if st != status:
        out("FAIL", label, "GET %s: HTTP %d (expected %d) %s" % (path, st, status, data[:200].decode("utf-8", "replace")))
        return None
    ct = h.get("content-type", "")
    if not ct.startswith("application/json"):
        out("FAIL", label, "GET %s: Content-Type %r" % (path, ct))
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError as e:
        out("FAIL", label, "GET %s: not JSON: %s" % (path, e))
        return None
    problems = ds.check(ds.SCHEMAS[schema], doc)
    if extra is not None and not problems:
        try:
            msg = extra(doc)
        except Exception as e:
            msg = "check raised %r" % e
        if msg:
            problems.append(msg)
    if problems:
        # The same problem on every vertex of every job is printed once
        # (ids masked) and counted once per endpoint kind.
        kind = label.split(" ")[-1]
        new = []
        for p in problems:
            key = (kind, re.sub(r"[0-9a-f]{32}", "<id>", p))
            if key not in seen:
                seen.add(key)
                new.append(p)
        for p in new[:8]:
            out("FAIL", label, "GET %s: %s" % (path, p))
        if len(new) > 8:
            out("FAIL", label, "GET %s: ... and %d more problems: %s" %
                (path, len(new) - 8, "; ".join(x.split(":")[0] for x in new[8:])))
        return None
    out("ok", label, "GET %s" % path)
    return doc

def get_text(label, path):
    st, h, data = req("GET", path)
    ct = h.get("content-type", "")
    if st != 200:
        out("FAIL", label, "GET %s: HTTP %d %s" % (path, st, data[:200].decode("utf-8", "replace")))
    elif not ct.startswith("text/plain"):
        out("FAIL", label, "GET %s: Content-Type %r (the dashboard reads text)" % (path, ct))
    else:
        out("ok", label, "GET %s (%d bytes)" % (path, len(data)))

def expect_error(label, method, path, codes):
    st, h, data = req(method, path)
    try:
        doc = json.loads(data.decode("utf-8"))
        problems = ds.check(ds.SCHEMAS["errors"], doc)
    except ValueError:
        problems = ["not JSON: %r" % data[:100]]
    if st not in codes:
        out("FAIL", label, "%s %s: HTTP %d, expected %s" % (method, path, st, codes))
    elif problems:
        out("FAIL", label, "%s %s: error body %s" % (method, path, problems[0]))
    else:
        out("ok", label, "%s %s -> %d %s" % (method, path, st, doc["errors"][0][:60]))

# ---- start-up, overview, job lists
cfg = get_json("config", "/config", "config")
get_json("overview", "/overview", "overview",
         extra=lambda d: None if d["taskmanagers"] == 1 and d["slots-total"] == 2 and d["jobs-running"] >= 1
         and d["jobs-finished"] >= 1 else "counts %r" % d)
get_json("jobs", "/jobs", "jobs")

def overview_states(d):
    st = dict((j["jid"], j["state"]) for j in d["jobs"])
    return None if st.get(A) == "RUNNING" and st.get(B) == "FINISHED" else "states %r" % st
get_json("jobs_overview", "/jobs/overview", "jobs_overview", extra=overview_states)

# ---- TaskManagers
tms = get_json("taskmanagers", "/taskmanagers", "taskmanagers")
tmid = tms["taskmanagers"][0]["id"] if tms else None
if tmid is None:
    st, _, data = req("GET", "/taskmanagers")
    try:
        tmid = json.loads(data)["taskmanagers"][0]["id"]
    except Exception:
        tmid = "unknown"
from urllib.parse import quote
T = quote(tmid, safe="")
# Job A runs on this TaskManager: its slots hold its tasks.
get_json("taskmanager", "/taskmanagers/%s" % T, "taskmanager",
         extra=lambda d: None if sum(s["assignedTasks"] for s in d["allocatedSlots"]
                                     if s["jobId"] == A) > 0
         else "no assignedTasks for job A: %r" % d["allocatedSlots"])
# The dashboard puts the id into the URL as it is (":" not encoded).
get_json("taskmanager(raw id)", "/taskmanagers/%s" % tmid, "taskmanager")
ml = get_json("tm_metrics_list", "/taskmanagers/%s/metrics" % T, "tm_metrics_list")
if ml:
    ids = [m["id"] for m in ml][:5]
    get_json("tm_metrics_get", "/taskmanagers/%s/metrics?get=%s" % (T, ",".join(ids)), "tm_metrics_get")
# What the TaskManager metrics page asks for (2.2 UI).
# What the TaskManager metrics page asks for (2.2 UI), less the JVM's
# Status.JVM.Memory.* (cflink has no JVM: its process figures are
# Status.Process.*, docs/user-guide/metrics.md; the page shows those ids
# empty), plus the process figures that replace them.
TM_UI = ["Status.Flink.Memory.Managed.Used", "Status.Flink.Memory.Managed.Total",
         "Status.Shuffle.Netty.UsedMemory", "Status.Shuffle.Netty.TotalMemory",
         "Status.Process.CPU.Load", "Status.Process.Memory.RSS",
         "Status.Process.Threads.Count"]
def has_all(names):
    def f(d):
        got = set(m["id"] for m in d)
        miss = [n for n in names if n not in got]
        return ("missing %s" % ",".join(miss)) if miss else None
    return f
get_json("tm_ui_metrics", "/taskmanagers/%s/metrics?get=%s" % (T, ",".join(TM_UI)), "tm_metrics_get",
         extra=has_all(TM_UI))
get_text("tm_log", "/taskmanagers/%s/log" % T)
get_text("tm_stdout", "/taskmanagers/%s/stdout" % T)
tl = get_json("tm_logs", "/taskmanagers/%s/logs" % T, "tm_logs",
              extra=lambda d: None if d["logs"] else "empty log list")
if tl:
    get_text("tm_log_named", "/taskmanagers/%s/logs/%s" % (T, quote(tl["logs"][0]["name"], safe="")))
else:
    out("FAIL", "tm_log_named", "no log name to ask for")
get_json("tm_thread_dump", "/taskmanagers/%s/thread-dump" % T, "tm_thread_dump")

# ---- JobManager pages
get_json("jm_config", "/jobmanager/config", "jm_config")
get_json("jm_environment", "/jobmanager/environment", "jm_environment")
jl = get_json("jm_metrics_list", "/jobmanager/metrics", "jm_metrics_list")
if jl:
    ids = [m["id"] for m in jl][:5]
    get_json("jm_metrics_get", "/jobmanager/metrics?get=%s" % ",".join(ids), "jm_metrics_get")
JM_UI = ["Status.Process.CPU.Load", "Status.Process.Memory.RSS",
         "Status.Process.Threads.Count", "numRegisteredTaskManagers",
         "taskSlotsTotal"]
get_json("jm_ui_metrics", "/jobmanager/metrics?get=%s" % ",".join(JM_UI), "jm_metrics_get",
         extra=has_all(JM_UI))
get_text("jm_log", "/jobmanager/log")
get_text("jm_stdout", "/jobmanager/stdout")
logs = get_json("jm_logs", "/jobmanager/logs", "jm_logs",
                extra=lambda d: None if d["logs"] else "empty log list")
if logs:
    get_text("jm_log_named", "/jobmanager/logs/%s" % quote(logs["logs"][0]["name"], safe=""))
get_json("jm_thread_dump", "/jobmanager/thread-dump", "jm_thread_dump")

# ---- submit page
get_json("jars", "/jars", "jars")

# ---- one job, every tab
def job_pages(tag, jid, running):
    def plan_join(d):
        vids = [v["id"] for v in d["vertices"]]
        nids = [n["id"] for n in d["plan"]["nodes"]]
        if sorted(vids) != sorted(nids):
            return "plan.nodes ids %r != vertices ids %r (the graph joins them)" % (nids, vids)
        for v in d["vertices"]:
            if sum(v["tasks"].values()) != v["parallelism"]:
                return "vertex %s: tasks %r do not sum to parallelism" % (v["id"], v["tasks"])
        for n in d["plan"]["nodes"]:
            for i in n.get("inputs", []):
                if i["id"] not in vids:
                    return "plan input %s is no vertex" % i["id"]
        return None
    job = get_json(tag + " job", "/jobs/%s" % jid, "job", extra=plan_join)
    get_json(tag + " job_status", "/jobs/%s/status" % jid, "job_status")
    get_json(tag + " job_plan", "/jobs/%s/plan" % jid, "job_plan")
    get_json(tag + " job_config", "/jobs/%s/config" % jid, "job_config")
    get_json(tag + " job_exceptions", "/jobs/%s/exceptions?maxExceptions=10" % jid, "job_exceptions")
    get_json(tag + " job_accumulators", "/jobs/%s/accumulators" % jid, "job_accumulators")
    get_json(tag + " jm_config", "/jobs/%s/jobmanager/config" % jid, "jm_config")
    get_json(tag + " jm_environment", "/jobs/%s/jobmanager/environment" % jid, "jm_environment")
    get_json(tag + " log_url", "/jobs/%s/jobmanager/log-url" % jid, "log_url")
    get_json(tag + " tm_log_url", "/jobs/%s/taskmanagers/%s/log-url" % (jid, T), "log_url")
    if job is None:
        st, _, data = req("GET", "/jobs/%s" % jid)
        try:
            job = json.loads(data)
        except ValueError:
            return
    for v in job.get("vertices", []):
        vid = v["id"]
        base = "/jobs/%s/vertices/%s" % (jid, vid)
        get_json(tag + " vertex", base, "vertex")
        get_json(tag + " vertex_subtasktimes", base + "/subtasktimes", "vertex_subtasktimes")
        get_json(tag + " vertex_taskmanagers", base + "/taskmanagers", "vertex_taskmanagers")
        get_json(tag + " vertex_backpressure", base + "/backpressure", "vertex_backpressure")
        get_json(tag + " vertex_accumulators", base + "/accumulators", "vertex_accumulators")
        get_json(tag + " subtasks_accumulators", base + "/subtasks/accumulators", "subtasks_accumulators")
        get_json(tag + " vertex_watermarks", base + "/watermarks", "vertex_watermarks",
                 extra=lambda d: None if all(w["id"].endswith(".currentInputWatermark") for w in d)
                 else "ids %r" % [w["id"] for w in d])
        if running:
            ml = get_json(tag + " vertex_metrics_list", base + "/metrics", "vertex_metrics_list")
            if ml:
                ids = [m["id"] for m in ml][:4]
                get_json(tag + " vertex_metrics_get", base + "/metrics?get=" + ",".join(ids), "vertex_metrics_get")
            get_json(tag + " subtasks_metrics_list", base + "/subtasks/metrics", "subtasks_metrics_list")
            # The job graph asks for these three (job-overview component).
            G = ["backPressuredTimeMsPerSecond", "busyTimeMsPerSecond", "numRecordsInPerSecond"]
            get_json("graph_metrics " + tag, base + "/subtasks/metrics?get=" + ",".join(G),
                     "subtasks_metrics_get", extra=has_all(G))
            get_json(tag + " subtasks_metrics_agg", base + "/subtasks/metrics?get=numRecordsIn&agg=min,max,avg,sum,skew",
                     "subtasks_metrics_get")
            get_json("flamegraph " + tag, base + "/flamegraph?type=FULL", "flamegraph")
    if running:
        ml = get_json("job_metrics_list", "/jobs/%s/metrics" % jid, "job_metrics_list")
        if ml:
            ids = [m["id"] for m in ml][:4]
            get_json("job_metrics_get", "/jobs/%s/metrics?get=%s" % (jid, ",".join(ids)), "job_metrics_get")
    return job

jobA = job_pages("A(running)", A, True)
# The job runs at 200 records/s: after a checkpoint and more than a
# second the dashboard's Records Sent/Received columns are not all 0.
def io_nonzero(d):
    w = sum(v["metrics"]["write-records"] for v in d["vertices"])
    r = sum(v["metrics"]["read-records"] for v in d["vertices"])
    return None if w > 0 and r > 0 else "vertices[].metrics write-records sum %d, read-records sum %d (expected > 0)" % (w, r)
get_json("io_counts A(running)", "/jobs/%s" % A, "job", extra=io_nonzero)

# ---- checkpoints of A
ck = get_json("checkpoints", "/jobs/%s/checkpoints" % A, "checkpoints",
              extra=lambda d: None if d["latest"]["completed"] else "latest.completed is null")
get_json("checkpoints_config", "/jobs/%s/checkpoints/config" % A, "checkpoints_config")
if ck:
    cid = ck["latest"]["completed"]["id"]
    det = get_json("checkpoint_details", "/jobs/%s/checkpoints/details/%d" % (A, cid), "checkpoint_details",
                   extra=lambda d: None if d["tasks"] else "tasks is empty (the details page lists vertices from it)")
    for vid in (det or {}).get("tasks", {}):
        get_json("checkpoint_subtasks", "/jobs/%s/checkpoints/details/%d/subtasks/%s" % (A, cid, vid),
                 "checkpoint_subtasks")

# ---- the cancel button, then the cancelled job
st, h, data = req("GET", "/jobs/%s/yarn-cancel" % C)
if st == 202 and json.loads(data or b"{}") == {}:
    out("ok", "cancel", "GET /jobs/C/yarn-cancel -> 202 {}")
else:
    out("FAIL", "cancel", "GET /jobs/%s/yarn-cancel: HTTP %d %r" % (C, st, data[:200]))
for i in range(100):
    st, h, data = req("GET", "/jobs/%s/status" % C)
    if st == 200 and json.loads(data)["status"] == "CANCELED":
        break
    time.sleep(0.1)
def canceled(d):
    st = dict((j["jid"], j["state"]) for j in d["jobs"])
    return None if st.get(C) == "CANCELED" else "job C state %r" % st.get(C)
get_json("jobs_overview(cancelled)", "/jobs/overview", "jobs_overview", extra=canceled)
job_pages("C(cancelled)", C, False)
job_pages("B(finished)", B, False)
get_json("overview(after)", "/overview", "overview",
         extra=lambda d: None if d["jobs-cancelled"] >= 1 and d["jobs-finished"] >= 1 else "counts %r" % d)
# The checkpoint tab of a job without checkpointing: an error the
# dashboard ignores (URL ends in "checkpoints"), still {"errors":[...]}.
expect_error("checkpoints(disabled)", "GET", "/jobs/%s/checkpoints" % B, (404,))

# ---- error format (app.interceptor.ts shows errors[0])
Z = "0123456789abcdef0123456789abcdef"
vid0 = jobA["vertices"][0]["id"] if jobA else Z
expect_error("404 route", "GET", "/no/such/route", (404,))
expect_error("404 version", "GET", "/v99/overview", (404,))
expect_error("405 method", "DELETE", "/overview", (405,))
expect_error("405 method on job", "POST", "/jobs/%s/status" % A, (405,))
expect_error("unknown job", "GET", "/jobs/" + Z, (404,))
expect_error("malformed job id", "GET", "/jobs/xyz", (400, 404))
expect_error("unknown vertex", "GET", "/jobs/%s/vertices/%s" % (A, Z), (404,))
expect_error("unknown checkpoint", "GET", "/jobs/%s/checkpoints/details/987654" % A, (404,))
expect_error("unknown taskmanager", "GET", "/taskmanagers/nosuch-tm", (404,))
expect_error("unknown jm log", "GET", "/jobmanager/logs/nosuch.log", (404,))
expect_error("unknown tm log", "GET", "/taskmanagers/%s/logs/nosuch.log" % T, (404,))
expect_error("cancel unknown job", "GET", "/jobs/%s/yarn-cancel" % Z, (404,))
st, h, data = req("GET", "/v1/overview")
if st == 200:
    out("ok", "/v1 prefix", "GET /v1/overview -> 200")
else:
    out("FAIL", "/v1 prefix", "GET /v1/overview -> %d" % st)
st, h, data = req("GET", "/overview")
if h.get("access-control-allow-origin") == "*":
    out("ok", "CORS", "Access-Control-Allow-Origin: *")
else:
    out("FAIL", "CORS", "Access-Control-Allow-Origin %r" % h.get("access-control-allow-origin"))
if cfg and cfg["features"]["web-rescale"]:
    get_json("job_resource_requirements", "/jobs/%s/resource-requirements" % A, "job_resource_requirements")
print("python-failures: %d" % fails)
sys.exit(1 if fails else 0)
PY
prc=$?
set -e
cat "$WORK/compat.out"
n_ok=$(grep -c '^ok: ' "$WORK/compat.out" || true)
n_fail=$(grep -c '^FAIL: ' "$WORK/compat.out" || true)
n_gap=$(grep -c '^GAP: ' "$WORK/compat.out" || true)
CHECKS=$((CHECKS + n_ok))
FAILURES=$((FAILURES + n_fail))
[ "$prc" -eq 0 ] || [ "$n_fail" -gt 0 ] || fail "checker exited $prc"
echo "summary: $n_ok ok, $n_fail failed, $n_gap known gaps"

# The JobManager is still up.
rest_call GET /overview "$WORK/o.json"
expect_eq "JobManager answers /overview at the end" 200 "$HTTP_CODE"
echo "run time: $((SECONDS - T0)) s"
finish

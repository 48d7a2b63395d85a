#!/usr/bin/env bash
# Hostile path and query parameters on every REST route the JobManager
# registers (the list below is collected from the route tables in
# src/jobmanager/rest_*.c, plus the routes other work is adding: keep it
# in sync). Each :param is replaced, one at a time, by hostile values
# (dot segments, double-encoded slashes, NUL, invalid UTF-8, raw UTF-8, a
# 2000-char string, negative and overflowing numbers, an unknown 32-hex
# id) while the other params are real ids of a running job. Expected: a
# 4xx with a JSON {"errors":[...]} body; never a 5xx, never a 200, never a
# file's content, never a hang (5 s per request). Query parameters (get=,
# agg=, maxExceptions=, mode=, type=, subtaskindex=) with hostile values:
# never a 5xx or a hang, a JSON body, {"errors":[...]} on a 4xx, and a
# hostile mode= never cancels the job. Afterwards the JobManager still
# answers /overview and is alive.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_stateful.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
cluster_trap
T0=$SECONDS

CHK="$WORK/chk"
mkdir -p "$CHK"
cluster_start_jm || { fail "JobManager start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2
cluster_wait_tms 1 30 && ok "TaskManager registered" || { fail "TaskManager registered"; finish; }

run_cf "$WORK/a.txt" "$WORK/a.err" 30 run -d -m "127.0.0.1:$REST_PORT" \
    -D execution.checkpointing.interval=300ms -D "execution.checkpointing.dir=$CHK" \
    -p 1 "$PLUGIN" --keys 8 --rate 200 --discard
A=$(sed -nE 's/^Job has been submitted with JobID ([0-9a-f]{32})$/\1/p' "$WORK/a.txt")
[ -n "$A" ] && ok "job submitted" || { fail "job: $(cat "$WORK/a.txt" "$WORK/a.err")"; finish; }
cluster_wait_running "$A" 30 || fail "job running"
rest_call POST /jars/upload "$WORK/up.json" -F "jarfile=@$PLUGIN"
JAR=$(json_py "$WORK/up.json" 'd["filename"].rsplit("/", 1)[-1]' 2>/dev/null || echo none)
for ((i = 0; i < 100; i++)); do
    rest_call GET "/jobs/$A/checkpoints" "$WORK/ck.json"
    [ "$HTTP_CODE" = 200 ] && [ "$(json_py "$WORK/ck.json" 'd["counts"]["completed"]')" -ge 1 ] && break
    sleep 0.1
done

set +e
/usr/bin/python3 - "$REST_PORT" "$A" "$JAR" "$JM_PID" "$JM_LOG" >"$WORK/hostile.out" 2>&1 <<'PY'
import json, os, socket, sys, time

port, A, JAR, JM_PID = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
JM_LOG = sys.argv[5]

# Every route pattern the JobManager registers (grep '{"GET"' etc. in
# src/jobmanager/rest_*.c and cf_rest_route calls). "*" marks routes other
# work is adding now (TaskManager ops, metrics): a 404 for those is fine.
ROUTES = """
GET /config
GET /overview
GET /jobs
GET /jobs/overview
GET /jobs/:jobid
PATCH /jobs/:jobid
PATCH /jobs/:jobid/clientHeartbeat
GET /jobs/:jobid/plan
GET /jobs/:jobid/status
GET /jobs/:jobid/config
GET /jobs/:jobid/exceptions
GET /jobs/:jobid/execution-result
GET /jobs/:jobid/yarn-cancel
GET /jobs/:jobid/accumulators
GET /jobs/:jobid/vertices/:vertexid
GET /jobs/:jobid/vertices/:vertexid/metrics
GET /jobs/:jobid/vertices/:vertexid/subtasks/metrics
GET /jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/metrics
GET /jobs/:jobid/vertices/:vertexid/jm-operator-metrics
GET /jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex
GET /jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt
GET /jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt/accumulators
GET /jobs/:jobid/vertices/:vertexid/watermarks
GET /jobs/:jobid/vertices/:vertexid/subtasktimes
GET /jobs/:jobid/vertices/:vertexid/taskmanagers
GET /jobs/:jobid/vertices/:vertexid/backpressure
GET /jobs/:jobid/vertices/:vertexid/accumulators
GET /jobs/:jobid/vertices/:vertexid/subtasks/accumulators
GET /jobs/:jobid/checkpoints
POST /jobs/:jobid/checkpoints
GET /jobs/:jobid/checkpoints/config
GET /jobs/:jobid/checkpoints/details/:checkpointid
GET /jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid
GET /jobs/:jobid/checkpoints/:triggerid
POST /jobs/:jobid/savepoints
GET /jobs/:jobid/savepoints/:triggerid
POST /jobs/:jobid/stop
GET /savepoint-disposal/:triggerid
GET /jobs/:jobid/jobmanager/config
GET /jobs/:jobid/jobmanager/environment
GET /jobs/:jobid/jobmanager/log-url
GET /jobs/:jobid/taskmanagers/:taskmanagerid/log-url
GET /taskmanagers
GET /taskmanagers/:taskmanagerid
GET /jobmanager/config
GET /jobmanager/environment
GET /jobmanager/log
GET /jobmanager/stdout
GET /jobmanager/logs
GET /jobmanager/logs/:filename
GET /jobmanager/thread-dump
GET /jars
POST /jars/:jarid/run
GET /jars/:jarid/plan
POST /jars/:jarid/plan
DELETE /jars/:jarid
* GET /jobs/:jobid/metrics
* GET /jobmanager/metrics
* GET /taskmanagers/:taskmanagerid/metrics
* GET /taskmanagers/:taskmanagerid/log
* GET /taskmanagers/:taskmanagerid/stdout
* GET /taskmanagers/:taskmanagerid/logs
* GET /taskmanagers/:taskmanagerid/logs/:filename
* GET /taskmanagers/:taskmanagerid/thread-dump
"""

Z = "0123456789abcdef0123456789abcdef"
HOSTILE = [
    b"..", b"%2e%2e", b"%252e%252e%252f", b"%2fetc%2fpasswd",
    b"..%2f..%2f..%2f..%2fetc%2fpasswd", b"%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    b"a%00b", b"x" * 2000, b"%ff%fe", b"%C3%A9t%C3%A9%E2%98%83",
    "\u00e9t\u00e9\u2603".encode("utf-8"), b"-1", b"99999999999999999999",
    Z.encode(), b"%20", b"a%0d%0aX-Injected:%201",
    b"%2e%2e%5c%2e%2e%5cetc%5cpasswd", b"....%2f%2f....%2f%2fetc%2fpasswd",
    # The JobManager's own log by absolute path: Flink resolves a file
    # name inside the log directory only (404).
    JM_LOG.replace("/", "%2f").encode(),
]
PASSWD_MARK = b"root:x:0:0"

def raw(method, path, body=b"", ctype=None):
    """One request over a fresh socket: (status, headers, body); status 0
    on a hang (5 s) or a reset."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (method.encode(), path)
        if body or method in ("POST", "PUT", "PATCH"):
            head += b"Content-Type: %s\r\nContent-Length: %d\r\n" % ((ctype or "application/json").encode(), len(body))
        s.sendall(head + b"\r\n" + body)
        data = b""
        t0 = time.time()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if time.time() - t0 > 5:
                return 0, {}, b"timeout"
    except (socket.timeout, OSError) as e:
        return 0, {}, repr(e).encode()
    finally:
        s.close()
    hdr, _, payload = data.partition(b"\r\n\r\n")
    lines = hdr.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return -1, {}, data[:200]
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", payload
        while rest:
            n, _, rest = rest.partition(b"\r\n")
            try:
                n = int(n.split(b";")[0], 16)
            except ValueError:
                break
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        payload = out
    return status, headers, payload

def js(method, path):
    st, h, b = raw(method, path.encode())
    return st, json.loads(b) if st == 200 else None

# Real ids for the params that are not under attack.
_, job = js("GET", "/jobs/" + A)
V = job["vertices"][0]["id"]
_, tms = js("GET", "/taskmanagers")
TM = tms["taskmanagers"][0]["id"]
_, ck = js("GET", "/jobs/%s/checkpoints" % A)
CID = str(((ck or {}).get("latest") or {}).get("completed", {}).get("id", 1))
_, logs = js("GET", "/jobmanager/logs")
LOG = (logs or {}).get("logs", [{"name": "jobmanager.log"}])[0]["name"]
from urllib.parse import quote
VALID = {"jobid": A, "vertexid": V, "taskmanagerid": quote(TM, safe=""),
         "checkpointid": CID, "triggerid": Z, "subtaskindex": "0", "attempt": "0",
         "filename": LOG, "jarid": JAR}

fails = []
checks = 0
def bad(what):
    fails.append(what)
    print("FAIL: " + what, flush=True)

def flink_200(pattern, param, b):
    """Where Flink itself answers 200 to an unknown id, so cflink may too:
    the metrics handlers answer [] when the metric store has no such
    job/vertex/subtask/TaskManager (AbstractMetricsHandler), back pressure
    answers {"status":"deprecated"} (JobVertexBackPressureHandler), and the
    TaskManager log-url only substitutes the id into a URL pattern
    (GeneratedLogUrlHandler). Never with a file's content."""
    try:
        doc = json.loads(b.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    if pattern.endswith("/metrics") or pattern.endswith("/jm-operator-metrics"):
        return doc == []
    if pattern.endswith("/backpressure"):
        return doc == {"status": "deprecated"}
    if pattern.endswith("/log-url") and param == "taskmanagerid":
        return isinstance(doc, dict) and list(doc) == ["url"] and "\n" not in doc["url"]
    return False

def check_error_reply(label, st, h, b, allow_200=False):
    global checks
    checks += 1
    if PASSWD_MARK in b:
        bad("%s: served /etc/passwd (HTTP %d)" % (label, st))
        return
    if st == 0:
        bad("%s: no answer within 5 s (%s)" % (label, b[:80]))
        return
    if st < 0 or st >= 500:
        bad("%s: HTTP %d %s" % (label, st, b[:200]))
        return
    if st < 400 and not allow_200:
        bad("%s: HTTP %d (expected 4xx) %s" % (label, st, b[:120]))
        return
    try:
        doc = json.loads(b.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        bad("%s: HTTP %d, body not JSON: %r" % (label, st, b[:120]))
        return
    if st >= 400:
        e = doc.get("errors") if isinstance(doc, dict) else None
        if not (isinstance(e, list) and e and all(isinstance(x, str) for x in e)):
            bad("%s: HTTP %d, no {\"errors\":[...]}: %r" % (label, st, b[:120]))
    for k in h:
        if k.startswith("x-injected"):
            bad("%s: header injection (%s)" % (label, k))

routes = []
for line in ROUTES.strip().splitlines():
    parts = line.split()
    pending = parts[0] == "*"
    if pending:
        parts = parts[1:]
    routes.append((parts[0], parts[1], pending))

n_req = 0
for method, pattern, pending in routes:
    segs = pattern.strip("/").split("/")
    params = [i for i, s in enumerate(segs) if s.startswith(":")]
    for pi in params:
        for hv in HOSTILE:
            path = b""
            for i, s in enumerate(segs):
                if i == pi:
                    v = hv
                elif s.startswith(":"):
                    v = VALID[s[1:]].encode()
                else:
                    v = s.encode()
                path += b"/" + v
            for prefix in (b"", b"/v1") if hv in (b"..", Z.encode()) else (b"",):
                p = prefix + path
                body = b"{}" if method in ("POST", "PATCH") else b""
                st, h, b = raw(method, p, body)
                n_req += 1
                label = "%s %s" % (method, p.decode("utf-8", "replace")[:160])
                # A route still missing ("*") answers 404 {"errors"}: fine.
                check_error_reply(label, st, h, b,
                                  allow_200=st == 200 and flink_200(pattern, segs[pi][1:], b))

# Top-level paths aimed at a static file server (cflink.web.dir unset
# here: a 404 with {"errors":[...]} is expected).
for p in [b"/../../../../etc/passwd", b"/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
          b"/..%2f..%2f..%2fetc%2fpasswd", b"//etc/passwd", b"/%2fetc%2fpasswd",
          b"/index.html/../../etc/passwd", b"/" + b"a" * 10000, b"/a%00b",
          b"/%ff%fe", b"/jobs/" + A.encode() + b"/../../../etc/passwd",
          b"/v1/../../etc/passwd"]:
    st, h, b = raw("GET", p)
    n_req += 1
    # 414 for the 10000-char path is fine; MHD may answer it with HTML.
    if st == 414:
        continue
    check_error_reply("GET %s" % p.decode("latin-1")[:80], st, h, b)

# Query parameters: 200 allowed (unknown metric names are simply not
# listed, like Flink), never a 5xx or a hang; JSON in all cases.
QHOSTILE = [b"", b"..", b"%2e%2e%2f%2e%2e%2fetc%2fpasswd", b"a%00b", b"x" * 2000,
            b"%ff%fe", b"%C3%A9%E2%98%83", b"-1", b"99999999999999999999",
            b",,,,", b"a,b,c," * 300, b"%27%22%3Cscript%3E", b"1e308", b"NaN"]
base = "/jobs/%s/vertices/%s" % (A, V)
QROUTES = [
    ("GET", base + "/metrics?get=%s"),
    ("GET", base + "/subtasks/metrics?get=%s"),
    ("GET", base + "/subtasks/metrics?get=numRecordsIn&agg=%s"),
    ("GET", base + "/subtasks/metrics?agg=%s"),
    ("GET", base + "/subtasks/0/metrics?get=%s"),
    ("GET", base + "/flamegraph?type=%s"),
    ("GET", base + "/flamegraph?type=FULL&subtaskindex=%s"),
    ("GET", "/jobs/%s/exceptions?maxExceptions=%%s" % A),
    ("GET", "/jobs/%s/metrics?get=%%s" % A),
    ("GET", "/jobmanager/metrics?get=%s"),
    ("GET", "/taskmanagers/%s/metrics?get=%%s" % quote(TM, safe="")),
    ("GET", "/jobs/%s/checkpoints/details/%s?x=%%s" % (A, CID)),
    ("GET", "/jars/%s/plan?parallelism=%%s" % JAR),
    ("GET", "/jars/%s/plan?entry-class=%%s" % JAR),
]
for method, tmpl in QROUTES:
    for hv in QHOSTILE:
        p = tmpl.encode().replace(b"%s", hv)
        st, h, b = raw(method, p)
        n_req += 1
        check_error_reply("%s %s" % (method, p.decode("latin-1")[:140]), st, h, b, allow_200=True)

# mode= on PATCH /jobs/:jobid: Flink parses CANCEL/STOP (case-insensitive)
# and answers 400 for anything else; a hostile mode must not cancel.
# An empty mode= is last: Flink answers 400 (TerminationMode.valueOf("")).
for hv in [b"..", b"a%00b", b"x" * 2000, b"%ff%fe", b"-1", b"cancelx", b"%00cancel",
           b"CANCEL%00", b"99999999999999999999", b"stop%20", b""]:
    p = b"/jobs/" + A.encode() + b"?mode=" + hv
    st, h, b = raw("PATCH", p, b"{}")
    n_req += 1
    check_error_reply("PATCH %s" % p.decode("latin-1")[:100], st, h, b)
st, status = js("GET", "/jobs/%s/status" % A)
checks += 1
if not status or status["status"] != "RUNNING":
    bad("job not RUNNING after hostile mode= values: %r" % status)

# The JobManager survived.
checks += 1
alive = True
try:
    os.kill(JM_PID, 0)
except OSError:
    alive = False
st, h, b = raw("GET", b"/overview")
if not alive or st != 200:
    bad("JobManager after the sweep: alive=%s, /overview HTTP %d" % (alive, st))
print("requests: %d, checks: %d, failures: %d" % (n_req, checks, len(fails)))
sys.exit(1 if fails else 0)
PY
prc=$?
set -e
cat "$WORK/hostile.out"
n=$(grep -c '^FAIL: ' "$WORK/hostile.out" || true)
c=$(sed -nE 's/^requests: [0-9]+, checks: ([0-9]+),.*/\1/p' "$WORK/hostile.out")
CHECKS=$((CHECKS + ${c:-0} - n))
FAILURES=$((FAILURES + n))
[ "$prc" -eq 0 ] || [ "$n" -gt 0 ] || fail "sweep script exited $prc: $(tail -5 "$WORK/hostile.out")"
kill -0 "$JM_PID" 2>/dev/null && ok "JobManager alive" || fail "JobManager died"
rest_call GET /overview "$WORK/o.json"
expect_eq "JobManager answers /overview" 200 "$HTTP_CODE"
echo "run time: $((SECONDS - T0)) s"
finish

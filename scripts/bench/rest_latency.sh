#!/usr/bin/env bash
# rest_latency: latency of the JobManager's REST API under the load of web
# UI pollers. Builds nothing: it runs the daemons of a built tree.
#
# Starts a JobManager and a TaskManager (8 slots) on 127.0.0.1 with
# ephemeral ports, logs in a temporary directory, then
#   1. runs 50 short bounded jobs to completion (tests/plugins/tp_pipeline
#      --n 20, parallelism 1), so that the JobManager keeps 50 finished
#      jobs in its history (jobstore.max-capacity, default 1000) and
#      /overview counts them;
#   2. starts one job that keeps running (tests/plugins/tp_slow: a sink
#      that sleeps 1 ms per record, effectively unbounded);
#   3. loads three endpoints in turn with wrk, 20 keep-alive connections
#      (20 pollers asking back-to-back, a worst case for 20 open web UIs)
#      on 2 threads for --duration (default 10 s) each:
#        GET /config          the baseline: a constant answer, the
#                             cheapest handler, measured in the same run
#        GET /overview        cluster counts over all 51 jobs
#        GET /jobs/<running>  the detail of the running job
#      and prints p50, p90, p99 latency and requests/s per endpoint, each
#      endpoint's p50 relative to the baseline's, and PASS or FAIL against
#      the target "p50 < 5 ms" (20 connections);
#   4. the same three endpoints with 1 connection (--duration1, default
#      3 s): the latency of a lone request (p50).
# Everything it started is killed on exit. Exits non-zero only when the
# benchmark cannot run (a daemon does not start, a job fails, no wrk).
#
#   scripts/bench/rest_latency.sh [BUILD_DIR] [--duration S] [--duration1 S]
#                                 [--jobs N] [--keep]
#     BUILD_DIR        built tree (default: $CF_BUILD_DIR, else build/)
#     --duration S     seconds of each 20-connection run (default 10)
#     --duration1 S    seconds of each 1-connection run (default 3)
#     --jobs N         finished jobs in the history (default 50)
#     --keep           keep the temporary directory (logs)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${CF_BUILD_DIR:-build}
DURATION=10
DURATION1=3
JOBS=50
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --duration1) DURATION1=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help)
        sed -n '2,35{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    -*) echo "rest_latency: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) build=$1; shift ;;
    esac
done
case "$build" in /*) ;; *) build=$root/$build ;; esac

JM_BIN=$build/bin/cflink-jobmanager
TM_BIN=$build/bin/cflink-taskmanager
SHORT=$build/tests/plugins/tp_pipeline.so
LONG=$build/tests/plugins/tp_slow.so
for f in "$JM_BIN" "$TM_BIN" "$SHORT" "$LONG"; do
    if [ ! -e "$f" ]; then
        echo "rest_latency: $f is not built (build the tree first: scripts/setup.sh)" >&2
        exit 1
    fi
done
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || {
        echo "rest_latency: $tool is required (scripts/setup.sh installs it)" >&2
        exit 1
    }
done

BENCH_NAME=rest_latency
# shellcheck source=daemons.bash
source "$root/scripts/bench/daemons.bash"

# The web UI is not what is measured: -D cflink.web.dir= turns it off.
"$JM_BIN" -D rest.port=0 -D rest.bind-port=0 -D rest.address=127.0.0.1 \
    -D rest.bind-address=127.0.0.1 -D jobmanager.rpc.port=0 \
    -D jobmanager.rpc.address=127.0.0.1 -D jobmanager.bind-host=127.0.0.1 \
    -D web.tmpdir="$WORK" -D jobstore.max-capacity=1000 \
    -D cflink.web.dir= \
    --log-file "$WORK/jobmanager.log" >"$WORK/jobmanager.out" 2>&1 &
JM_PID=$!
PIDS+=("$JM_PID")
l1=$(wait_log "$WORK/jobmanager.log" 'RPC endpoint listening at [^ ]+:[0-9]+') ||
    die_logs "the JobManager did not start"
l2=$(wait_log "$WORK/jobmanager.log" 'Rest endpoint listening at [^ ]+:[0-9]+') ||
    die_logs "the JobManager's REST endpoint did not start"
JM_RPC_PORT=$(sed -E 's/.*listening at [^ ]+:([0-9]+).*/\1/' <<<"$l1")
REST_PORT=$(sed -E 's/.*listening at [^ ]+:([0-9]+).*/\1/' <<<"$l2")

"$TM_BIN" -D jobmanager.rpc.address=127.0.0.1 \
    -D jobmanager.rpc.port="$JM_RPC_PORT" -D taskmanager.host=127.0.0.1 \
    -D taskmanager.bind-host=127.0.0.1 -D io.tmp.dirs="$WORK" \
    -D taskmanager.numberOfTaskSlots=8 \
    --log-file "$WORK/taskmanager.log" >"$WORK/taskmanager.out" 2>&1 &
PIDS+=("$!")

export RB_REST="http://127.0.0.1:$REST_PORT" RB_SHORT="$SHORT" \
    RB_LONG="$LONG" RB_JOBS="$JOBS" RB_DURATION="$DURATION" \
    RB_DURATION1="$DURATION1" RB_JM_PID="$JM_PID"
python3 - <<'PY' || die_logs "the benchmark failed"
import http.client, json, os, platform, re, subprocess, sys, time, uuid
from urllib.parse import urlparse

REST = urlparse(os.environ["RB_REST"])
JOBS = int(os.environ["RB_JOBS"])
DURATION = int(os.environ["RB_DURATION"])
DURATION1 = int(os.environ["RB_DURATION1"])
JM_PID = int(os.environ["RB_JM_PID"])
TARGET_MS = 5.0


def fail(msg):
    print("rest_latency: " + msg, file=sys.stderr)
    sys.exit(1)


def call(method, path, body=None, headers=None, want=200):
    c = http.client.HTTPConnection(REST.hostname, REST.port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    if r.status != want:
        fail("%s %s: HTTP %d %s" % (method, path, r.status, data[:300]))
    return json.loads(data) if data else None


def upload(path):
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        content = f.read()
    body = (("--%s\r\nContent-Disposition: form-data; name=\"jarfile\"; "
             "filename=\"%s\"\r\nContent-Type: application/octet-stream"
             "\r\n\r\n") % (boundary, os.path.basename(path))).encode()
    body += content + ("\r\n--%s--\r\n" % boundary).encode()
    d = call("POST", "/jars/upload", body,
             {"Content-Type": "multipart/form-data; boundary=" + boundary})
    return d["filename"].split("/")[-1]


def run(jar, args):
    d = call("POST", "/jars/%s/run" % jar,
             json.dumps({"parallelism": 1, "programArgsList": args}).encode(),
             {"Content-Type": "application/json"})
    return d["jobid"]


def status(jid):
    return call("GET", "/jobs/%s/status" % jid)["status"]


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    fail("timed out waiting for " + what)


wait_for(lambda: call("GET", "/overview")["taskmanagers"] == 1, 30,
         "the TaskManager to register")

# 1. The history: JOBS finished jobs, submitted 8 at a time (8 slots).
short = upload(os.environ["RB_SHORT"])
t0 = time.monotonic()
done = 0
while done < JOBS:
    batch = [run(short, ["--n", "20"]) for _ in range(min(8, JOBS - done))]
    for jid in batch:
        st = wait_for(lambda: (lambda s: s if s in ("FINISHED", "FAILED",
                                                    "CANCELED") else None)(
            status(jid)), 60, "job %s to finish" % jid)
        if st != "FINISHED":
            fail("job %s ended %s" % (jid, st))
    done += len(batch)
hist_s = time.monotonic() - t0

# 2. One job that keeps running.
long_jar = upload(os.environ["RB_LONG"])
running = run(long_jar, ["--records", "1000000000", "--size", "16",
                         "--every", "1"])
wait_for(lambda: call("GET", "/jobs/%s" % running)["state"] == "RUNNING", 30,
         "the long job to run")
ov = call("GET", "/overview")
if ov.get("jobs-finished", 0) < JOBS or ov.get("jobs-running", 0) != 1:
    fail("unexpected /overview: %s" % ov)

ENDPOINTS = [("GET /config", "/config"),
             ("GET /overview", "/overview"),
             ("GET /jobs/<running>", "/jobs/" + running)]
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk(path, threads, conns, secs):
    out = subprocess.run(
        ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs,
         "--latency", "--timeout", "5s", os.environ["RB_REST"] + path],
        capture_output=True, text=True)
    if out.returncode != 0:
        fail("wrk %s: %s" % (path, out.stderr or out.stdout))
    txt = out.stdout
    pct = {}
    for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$",
                              txt, re.M):
        pct[int(p)] = float(v) * UNIT[u]
    m = re.search(r"Requests/sec:\s+([\d.]+)", txt)
    if len(pct) < 4 or m is None:
        fail("cannot read wrk's output:\n" + txt)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
    sock = re.search(r"Socket errors: (.*)", txt)
    return {"p50": pct[50], "p90": pct[90], "p99": pct[99],
            "rps": float(m.group(1)),
            "non2xx": int(errs.group(1)) if errs else 0,
            "sockerr": sock.group(1).strip() if sock else ""}


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return (int(st[11]) + int(st[12])) / hz


def model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


print("machine: %s, %d cores; JobManager and TaskManager on 127.0.0.1"
      % (model(), os.cpu_count()))
print("history: %d finished jobs (tp_pipeline, p=1) in %.1f s, 1 running"
      " (tp_slow); /overview: %d finished, %d running"
      % (JOBS, hist_s, ov["jobs-finished"], ov["jobs-running"]))
print()
print("REST latency  wrk -t2 -c20 -d%ds --latency (20 keep-alive connections"
      " asking back-to-back)" % DURATION)
print("  %-22s %8s %8s %8s %10s %9s %6s  %s" %
      ("endpoint", "p50 ms", "p90 ms", "p99 ms", "req/s", "JM cores",
       "p50/b", "target p50 < 5 ms"))
res = {}
for name, path in ENDPOINTS:
    c0, t = cpu_s(JM_PID), time.monotonic()
    r = wrk(path, 2, 20, DURATION)
    r["cores"] = (cpu_s(JM_PID) - c0) / (time.monotonic() - t)
    res[name] = r
base = res["GET /config"]["p50"]
all_ok = True
for name, _ in ENDPOINTS:
    r = res[name]
    ok = r["p50"] < TARGET_MS
    if name != "GET /config":
        all_ok = all_ok and ok
    extra = ""
    if r["non2xx"] or r["sockerr"]:
        extra = "  (non-2xx %d, socket errors: %s)" % (r["non2xx"],
                                                        r["sockerr"] or "0")
    print("  %-22s %8.3f %8.3f %8.3f %10.0f %9.2f %6.2f  %s%s" %
          (name, r["p50"], r["p90"], r["p99"], r["rps"], r["cores"],
           r["p50"] / base if base > 0 else 0.0,
           ("PASS" if ok else "FAIL") if name != "GET /config" else
           "(baseline)", extra))
print()
print("lone request  wrk -t1 -c1 -d%ds --latency" % DURATION1)
for name, path in ENDPOINTS:
    r = wrk(path, 1, 1, DURATION1)
    print("  %-22s p50 %7.3f ms  p99 %7.3f ms  %8.0f req/s" %
          (name, r["p50"], r["p99"], r["rps"]))
print()
print("REST latency target (p50 < 5 ms at 20 connections, /overview and"
      " /jobs/<id>): %s" % ("PASS" if all_ok else "FAIL"))
PY

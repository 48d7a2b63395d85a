#!/usr/bin/env bash
# bench_cluster: the cluster benchmark of scripts/bench.sh (built as
# <build>/tests/bench/bench_cluster from tests/bench/bench_cluster.sh).
# Starts its own JobManager and two TaskManagers (1 slot each) on
# 127.0.0.1 with ephemeral ports, logs in a temporary directory, and
# measures:
#   1. a key_by exchange between the two TaskManager processes (the
#      bench_plugin "cross" case: datagen p=2 -> key_by -> check p=2, every
#      record goes to the subtask on the other TaskManager) for 64-byte and
#      1 KiB records: records/s and MB/s over the job's net-runtime, beside
#      raw loopback TCP with 32 KiB writes measured in the same run
#      (tcp_raw); target >= 50 % of raw TCP;
#   2. submission to RUNNING latency of a 4-subtask unbounded job: from
#      POST /jars/<id>/run to GET /jobs/<id> showing the job and all its
#      subtasks RUNNING (polled every 2 ms), median and max over N
#      submissions, each cancelled; target < 100 ms;
#   3. JobManager and TaskManager RSS (VmRSS of /proc/<pid>/status) after
#      registration with no job and after the jobs ended; target < 20 MB.
# Then, on a second cluster (JobManager with heartbeat.interval 250 ms so
# that the task counters reach the REST API quickly, three TaskManagers
# with 1 slot each, checkpoints under the temporary directory):
#   4. checkpointing overhead: the steady throughput of a keyed-state job
#      (bench_plugin "keyed": datagen p=2 -> key_by -> value state p=2 ->
#      discard, unbounded) from the source's write-records over a window,
#      without checkpoints and with execution.checkpointing.interval 1 s,
#      alternately (3 rounds, the machine is noisy), best of each;
#      target >= 90 %;
#   5. recovery: a job whose keyed state is about --state-mb MB (default
#      1024) at parallelism 2 completes a checkpoint, then the
#      TaskManager of one of its subtasks is killed with kill -9: time
#      until every subtask is RUNNING again on the spare TaskManager with
#      the state restored (and the checkpoint's size and write time).
# Prints PASS or BELOW beside each target. Exits non-zero only when the
# benchmark cannot run (a daemon does not start, a job fails).
#
#   bench_cluster [--n64 N] [--n1k N] [--runs N] [--submissions N] [--keep]
#                 [--ckpt-window S] [--state-mb MB] [--only-ckpt]
#                 [--no-ckpt] [-D key=value]...
#     --n64 N          64-byte records of the exchange (default 24000000)
#     --n1k N          1 KiB records of the exchange (default 3000000)
#     --runs N         runs of each exchange size, the best counts
#                      (default 2)
#     --submissions N  latency samples (default 10)
#     --ckpt-window S  seconds of each throughput measurement (default 6)
#     --state-mb MB    keyed state of the recovery job (default 1024)
#     --only-ckpt      run only parts 4 and 5
#     --no-ckpt        skip parts 4 and 5
#     --keep           keep the temporary directory (logs)
#     -D key=value     a configuration value for the TaskManagers
# Other arguments (meant for other benchmarks of scripts/bench.sh) are
# ignored.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$here/../.." && pwd)
JM_BIN=$build/bin/cflink-jobmanager
TM_BIN=$build/bin/cflink-taskmanager
PLUGIN=$here/bench_plugin.so
TCP_RAW=$here/tcp_raw

N64=24000000
N1K=3000000
SUBMISSIONS=10
RUNS=2
KEEP=0
TM_OPTS=()
CKPT_WINDOW=6
STATE_MB=1024
PARTS=all
while [ $# -gt 0 ]; do
    case "$1" in
    --n64) N64=$2; shift 2 ;;
    --n1k) N1K=$2; shift 2 ;;
    --submissions) SUBMISSIONS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --ckpt-window) CKPT_WINDOW=$2; shift 2 ;;
    --state-mb) STATE_MB=$2; shift 2 ;;
    --only-ckpt) PARTS=ckpt; shift ;;
    --no-ckpt) PARTS=base; shift ;;
    -D) TM_OPTS+=(-D "$2"); shift 2 ;;
    -h | --help)
        sed -n '2,50{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) shift ;;
    esac
done

for f in "$JM_BIN" "$TM_BIN" "$PLUGIN" "$TCP_RAW"; do
    if [ ! -e "$f" ]; then
        echo "bench_cluster: $f is not built" >&2
        exit 1
    fi
done
for tool in python3 curl; do
    command -v "$tool" >/dev/null || {
        echo "bench_cluster: $tool is required" >&2
        exit 1
    }
done

BENCH_NAME=bench_cluster
# The copy of scripts/bench/daemons.bash the build puts beside this one.
# shellcheck source=../../scripts/bench/daemons.bash
source "$here/daemons.bash"

# start_jm [-D key=value]...: a JobManager on ephemeral ports; sets
# JM_PID, JM_RPC_PORT and REST_PORT (logs: jobmanager<JM_GEN>.log).
JM_GEN=
start_jm() {
    local log="$WORK/jobmanager$JM_GEN.log"
    "$JM_BIN" -D rest.port=0 -D rest.bind-port=0 -D rest.address=127.0.0.1 \
        -D rest.bind-address=127.0.0.1 -D jobmanager.rpc.port=0 \
        -D jobmanager.rpc.address=127.0.0.1 -D jobmanager.bind-host=127.0.0.1 \
        -D web.tmpdir="$WORK" "$@" --log-file "$log" \
        >"$WORK/jobmanager$JM_GEN.out" 2>&1 &
    JM_PID=$!
    PIDS+=("$JM_PID")
    l1=$(wait_log "$log" 'RPC endpoint listening at [^ ]+:[0-9]+') ||
        die_logs "the JobManager did not start"
    l2=$(wait_log "$log" 'Rest endpoint listening at [^ ]+:[0-9]+') ||
        die_logs "the JobManager's REST endpoint did not start"
    JM_RPC_PORT=$(sed -E 's/.*listening at [^ ]+:([0-9]+).*/\1/' <<<"$l1")
    REST_PORT=$(sed -E 's/.*listening at [^ ]+:([0-9]+).*/\1/' <<<"$l2")
}

# start_tm NAME [-D key=value]...: a TaskManager with 1 slot registering
# with the JobManager started last; its pid is appended to TM_PIDS. With
# TM_DETACH=1 it is started from a subshell (not a job of this shell, so
# a kill -9 by the benchmark prints no "Killed" notice).
TM_DETACH=0
start_tm() {
    local name=$1 pid
    shift
    if [ "$TM_DETACH" = 1 ]; then
        pid=$(
            "$TM_BIN" -D jobmanager.rpc.address=127.0.0.1 \
                -D jobmanager.rpc.port="$JM_RPC_PORT" \
                -D taskmanager.host=127.0.0.1 \
                -D taskmanager.bind-host=127.0.0.1 -D io.tmp.dirs="$WORK" \
                -D taskmanager.numberOfTaskSlots=1 "$@" \
                ${TM_OPTS[@]+"${TM_OPTS[@]}"} \
                --log-file "$WORK/taskmanager-$name.log" \
                >"$WORK/taskmanager-$name.out" 2>&1 </dev/null &
            echo $!
        )
    else
        "$TM_BIN" -D jobmanager.rpc.address=127.0.0.1 \
            -D jobmanager.rpc.port="$JM_RPC_PORT" -D taskmanager.host=127.0.0.1 \
            -D taskmanager.bind-host=127.0.0.1 -D io.tmp.dirs="$WORK" \
            -D taskmanager.numberOfTaskSlots=1 "$@" \
            ${TM_OPTS[@]+"${TM_OPTS[@]}"} \
            --log-file "$WORK/taskmanager-$name.log" \
            >"$WORK/taskmanager-$name.out" 2>&1 &
        pid=$!
    fi
    PIDS+=("$pid")
    TM_PIDS+=("$pid")
}

if [ "$PARTS" != ckpt ]; then
start_jm
TM_PIDS=()
for name in a b; do
    start_tm "$name"
done

export CFB_CLI="$build/bin/cflink" CFB_REST="http://127.0.0.1:$REST_PORT" CFB_JM_PID="$JM_PID" \
    CFB_TM_PIDS="${TM_PIDS[*]}" CFB_PLUGIN="$PLUGIN" CFB_TCP_RAW="$TCP_RAW" \
    CFB_N64="$N64" CFB_N1K="$N1K" CFB_SUBMISSIONS="$SUBMISSIONS" \
    CFB_RUNS="$RUNS"
python3 - <<'PY' || die_logs "the benchmark failed"
import http.client, json, os, statistics, subprocess, sys, time, uuid
from urllib.parse import urlparse

REST = urlparse(os.environ["CFB_REST"])
JM_PID = int(os.environ["CFB_JM_PID"])
TM_PIDS = [int(p) for p in os.environ["CFB_TM_PIDS"].split()]
RUNS = int(os.environ["CFB_RUNS"])


def fail(msg):
    print("bench_cluster: " + msg, file=sys.stderr)
    sys.exit(1)


class Rest:
    """A keep-alive HTTP connection to the REST endpoint (reopened on
    error)."""

    def __init__(self):
        self.c = None

    def call(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection(REST.hostname, REST.port,
                                                    timeout=30)
            try:
                self.c.request(method, path, body=body,
                               headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt == 1:
                    raise

    def json(self, method, path, body=None, want=200):
        hdr = {}
        if body is not None:
            body = json.dumps(body).encode()
            hdr["Content-Type"] = "application/json"
        st, data = self.call(method, path, body, hdr)
        if st != want:
            fail("%s %s: HTTP %d %s" % (method, path, st, data[:300]))
        return json.loads(data) if data else None


rest = Rest()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def cpu_s(pid):
    """(user, system) CPU seconds of a process."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return int(st[11]) / hz, int(st[12]) / hz


def tms_cpu():
    u = s = 0.0
    for p in TM_PIDS:
        a, b = cpu_s(p)
        u += a
        s += b
    return u, s


def mark(ok):
    return "PASS" if ok else "BELOW"


def wait_for(pred, timeout, what, interval=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    fail("timed out waiting for " + what)


def slots_free():
    o = rest.json("GET", "/overview")
    return o["taskmanagers"] == 2 and o["slots-available"] == 2


def report_rss(when):
    jm = rss_kb(JM_PID) / 1024
    tms = [rss_kb(p) / 1024 for p in TM_PIDS]
    worst = max([jm] + tms)
    print("  %-22s JobManager %5.1f MB, TaskManagers %s MB  (target < 20 MB)"
          " %s" % (when, jm, " / ".join("%.1f" % t for t in tms),
                   mark(worst < 20)))
    return jm, tms


# ---- cluster up, idle RSS -------------------------------------------
wait_for(lambda: rest.json("GET", "/taskmanagers")["taskmanagers"]
         and len(rest.json("GET", "/taskmanagers")["taskmanagers"]) == 2,
         30, "2 TaskManagers to register", 0.05)
time.sleep(0.5)  # let registration and the first heartbeats settle
print("cluster: JobManager and 2 TaskManagers (1 slot each) on 127.0.0.1")
print()
print("memory (VmRSS)")
report_rss("registered, no job:")

# Upload the plugin (multipart by hand: the stdlib has no encoder).
with open(os.environ["CFB_PLUGIN"], "rb") as f:
    so = f.read()
boundary = uuid.uuid4().hex
body = (("--%s\r\nContent-Disposition: form-data; name=\"jarfile\"; "
         "filename=\"bench_plugin.so\"\r\nContent-Type: "
         "application/octet-stream\r\n\r\n" % boundary).encode() + so +
        ("\r\n--%s--\r\n" % boundary).encode())
st, data = rest.call("POST", "/jars/upload", body,
                     {"Content-Type": "multipart/form-data; boundary=" +
                      boundary})
if st != 200:
    fail("upload of bench_plugin.so: HTTP %d %s" % (st, data[:300]))
JAR = os.path.basename(json.loads(data)["filename"])


def run(args):
    return rest.json("POST", "/jars/%s/run" % JAR,
                     {"programArgsList": args})["jobid"]


# ---- raw loopback TCP -----------------------------------------------
def tcp_raw(flows, runs=3):
    """Best of runs measurements of 0.5 s (the machine is shared: the
    best run is the closest to what loopback TCP can do)."""
    best = 0.0
    for _ in range(runs):
        out = subprocess.run([os.environ["CFB_TCP_RAW"], "-s", "0.5", "-f",
                              str(flows)], capture_output=True, text=True,
                             check=True).stdout
        best = max(best, float(out.split()[1]))
    return best


# ---- exchange between the TaskManagers ------------------------------
def placement_crosses(jid, job):
    """Subtask i of the source and subtask 1-i of the consumer run on
    different TaskManagers."""
    tm = {}
    for v in job["vertices"]:
        d = rest.json("GET", "/jobs/%s/vertices/%s" % (jid, v["id"]))
        tm[v["name"]] = {s["subtask"]: s["taskmanager-id"]
                         for s in d["subtasks"]}
    src = [n for n in tm if n.startswith("Source")][0]
    dst = [n for n in tm if not n.startswith("Source")][0]
    return all(tm[src][i] != tm[dst][1 - i] for i in (0, 1))


def exchange(size, n):
    """One run of the cross case: (records/s, network MB/s, seconds,
    TaskManagers' user CPU s, system CPU s)."""
    cpu0 = tms_cpu()
    jid = run(["--case", "cross", "--size", str(size), "--n", str(n)])
    res = wait_for(lambda: (lambda r: r if r["status"]["id"] == "COMPLETED"
                            else None)(rest.json(
                                "GET", "/jobs/%s/execution-result" % jid)),
                   120, "the exchange job (%d B)" % size, 0.05)
    r = res["job-execution-result"]
    if r["application-status"] != "SUCCEEDED":
        fail("exchange job %s (%d B): %s" % (jid, size,
                                              json.dumps(r)[:500]))
    job = rest.json("GET", "/jobs/%s" % jid)
    src = [v for v in job["vertices"] if v["name"].startswith("Source")][0]
    recs = src["metrics"]["write-records"]
    if recs != n:
        fail("exchange job %s wrote %d records, expected %d" % (jid, recs, n))
    if not placement_crosses(jid, job):
        fail("exchange job %s: the subtasks were not placed so that records"
             " cross the TaskManagers" % jid)
    cpu1 = tms_cpu()
    secs = r["net-runtime"] / 1000.0
    wait_for(slots_free, 10, "the slots to be freed")
    return (n / secs, src["metrics"]["write-bytes"] / secs / 1e6, secs,
            cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])


def local_rps(size, n):
    """Records/s of the same job in one process (no TCP), or None."""
    if not os.access(os.environ["CFB_CLI"], os.X_OK):
        return None
    out = subprocess.run([os.environ["CFB_CLI"], "run", "-t", "local",
                          os.environ["CFB_PLUGIN"], "--case", "cross",
                          "--size", str(size), "--n", str(n)],
                         capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("Job Runtime:"):
            return n / (int(line.split()[2]) / 1000.0)
    return None


print()
print("exchange  datagen(p=2) -> key_by -> check(p=2); every record goes to"
      " the subtask")
print("          on the other TaskManager (2 TaskManagers x 1 slot);"
      " best of %d runs" % RUNS)
raws = []
for size, n in ((64, int(os.environ["CFB_N64"])),
                (1024, int(os.environ["CFB_N1K"]))):
    raw = tcp_raw(1)
    raws.append(raw)
    best = max((exchange(size, n) for _ in range(RUNS)),
               key=lambda t: t[0])
    rps, mbps, secs, usr, sys_ = best
    ratio = 100.0 * mbps / raw
    print("  exchange %-5s: %6.2f M records/s, %5.0f MB/s (%.2f s);"
          " raw TCP %4.0f MB/s; ratio %3.0f %% (target 50 %%) %s" %
          ("64 B" if size == 64 else "1 KiB", rps / 1e6, mbps, secs, raw,
           ratio, mark(ratio >= 50)))
    print("                  TaskManagers' CPU %.2f cores (user %.1f s,"
          " system %.1f s)" % ((usr + sys_) / secs, usr, sys_))
    lrps = local_rps(size, n)
    if lrps:
        print("                  same job in one process (cflink run -t"
              " local): %.2f M records/s" % (lrps / 1e6))
raw2 = tcp_raw(2)
print("  raw TCP: loopback, 32 KiB writes, one connection, best of 3 x 0.5 s"
      " before each size;")
print("           two connections at once (the exchange's shape: one each"
      " way): %.0f MB/s in all" % raw2)
print("  MB/s: record bytes + 12-byte header over the job's net-runtime"
      " (which includes")
print("        deployment); every record crossed the TaskManagers' TCP"
      " connection")

# ---- submission to RUNNING latency ----------------------------------
def all_running(job):
    return job["state"] == "RUNNING" and job["vertices"] and all(
        v["tasks"]["RUNNING"] == v["parallelism"] for v in job["vertices"])


lat = []
nsub = int(os.environ["CFB_SUBMISSIONS"])
args = ["--case", "exchange", "--size", "64", "--n", "0", "--rate", "1000"]
for i in range(nsub):
    wait_for(slots_free, 10, "the slots to be freed")
    t0 = time.monotonic()
    jid = run(args)
    while True:
        st, data = rest.call("GET", "/jobs/%s" % jid)
        if st == 200:
            job = json.loads(data)
            if all_running(job):
                break
            if job["state"] in ("FAILED", "CANCELED", "FINISHED"):
                fail("latency job %s ended %s" % (jid, job["state"]))
        if time.monotonic() - t0 > 30:
            fail("latency job %s not RUNNING after 30 s" % jid)
        time.sleep(0.002)
    lat.append((time.monotonic() - t0) * 1000)
    ntasks = sum(v["parallelism"] for v in job["vertices"])
    rest.json("PATCH", "/jobs/%s?mode=cancel" % jid, want=202)
    wait_for(lambda: rest.json("GET", "/jobs/%s" % jid)["state"] ==
             "CANCELED", 10, "job %s to be CANCELED" % jid)
wait_for(slots_free, 10, "the slots to be freed")
print()
print("submission  POST /jars/<id>/run -> GET /jobs/<id> RUNNING with all %d"
      " subtasks RUNNING" % ntasks)
print("  (unbounded datagen(p=2) -> key_by -> discard(p=2), polled every"
      " 2 ms, %d submissions, each cancelled)" % nsub)
med = statistics.median(lat)
print("  latency median %.1f ms, min %.1f ms, max %.1f ms  (target < 100 ms)"
      " %s" % (med, min(lat), max(lat), mark(max(lat) < 100)))

# ---- RSS after the jobs ---------------------------------------------
time.sleep(1.0)
print()
print("memory (VmRSS)")
report_rss("after the jobs ended:")
print("  %-22s JobManager %5.1f MB, TaskManagers %s MB" %
      ("peak (VmHWM):", hwm_kb(JM_PID) / 1024,
       " / ".join("%.1f" % (hwm_kb(p) / 1024) for p in TM_PIDS)))
PY
fi

# ---- checkpoints: a second cluster ---------------------------------
if [ "$PARTS" != base ]; then
stop_all
BIG_PLUGIN=$build/tests/plugins/tp_bigstate.so
[ -e "$BIG_PLUGIN" ] || die_logs "$BIG_PLUGIN is not built"
CKDIR="$WORK/checkpoints"
mkdir -p "$CKDIR"
JM_GEN=-ckpt
start_jm -D heartbeat.interval=250 -D heartbeat.timeout=5000 \
    -D execution.checkpointing.dir="$CKDIR" \
    -D restart-strategy.type=fixed-delay \
    -D restart-strategy.fixed-delay.attempts=3 \
    -D restart-strategy.fixed-delay.delay=0ms
TM_PIDS=()
TM_NAMES=()
TM_DETACH=1
for name in c1 c2 c3; do
    start_tm "$name"
    TM_NAMES+=("$name")
done

export CFB_REST="http://127.0.0.1:$REST_PORT" CFB_JM_PID="$JM_PID" \
    CFB_TM_PIDS="${TM_PIDS[*]}" CFB_TM_NAMES="${TM_NAMES[*]}" \
    CFB_PLUGIN="$PLUGIN" CFB_BIG_PLUGIN="$BIG_PLUGIN" CFB_WORK="$WORK" \
    CFB_CKDIR="$CKDIR" CFB_WINDOW="$CKPT_WINDOW" CFB_STATE_MB="$STATE_MB"
python3 - <<'PY' || die_logs "the checkpoint benchmark failed"
import http.client, json, os, signal, sys, time, uuid
from urllib.parse import urlparse

REST = urlparse(os.environ["CFB_REST"])
TM_PIDS = [int(p) for p in os.environ["CFB_TM_PIDS"].split()]
TM_NAMES = os.environ["CFB_TM_NAMES"].split()
WORK = os.environ["CFB_WORK"]
CKDIR = os.environ["CFB_CKDIR"]
WINDOW = float(os.environ["CFB_WINDOW"])
STATE_MB = int(os.environ["CFB_STATE_MB"])


def fail(msg):
    print("bench_cluster: " + msg, file=sys.stderr)
    sys.exit(1)


def mark(ok):
    return "PASS" if ok else "BELOW"


class Rest:
    def __init__(self):
        self.c = None

    def call(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection(REST.hostname, REST.port,
                                                    timeout=30)
            try:
                self.c.request(method, path, body=body,
                               headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt == 1:
                    raise

    def json(self, method, path, body=None, want=200):
        hdr = {}
        if body is not None:
            body = json.dumps(body).encode()
            hdr["Content-Type"] = "application/json"
        st, data = self.call(method, path, body, hdr)
        if st != want:
            fail("%s %s: HTTP %d %s" % (method, path, st, data[:300]))
        return json.loads(data) if data else None


rest = Rest()


def wait_for(pred, timeout, what, interval=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    fail("timed out waiting for " + what)


def upload(path):
    with open(path, "rb") as f:
        so = f.read()
    boundary = uuid.uuid4().hex
    body = (("--%s\r\nContent-Disposition: form-data; name=\"jarfile\"; "
             "filename=\"%s\"\r\nContent-Type: application/octet-stream"
             "\r\n\r\n" % (boundary, os.path.basename(path))).encode() + so +
            ("\r\n--%s--\r\n" % boundary).encode())
    st, data = rest.call("POST", "/jars/upload", body,
                         {"Content-Type": "multipart/form-data; boundary=" +
                          boundary})
    if st != 200:
        fail("upload of %s: HTTP %d %s" % (path, st, data[:300]))
    return os.path.basename(json.loads(data)["filename"])


def run(jar, args, conf=None, parallelism=None):
    body = {"programArgsList": args, "flinkConfiguration": conf or {}}
    if parallelism:
        body["parallelism"] = parallelism
    return rest.json("POST", "/jars/%s/run" % jar, body)["jobid"]


def job(jid):
    return rest.json("GET", "/jobs/%s" % jid)


def all_running(j):
    return j["state"] == "RUNNING" and j["vertices"] and all(
        v["tasks"]["RUNNING"] == v["parallelism"] for v in j["vertices"])


def cancel(jid):
    rest.json("PATCH", "/jobs/%s?mode=cancel" % jid, want=202)
    wait_for(lambda: job(jid)["state"] == "CANCELED", 20,
             "job %s to be CANCELED" % jid)
    wait_for(lambda: (lambda o: o["slots-available"] == o["slots-total"])(
        rest.json("GET", "/overview")), 20, "the slots to be freed")


def ckpts(jid):
    return rest.json("GET", "/jobs/%s/checkpoints" % jid)


def source_records(jid):
    j = job(jid)
    if j["state"] in ("FAILED", "CANCELED", "FINISHED"):
        fail("job %s ended %s" % (jid, j["state"]))
    src = [v for v in j["vertices"] if v["name"].startswith("Source")]
    v = src[0] if src else j["vertices"][0]
    return v["metrics"]["write-records"]


def steady_rps(jid, window, at_start=None):
    """Records/s of the source between the first and the last change of
    its counter (heartbeat reports) seen over window seconds, after a
    2 s warm-up; at_start is called when the window opens."""
    wait_for(lambda: all_running(job(jid)), 30, "job %s RUNNING" % jid)
    time.sleep(2.0)
    if at_start:
        at_start()
    first = None
    last_v = source_records(jid)
    end = time.monotonic() + window
    while time.monotonic() < end or first is None or last[1] == first[1]:
        v = source_records(jid)
        t = time.monotonic()
        if v != last_v:
            if first is None:
                first = (t, v)
            last = (t, v)
            last_v = v
        if time.monotonic() > end + 10:
            fail("the source of job %s made no progress" % jid)
        time.sleep(0.01)
    return (last[1] - first[1]) / (last[0] - first[0])


wait_for(lambda: len(rest.json("GET", "/taskmanagers")["taskmanagers"]) == 3,
         30, "3 TaskManagers to register", 0.05)
rids = {}
for name in TM_NAMES:
    with open(os.path.join(WORK, "taskmanager-%s.log" % name)) as f:
        for line in f:
            if "Starting TaskManager with ResourceID: " in line:
                rids[line.split("ResourceID: ")[1].split()[0]] = name
                break
print()
print("cluster: JobManager (heartbeat.interval 250 ms) and 3 TaskManagers"
      " (1 slot each)")

# ---- 4. throughput with and without checkpoints ---------------------
JAR = upload(os.environ["CFB_PLUGIN"])
KEYS = 1000000
ARGS = ["--case", "keyed", "--n", "0", "--keys", str(KEYS)]
CKPT_CONF = {"execution.checkpointing.interval": "1 s",
             "execution.checkpointing.dir": CKDIR}
plain, withck, ncks, sizes, durs = [], [], [], [], []
for rnd in range(3):
    jid = run(JAR, ARGS)
    plain.append(steady_rps(jid, WINDOW))
    cancel(jid)
    jid = run(JAR, ARGS, CKPT_CONF)
    c0 = []
    withck.append(steady_rps(
        jid, WINDOW, lambda: c0.append(ckpts(jid)["counts"]["completed"])))
    c = ckpts(jid)
    ncks.append(c["counts"]["completed"] - c0[0])
    lat = (c.get("latest") or {}).get("completed") or {}
    sizes.append(lat.get("state_size", lat.get("checkpointed_size", 0)))
    durs.append(lat.get("end_to_end_duration", 0))
    if c["counts"]["completed"] < 1:
        fail("no checkpoint completed in job %s: %s" % (jid, json.dumps(c)))
    cancel(jid)
p, w = max(plain), max(withck)
ratio = 100.0 * w / p
print()
print("checkpointing overhead  datagen(p=2) -> key_by -> keyed sum in value"
      " state (p=2) -> discard,")
print("  %d keys, unbounded; source records/s over %.0f s windows (best of"
      " %d each, alternating)" % (KEYS, WINDOW, len(plain)))
print("  without checkpoints: %.2f M records/s  (runs: %s)" %
      (p / 1e6, ", ".join("%.2f" % (x / 1e6) for x in plain)))
print("  with 1 s checkpoints: %.2f M records/s  (runs: %s; %s checkpoints"
      " in the windows, latest %.1f MB in %d ms)" %
      (w / 1e6, ", ".join("%.2f" % (x / 1e6) for x in withck),
       "/".join(str(n) for n in ncks), (sizes[-1] or 0) / 1e6,
       durs[-1] or 0))
print("  ratio %.0f %% (target 90 %%) %s" % (ratio, mark(ratio >= 90)))

# ---- 5. recovery of a large state after kill -9 ---------------------
BIG = upload(os.environ["CFB_BIG_PLUGIN"])
t_sub = time.monotonic()
jid = run(BIG, ["--mb", str(STATE_MB), "--value-kb", "64"],
          {"execution.checkpointing.interval": "2 s",
           "execution.checkpointing.dir": CKDIR,
           "execution.checkpointing.timeout": "10 min"}, parallelism=2)
wait_for(lambda: all_running(job(jid)), 60, "job %s RUNNING" % jid)
want = STATE_MB * 1024 * 1024 * 0.95


def full_checkpoint():
    c = ckpts(jid)
    lat = (c.get("latest") or {}).get("completed") or {}
    size = lat.get("state_size", lat.get("checkpointed_size", 0)) or 0
    return lat if size >= want else None


lat = wait_for(full_checkpoint, 60 + STATE_MB / 10.0,
               "a checkpoint with %d MB of state" % STATE_MB, 0.1)
fill_s = time.monotonic() - t_sub
ck_id = lat["id"]
size = lat.get("state_size", lat.get("checkpointed_size", 0))
dur = lat.get("end_to_end_duration", 0)
# The TaskManager of subtask 0 of the stateful vertex.
j = job(jid)
v = [v for v in j["vertices"] if "BlobState" in v["name"]][0]
sub = rest.json("GET", "/jobs/%s/vertices/%s" % (jid, v["id"]))["subtasks"]
rid = sub[0]["taskmanager-id"]
if rid not in rids:
    fail("unknown TaskManager %s of subtask 0" % rid)
victim = TM_PIDS[TM_NAMES.index(rids[rid])]
t0 = time.monotonic()
os.kill(victim, signal.SIGKILL)
wait_for(lambda: not all_running(job(jid)), 10,
         "the JobManager to notice the loss", 0.005)
wait_for(lambda: all_running(job(jid)), 120 + STATE_MB / 10.0,
         "job %s RUNNING again" % jid, 0.01)
rec = time.monotonic() - t0
c = ckpts(jid)
restored = ((c.get("latest") or {}).get("restored") or {}).get("id")
if restored != ck_id:
    print("  (note: latest.restored is %s, the checkpoint was %s)" %
          (restored, ck_id))
print()
print("recovery  KeySource(p=2) -> key_by -> BlobState(p=2): %d MB of keyed"
      " state (64 KiB values)" % STATE_MB)
print("  state built and checkpointed in %.1f s; checkpoint %d: %.0f MB in"
      " %d ms (%.0f MB/s)" % (fill_s, ck_id, size / 1e6, dur,
                              size / 1e6 / max(dur / 1000.0, 1e-3)))
print("  kill -9 of the TaskManager of a stateful subtask -> all subtasks"
      " RUNNING again (restored from checkpoint %s): %.2f s" %
      (restored, rec))
cancel(jid)
PY
fi

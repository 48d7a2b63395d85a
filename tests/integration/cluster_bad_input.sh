#!/usr/bin/env bash
# Bad input against a running cluster (a JobManager and one TaskManager
# with 2 slots running an unbounded job at parallelism 2): raw RPC frames
# and protobuf messages with missing or invalid fields sent to the
# JobManager's RPC port by a fake peer (python3, hand-encoded protobuf),
# then hostile REST requests (ids, path traversal, wrong JSON types,
# multipart oddities, truncated and oversized requests). Afterwards the
# JobManager and the TaskManager must still be up and serving, the job
# must still be RUNNING without a restart, the fake TaskManager must be
# gone, and no sanitizer report may appear in the daemons' output
# (checked by cluster_stop).
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_slow.so"
WC="$EXAMPLES/wordcount.so"
for f in "$PLUGIN" "$WC"; do
    [ -f "$f" ] || { echo "SKIP: $f is not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
cluster_trap
# Sanitizer builds: a small quarantine, so the JobManager's RSS measures
# live memory (the unread-peer case below).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"

J="$WORK/r.json"
code_expect() { expect_eq "$1 (HTTP status)" "$2" "$HTTP_CODE"; }

cluster_start_jm -D heartbeat.interval=500 -D heartbeat.timeout=5000 \
    -D rest.server.max-content-length=1048576 ||
    { fail "JobManager start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2 \
    -D heartbeat.interval=500 -D heartbeat.timeout=5000
if cluster_wait_tms 1 20; then ok "TaskManager registered"; else
    fail "TaskManager registered"; fi

run_cf "$WORK/run.out" "$WORK/run.err" 30 run -d -m "127.0.0.1:$REST_PORT" \
    -p 2 "$PLUGIN" --records 1000000000 --every 1 --size 64
JID=$(sed -nE 's/.*JobID ([0-9a-f]{32}).*/\1/p' "$WORK/run.out" | head -1)
if [ -z "$JID" ]; then
    fail "no job id in: $(cat "$WORK/run.out" "$WORK/run.err")"
    finish
    exit 1
fi
if cluster_wait_running "$JID" 20; then ok "job running"; else fail "job running"; fi
# The blob key of the job's plugin: SHA-256 of the file.
BLOB_KEY=$(sha256sum "$PLUGIN" | cut -c1-64)

# ---- RPC ----------------------------------------------------------------
# The fake peer speaks the RPC protocol version of the source tree.
RPC_VERSION=$(sed -n 's/^#define CF_RPC_PROTOCOL_VERSION \([0-9]*\).*/\1/p' \
    "$(dirname "$0")/../../src/rpc/rpc.h")
[ -n "$RPC_VERSION" ] || { fail "CF_RPC_PROTOCOL_VERSION not found"; finish; }
export CF_RPC_VERSION="$RPC_VERSION"
cat >"$WORK/rpcfuzz.py" <<'PY'
import os, socket, struct, sys, time

HOST, PORT, JOB, BLOB = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
RPC_VERSION = int(os.environ["CF_RPC_VERSION"])
fails = []

def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def f_int(num, v):
    return varint(num << 3) + varint(v)

def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b

def env(body_num=None, body=b"", req=0, resp=False, error=None):
    e = b""
    if req:
        e += f_int(1, req)
    if resp:
        e += f_int(2, 1)
    if error is not None:
        e += f_bytes(3, error)
    if body_num is not None:
        e += f_bytes(body_num, body)
    return e

def frame(e):
    return struct.pack(">I", len(e)) + e

def parse(b):
    """Top-level fields of a message: {num: [values]}."""
    out, i = {}, 0
    while i < len(b):
        k, i = rd_varint(b, i)
        num, wt = k >> 3, k & 7
        if wt == 0:
            v, i = rd_varint(b, i)
        elif wt == 2:
            n, i = rd_varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out

def rd_varint(b, i):
    n = s = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return n, i

HELLO = f_bytes(1, "cflink-rpc") + f_int(2, RPC_VERSION) + f_bytes(3, "0.1.0") + \
    f_bytes(4, "taskmanager") + f_bytes(5, "fuzz")

class Peer:
    def __init__(self, hello=True):
        self.s = socket.create_connection((HOST, PORT), timeout=5)
        self.req = 100
        self.buf = b""
        if hello:
            self.s.sendall(frame(env(10, HELLO, req=1)))
            r = self.read_reply(1)
            if r is None or 10 not in r:
                raise RuntimeError("no Hello answer: %r" % (r,))

    def send(self, data):
        self.s.sendall(data)

    def read_frame(self, timeout=5):
        self.s.settimeout(timeout)
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    e = self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    return parse(e)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return "timeout"
            except ConnectionResetError:
                return None
            if not d:
                return None
            self.buf += d

    def read_reply(self, req, timeout=5):
        """The reply to req; requests of the server are skipped."""
        end = time.time() + timeout
        while time.time() < end:
            r = self.read_frame(max(0.1, end - time.time()))
            if r is None or r == "timeout":
                return r
            if r.get(2, [0])[0] and r.get(1, [0])[0] == req:
                return r
        return "timeout"

    def call(self, body_num, body):
        self.req += 1
        self.send(frame(env(body_num, body, req=self.req)))
        return self.read_reply(self.req)

    def closed(self, timeout=5):
        """Whether the server closes the connection (frames skipped)."""
        end = time.time() + timeout
        while time.time() < end:
            r = self.read_frame(max(0.1, end - time.time()))
            if r is None:
                return True
            if r == "timeout":
                return False
        return False

    def close(self):
        self.s.close()

def check(name, cond):
    print(("ok: " if cond else "FAIL: ") + name)
    if not cond:
        fails.append(name)

def error_of(r):
    if not isinstance(r, dict):
        return None
    return r.get(3, [b""])[0].decode(errors="replace")

job = bytes.fromhex(JOB)
rnd = lambda: os.urandom(16)

# 1. Framing and handshake.
for name, data in [
        ("HTTP request on the RPC port", b"GET / HTTP/1.0\r\n\r\n"),
        ("frame longer than the maximum", b"\xff\xff\xff\xff"),
        ("empty frame before the handshake", frame(b"")),
        ("undecodable frame", frame(b"\xff\xff\xff\xff\xff")),
        ("message before the handshake",
         frame(env(12, f_bytes(1, "x"), req=1))),
        ("hello without a request id", frame(env(10, HELLO))),
        ("hello with a bad magic",
         frame(env(10, f_bytes(1, "nope") + f_int(2, 1), req=1))),
        ("hello of protocol version 99",
         frame(env(10, f_bytes(1, "cflink-rpc") + f_int(2, 99), req=1))),
        ("truncated varint", frame(b"\x08\xff\xff")),
        ("nested length beyond the frame", frame(b"\x52\x7f\x01")),
]:
    p = Peer(hello=False)
    p.send(data)
    check(name + ": connection closed", p.closed())
    p.close()

# A large frame before the handshake is refused at once (not buffered
# until the handshake times out).
p = Peer(hello=False)
p.send(struct.pack(">I", 1 << 20) + b"\0" * 1000)
check("1 MiB frame before the handshake: closed at once", p.closed(2))
p.close()

# A valid Hello sent one byte at a time.
p = Peer(hello=False)
for c in frame(env(10, HELLO, req=1)):
    p.send(bytes([c]))
    time.sleep(0.001)
r = p.read_reply(1)
check("hello in 1-byte pieces answered", isinstance(r, dict) and 10 in r)
p.close()

# 2. Messages with missing or invalid fields after the handshake.
p = Peer()
cases = [
    ("empty request", None, b""),
    ("unknown body field", 99, b"\x08\x01"),
    ("Ack as a request", 11, b""),
    ("RequestSlot to the JobManager", 16,
     f_bytes(1, rnd()) + f_bytes(2, rnd()) + f_int(3, 0)),
    ("SubmitTask to the JobManager", 19, f_bytes(1, job)),
    ("OfferSlots with a 3-byte job id", 17, f_bytes(1, b"abc")),
    ("OfferSlots without a job id", 17, f_bytes(2, "tm")),
    ("OfferSlots for an unknown job", 17,
     f_bytes(1, rnd()) + f_bytes(2, "tm") +
     f_bytes(3, f_bytes(1, rnd()) + f_int(2, 0))),
    ("OfferSlots of unknown allocations for the running job", 17,
     f_bytes(1, job) + f_bytes(2, "nobody") +
     f_bytes(3, f_bytes(1, rnd()) + f_int(2, -1)) +
     f_bytes(3, f_bytes(1, b"short")) + f_bytes(3, b"")),
    ("UpdateTaskExecutionState of an unknown attempt", 21,
     f_bytes(1, job) + f_bytes(2, rnd()) + f_int(3, 6)),
    ("UpdateTaskExecutionState with state -1", 21,
     f_bytes(1, job) + f_bytes(2, rnd()) + f_int(3, -1)),
    ("UpdateTaskExecutionState with state 99", 21,
     f_bytes(1, job) + f_bytes(2, rnd()) + f_int(3, 99)),
    ("UpdateTaskExecutionState with a 1-byte attempt id", 21,
     f_bytes(1, job) + f_bytes(2, b"x") + f_int(3, 5)),
    ("UpdateTaskExecutionState of an unknown job", 21,
     f_bytes(1, rnd()) + f_bytes(2, rnd()) + f_int(3, 5)),
    ("BlobGet without a key", 23, b""),
    ("BlobGet of a path", 23, f_bytes(1, "../../../../etc/passwd")),
    ("BlobGet of an unknown key", 23, f_bytes(1, "0" * 64)),
    ("BlobGet at offset -1", 23, f_bytes(1, BLOB) + f_int(2, -1)),
    ("BlobGet of length -1", 23, f_bytes(1, BLOB) + f_int(3, -1)),
    ("BlobGet of 2 GiB", 23, f_bytes(1, BLOB) + f_int(3, 0x7fffffff)),
    ("BlobGet beyond the end", 23,
     f_bytes(1, BLOB) + f_int(2, 1 << 62) + f_int(3, 10)),
    ("BlobGet at the largest offset", 23,
     f_bytes(1, BLOB) + f_int(2, (1 << 63) - 1) + f_int(3, 1 << 20)),
    ("HeartbeatResponse of an unregistered peer", 15,
     f_bytes(1, "ghost") + f_bytes(2, f_bytes(1, f_int(1, 0)))),
    ("Disconnect of an unregistered peer", 25, f_bytes(1, "bye")),
    ("HeartbeatRequest", 14, f_int(1, 5)),
    ("RegisterTaskExecutor without fields", 12, b""),
    ("RegisterTaskExecutor with -1 slots", 12,
     f_bytes(1, "fz") + f_bytes(2, "127.0.0.1") + f_int(3, 1) +
     f_int(4, -1)),
    ("RegisterTaskExecutor with 2^31-1 slots", 12,
     f_bytes(1, "fz") + f_bytes(2, "127.0.0.1") + f_int(3, 1) +
     f_int(4, 0x7fffffff)),
    ("RegisterTaskExecutor with data port 70000", 12,
     f_bytes(1, "fz") + f_bytes(2, "127.0.0.1") + f_int(3, 70000) +
     f_int(4, 1)),
    ("RegisterTaskExecutor with a 10 kB resource id", 12,
     f_bytes(1, "r" * 10000) + f_bytes(2, "127.0.0.1") + f_int(3, 1) +
     f_int(4, 1)),
]
for name, num, body in cases:
    p.req += 1
    p.send(frame(env(num, body, req=p.req)))
    r = p.read_reply(p.req)
    check(name + ": answered", isinstance(r, dict))
# One-way messages and stray responses: no answer, no harm.
p.send(frame(env(21, f_bytes(1, job) + f_bytes(2, rnd()) + f_int(3, 7))))
p.send(frame(env(13, b"", req=424242, resp=True)))
p.send(frame(env(None, b"", req=7, resp=True, error="boom")))
r = p.call(14, f_int(1, 1))
check("connection still serves after stray messages", isinstance(r, dict))
p.close()

# 3. A fake TaskManager: registration with a hostile slot report,
# duplicate registration, a second resource id on the same connection,
# heartbeats with nonsense, then it vanishes.
p = Peer()
report = b"".join(f_bytes(1, s) for s in [
    f_int(1, -5) + f_bytes(2, rnd()),
    f_int(1, 1000) + f_bytes(2, rnd()),
    f_int(1, 0) + f_bytes(2, b"short") + f_bytes(3, b"x"),
    f_int(1, 1) + f_bytes(2, rnd()) + f_bytes(3, b"zz"),
    f_int(1, 1) + f_bytes(2, rnd()) + f_bytes(3, rnd()),
    b"",
])
reg = lambda rid: (f_bytes(1, rid) + f_bytes(2, "127.0.0.1") +
                   f_int(3, 1) + f_int(4, 2) + f_bytes(9, report))

def success(r):
    if not isinstance(r, dict) or 13 not in r:
        return False
    return parse(r[13][0]).get(1, [0])[0] == 1

check("fake TaskManager registered", success(p.call(12, reg("fuzz-tm"))))
check("duplicate registration accepted",
      success(p.call(12, reg("fuzz-tm"))))
check("registration under another id on the same connection",
      success(p.call(12, reg("fuzz-tm-2"))))
p.send(frame(env(15, f_bytes(1, "fuzz-tm-2") + f_bytes(2, report))))
r = p.call(15, f_bytes(2, f_bytes(1, f_int(1, -1)) +
                       f_bytes(1, f_int(1, 1 << 40))))
check("heartbeat with a hostile slot report answered", isinstance(r, dict))
open(sys.argv[5], "w").write("registered\n")
time.sleep(1.5)  # the JobManager lists us (checked by the shell)
p.close()

# 4. A peer that asks for blob chunks without reading the answers: the
# JobManager's memory stays bounded (replies are dropped).
def rss_kb(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
    return 0
jm_pid = int(sys.argv[6])
p = Peer()
p.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
before = rss_kb(jm_pid)
reqs = b"".join(frame(env(23, f_bytes(1, BLOB) + f_int(3, 1 << 20),
                          req=1000 + i)) for i in range(5000))
p.send(reqs)
time.sleep(1.5)
grown = (rss_kb(jm_pid) - before) // 1024
print("JobManager RSS grew by %d MiB" % grown)
check("JobManager memory bounded with an unread peer (%d MiB)" % grown,
      grown < 64)
p.close()

# 5. Many idle connections at once, then gone.
socks = []
for i in range(300):
    try:
        socks.append(socket.create_connection((HOST, PORT), timeout=5))
    except OSError:
        break
check("300 idle connections accepted", len(socks) == 300)
for s in socks:
    s.close()

print("%d failures" % len(fails))
sys.exit(1 if fails else 0)
PY

python3 "$WORK/rpcfuzz.py" 127.0.0.1 "$JM_RPC_PORT" "$JID" "$BLOB_KEY" \
    "$WORK/fuzz-registered" "$JM_PID" >"$WORK/rpcfuzz.out" 2>&1 &
FUZZ=$!
for ((i = 0; i < 200; i++)); do
    [ -f "$WORK/fuzz-registered" ] && break
    kill -0 "$FUZZ" 2>/dev/null || break
    sleep 0.1
done
rest_call GET /taskmanagers "$J"
expect_eq "fake TaskManager listed once (2 entries in all)" 2 \
    "$(json_py "$J" 'len(d["taskmanagers"])' 2>&1)"
if wait "$FUZZ"; then ok "RPC bad input: every case"; else
    fail "RPC bad input"; fi
grep -E '^(ok|FAIL)' "$WORK/rpcfuzz.out" | grep -c '^ok' |
    xargs -I{} echo "ok: {} RPC cases"
grep '^FAIL' "$WORK/rpcfuzz.out" >&2 || true
if cluster_wait_tms 1 10; then ok "fake TaskManager removed on close"; else
    fail "fake TaskManager removed on close"; fi
kill -0 "$JM_PID" 2>/dev/null && ok "JobManager alive after RPC bad input" ||
    fail "JobManager died after RPC bad input"

# ---- REST ---------------------------------------------------------------
rest_call POST /jars/upload "$J" -F "jarfile=@$WC"
code_expect "upload" 200
JAR_ID=$(json_py "$J" 'd["filename"].split("/")[-1]')
post_run() { # NAME EXPECTED BODY
    printf '%s' "$3" >"$WORK/body.json"
    rest_call POST "/jars/$JAR_ID/run" "$J" -H 'Content-Type: application/json' \
        --data-binary "@$WORK/body.json"
    code_expect "$1" "$2"
}
post_run 'parallelism "x"' 400 '{"parallelism": "x"}'
post_run "parallelism -2" 400 '{"parallelism": -2}'
post_run "parallelism 1e9" 400 '{"parallelism": 1e9}'
post_run "parallelism 1000000000" 400 '{"parallelism": 1000000000}'
post_run "parallelism 2^40" 400 '{"parallelism": 1099511627776}'
post_run "parallelism true" 400 '{"parallelism": true}'
post_run "programArgsList a string" 400 '{"programArgsList": "--x"}'
post_run "programArgsList with an object" 400 '{"programArgsList": [{}]}'
post_run "programArgsList with null" 400 '{"programArgsList": [null]}'
post_run "programArgs a number" 400 '{"programArgs": 5}'
post_run "flinkConfiguration an array" 400 '{"flinkConfiguration": []}'
post_run "jobId of 31 hex" 400 '{"jobId": "0123456789abcdef0123456789abcde"}'
post_run "body an array" 400 '[1,2]'
post_run "trailing garbage" 400 '{} x'
post_run "invalid UTF-8" 400 "$(printf '{"entryClass": "\xff\xfe"}')"
post_run "deep nesting" 400 "$(python3 -c 'print("[" * 100000 + "]" * 100000)')"
post_run "a 900 kB string in programArgs" 400 \
    "$(python3 -c 'print("{\"programArgs\": \"" + "a" * 900000 + "\", \"parallelism\": -2}")')"
jid_bad=0123456789abcdef0123456789abcdeg
for path in "/jobs/$jid_bad" "/jobs/${JID}0" "/jobs/${JID:0:31}" \
    "/jobs/$JID/vertices/xyz" "/jobs/%2e%2e%2f%2e%2e%2fetc" \
    "/taskmanagers/..%2F..%2Fetc%2Fpasswd" "/jars/..%2F..%2Fetc%2Fpasswd/plan" \
    "/jobmanager/logs/..%252f..%252f..%252fetc%252fpasswd" \
    "/jobs/$JID/vertices/$(printf 'v%.0s' {1..5000})"; do
    rest_call GET "$path" "$J"
    case "$HTTP_CODE" in
    400 | 404) ok "GET $(cut -c1-60 <<<"$path"): $HTTP_CODE" ;;
    *) fail "GET $(cut -c1-60 <<<"$path"): HTTP $HTTP_CODE" ;;
    esac
    if grep -q 'root:' "$J"; then fail "file content leaked by $path"; fi
done
for jar in "..%2F..%2Fetc%2Fpasswd" "$JAR_ID%00.so" ".." "$(printf 'x%.0s' {1..300})"; do
    rest_call POST "/jars/$jar/run" "$J"
    case "$HTTP_CODE" in
    400 | 404) ok "run of jar id $(cut -c1-40 <<<"$jar"): $HTTP_CODE" ;;
    *) fail "run of jar id $(cut -c1-40 <<<"$jar"): HTTP $HTTP_CODE" ;;
    esac
    rest_call DELETE "/jars/$jar" "$J"
    case "$HTTP_CODE" in
    400 | 404) ok "delete of jar id $(cut -c1-40 <<<"$jar"): $HTTP_CODE" ;;
    *) fail "delete of jar id $(cut -c1-40 <<<"$jar"): HTTP $HTTP_CODE" ;;
    esac
done
rest_call POST /jars/upload "$J" -F "jarfile=@$WC" -F "jarfile=@$WC"
code_expect "upload of two files" 400
rest_call POST /jars/upload "$J" -F "jarfile=@$WC" -F "other=value"
code_expect "upload with an unknown attribute" 400
rest_call POST /jars/upload "$J" -F "jarfile=@$WC;filename="
code_expect "upload with an empty file name" 400
rest_call POST /jars/upload "$J" -F "jarfile=@$WC;filename=.."
code_expect "upload named .." 400
rest_call POST /jars/upload "$J" -H 'Content-Type: multipart/form-data' \
    --data-binary 'garbage'
code_expect "multipart without a boundary" 400
rest_call PATCH "/jobs/$jid_bad?mode=cancel" "$J"
code_expect "cancel of a bad job id" 400
rest_call GET "/jobs/$JID/yarn-cancel/extra" "$J"
code_expect "unknown sub-path" 404
rest_call GET /jars "$J"
expect_eq "the upload is still there, no other jar came" True \
    "$(json_py "$J" "str('$JAR_ID' in [f['id'] for f in d['files']] and len(d['files']) == 2)")"

# Raw HTTP: a body shorter than its Content-Length, a header flood, a
# request line of 100 kB, a connection that sends nothing.
if python3 - 127.0.0.1 "$REST_PORT" >"$WORK/rawhttp.out" 2>&1 <<'PY'
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
def conn():
    return socket.create_connection((host, port), timeout=10)
s = conn()
s.sendall(b"POST /jars/x/run HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n"
          b"Content-Type: application/json\r\n\r\n{\"a\":")
s.close()
s = conn()
s.sendall(b"GET /overview HTTP/1.1\r\nHost: a\r\n" +
          b"".join(b"X-%d: %s\r\n" % (i, b"y" * 100) for i in range(3000)) +
          b"\r\n")
try:
    s.recv(100)
except OSError:
    pass
s.close()
s = conn()
try:
    s.sendall(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    s.recv(100)
except OSError:
    pass
s.close()
idle = [conn() for _ in range(50)]
time.sleep(0.5)
for s in idle:
    s.close()
s = conn()
s.sendall(b"GET /overview HTTP/1.0\r\n\r\n")
d = s.recv(100)
print("status:", d.split(b"\r\n")[0].decode())
sys.exit(0 if b" 200 " in d else 1)
PY
then ok "raw HTTP oddities: $(tail -1 "$WORK/rawhttp.out")"
else fail "raw HTTP: $(cat "$WORK/rawhttp.out")"; fi

# ---- the cluster is intact ---------------------------------------------
rest_call GET /overview "$J"
code_expect "GET /overview after bad input" 200
expect_eq "one TaskManager" 1 "$(json_py "$J" 'd["taskmanagers"]')"
expect_eq "slots: 2 in all, 0 free" "2 0" \
    "$(json_py "$J" 'str(d["slots-total"]) + " " + str(d["slots-available"])')"
expect_eq "the job still RUNNING" RUNNING "$(cluster_job_field "$JID" 'd["state"]')"
expect_eq "the job never restarted" False \
    "$(cluster_job_field "$JID" 'str(d["timestamps"].get("RESTARTING", 0) > 0)')"
kill -0 "${TM_PIDS[a]}" 2>/dev/null && ok "TaskManager alive" ||
    fail "TaskManager died"
rest_call PATCH "/jobs/$JID?mode=cancel" "$J"
code_expect "cancel" 202
for ((i = 0; i < 50; i++)); do
    [ "$(cluster_job_field "$JID" 'd["state"]')" = CANCELED ] && break
    sleep 0.1
done
expect_eq "job CANCELED" CANCELED "$(cluster_job_field "$JID" 'd["state"]')"

if cluster_stop; then ok "no sanitizer report"; fi
finish

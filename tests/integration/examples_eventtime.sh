#!/usr/bin/env bash
# The event-time examples (windowed_wordcount, top_speed_windowing,
# session_windows) run locally and print exactly what an independent
# oracle (python, below) computes from the same data with Flink's
# semantics:
#  - windowed_wordcount: tumbling event-time windows over
#    examples/data/timestamped.txt; with a bound larger than the data's
#    disorder no word is late, whatever the parallelism and however the
#    periodic watermarks fall, so the counts are exact; with a bound of 0
#    some words may be late (timing-dependent), and then every word is
#    either counted or reported late, exactly once;
#  - top_speed_windowing: global windows, DeltaTrigger(50 m), TimeEvictor
#    (10 s), maxBy(speed), per car in order;
#  - session_windows: sessions with a 3 ms gap, in the order the
#    punctuated watermarks fire them.
# Exit 77 (skipped) when the example plugins are not built.
source "$(dirname "$0")/common.bash"

for ex in windowed_wordcount top_speed_windowing session_windows; do
    if [ ! -f "$EXAMPLES/$ex.so" ]; then
        echo "skipped: $EXAMPLES/$ex.so is not built"
        exit 77
    fi
done

DATA="$CF_SOURCE_DIR/examples/data/timestamped.txt"

cat >"$WORK/oracle.py" <<'EOF'
import re
import sys


def wordcount(path, size, bound):
    """(start,word,count) per tumbling window; checks the data's disorder
    is below the watermark bound, so that no word can be late."""
    counts = {}
    max_ts = None
    worst = 0
    for line in open(path):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        ts = int(line.split()[0])
        if max_ts is not None and ts < max_ts:
            worst = max(worst, max_ts - ts)
        max_ts = ts if max_ts is None else max(max_ts, ts)
        start = ts - ts % size
        for w in re.findall(r"[A-Za-z]+", line):
            k = (start, w.lower())
            counts[k] = counts.get(k, 0) + 1
    if bound is not None and worst >= bound:
        sys.exit("data disorder %d >= bound %d" % (worst, bound))
    for (start, w), c in counts.items():
        print("(%d,%s,%d)" % (start, w, c))


def splitmix64(i):
    m = (1 << 64) - 1
    z = (i + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def topspeed(events, cars):
    speeds = [50] * cars
    dist = [0.0] * cars
    window = [[] for _ in range(cars)]  # per car: events (speed, dist, ts)
    last = [None] * cars  # DeltaTrigger's last element (its distance)
    for i in range(events):
        c = i % cars
        if splitmix64(i) & 1:
            speeds[c] = min(100, speeds[c] + 5)
        else:
            speeds[c] = max(0, speeds[c] - 5)
        dist[c] += speeds[c] / 3.6
        ev = (speeds[c], dist[c], 1700000000000 + (i // cars) * 100)
        window[c].append(ev)
        if last[c] is None:
            last[c] = ev[1]
            continue
        if not ev[1] - last[c] > 50.0:
            continue
        last[c] = ev[1]
        # TimeEvictor before the function: drop ts <= max ts - 10 s.
        cutoff = max(e[2] for e in window[c]) - 10000
        window[c] = [e for e in window[c] if e[2] > cutoff]
        best = window[c][0]
        for e in window[c][1:]:
            if e[0] > best[0]:
                best = e
        print("(%d,%d,%.2f,%d)" % (c, best[0], best[1], best[2]))


def sessions():
    """Session windows (gap 3) with a watermark ts - 1 after each element
    and MAX at the end; prints the firings, one group per watermark:
    '#' lines separate the groups."""
    data = [("a", 1, 1), ("b", 1, 1), ("b", 3, 1), ("b", 5, 1),
            ("c", 6, 1), ("a", 10, 1), ("c", 11, 1)]
    gap = 3
    open_ = {}  # key -> list of [start, end, first_ts, sum]

    def fire(wm):
        due = []
        for k, ws in open_.items():
            for w in ws:
                if w[1] - 1 <= wm:
                    due.append((w[1] - 1, k, w))
        for _, k, w in sorted(due):
            open_[k].remove(w)
            print("(%s,%d,%d)" % (k, w[2], w[3]))
        print("#")

    for k, ts, n in data:
        nw = [ts, ts + gap, ts, n]
        ws = open_.setdefault(k, [])
        for w in list(ws):
            if w[0] <= nw[1] and nw[0] <= w[1]:  # intersect (TimeWindow.intersects): merge
                ws.remove(w)
                first = w[2] if w[0] <= nw[0] else nw[2]
                nw = [min(w[0], nw[0]), max(w[1], nw[1]), first, w[3] + nw[3]]
        ws.append(nw)
        fire(ts - 1)
    fire(2 ** 63 - 1)


mode = sys.argv[1]
if mode == "wordcount":
    wordcount(sys.argv[2], int(sys.argv[3]),
              int(sys.argv[4]) if len(sys.argv) > 4 else None)
elif mode == "topspeed":
    topspeed(int(sys.argv[2]), int(sys.argv[3]))
elif mode == "sessions":
    sessions()
EOF

# compare NAME EXPECTED_FILE ACTUAL_FILE: equal as sorted line sets.
compare_sorted() {
    local name=$1
    sort "$2" >"$WORK/exp.sorted"
    sort "$3" >"$WORK/got.sorted"
    if cmp -s "$WORK/exp.sorted" "$WORK/got.sorted"; then
        ok "$name ($(wc -l <"$WORK/exp.sorted") lines)"
    else
        fail "$name: output differs from the oracle (< expected, > got):"
        diff "$WORK/exp.sorted" "$WORK/got.sorted" | head -20 >&2 || true
    fi
}

# ---- windowed_wordcount -------------------------------------------------

python3 "$WORK/oracle.py" wordcount "$DATA" 10000 2000 >"$WORK/wwc.exp"
expect_eq "oracle: timestamped.txt has ~200 lines over minutes" 1 \
    "$(awk 'END { print (NR >= 150 && NR <= 250) }' "$DATA")"
for p in 1 2; do
    run_cf "$WORK/out" "$WORK/err" 60 run -t local -p "$p" \
        "$EXAMPLES/windowed_wordcount.so" --input "$DATA"
    expect_eq "windowed_wordcount p=$p exit code" 0 "$RC"
    [ "$RC" -eq 0 ] || sed 's/^/    /' "$WORK/err" | tail -5 >&2
    job_output "$WORK/out" | strip_prefix >"$WORK/wwc.got"
    compare_sorted "windowed_wordcount p=$p equals the oracle" \
        "$WORK/wwc.exp" "$WORK/wwc.got"
done

# Another window size, written to part files.
python3 "$WORK/oracle.py" wordcount "$DATA" 60000 2000 >"$WORK/wwc60.exp"
run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 2 \
    "$EXAMPLES/windowed_wordcount.so" --input "$DATA" --window 60000 \
    --output "$WORK/wwc-out"
expect_eq "windowed_wordcount --window 60000 --output exit code" 0 "$RC"
find "$WORK/wwc-out" -type f ! -name '.*' -exec cat {} + \
    >"$WORK/wwc60.got" 2>/dev/null || true
compare_sorted "windowed_wordcount --window 60000 part files equal the oracle" \
    "$WORK/wwc60.exp" "$WORK/wwc60.got"

# No out-of-orderness allowed: some words may be late (which ones
# depends on when the periodic watermarks go out), but each word is
# counted in its window or reported late, exactly once.
run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 1 \
    "$EXAMPLES/windowed_wordcount.so" --input "$DATA" --out-of-orderness 0
expect_eq "windowed_wordcount --out-of-orderness 0 exit code" 0 "$RC"
job_output "$WORK/out" | strip_prefix | python3 -c '
import re, sys
size = 10000
tot = {}
for line in sys.stdin:
    m = re.fullmatch(r"\(late,(\d+),([a-z]+)\)", line.strip())
    if m:
        ts = int(m.group(1))
        k = (ts - ts % size, m.group(2))
        tot[k] = tot.get(k, 0) + 1
        continue
    m = re.fullmatch(r"\((\d+),([a-z]+),(\d+)\)", line.strip())
    if not m:
        sys.exit("unexpected line: " + line)
    k = (int(m.group(1)), m.group(2))
    tot[k] = tot.get(k, 0) + int(m.group(3))
for k, c in tot.items():
    print("(%d,%s,%d)" % (k[0], k[1], c))
' >"$WORK/wwc0.got" || fail "windowed_wordcount --out-of-orderness 0: bad output"
compare_sorted "windowed_wordcount --out-of-orderness 0: counted + late = all" \
    "$WORK/wwc.exp" "$WORK/wwc0.got"

# Late data, deterministically: a TCP server sends two batches a second
# apart (many watermark intervals), so the watermark of the first batch
# (12000 - 0 - 1) has fired the window [0, 10000) when the second batch
# brings "alpha gamma" at 3000. Without allowed lateness both words are
# late (side output); with 5000 ms they fire the window again (a late
# firing: alpha's count is updated to 2).
late_run() { # NAME EXPECTED ARGS...
    local name=$1 expected=$2 port server hexport
    shift 2
    port=$(free_port)
    python3 - "$port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); s.settimeout(30)
c, _ = s.accept()
c.sendall(b"1700000005000 alpha\n1700000012000 beta\n")
time.sleep(1.5)
c.sendall(b"1700000003000 alpha gamma\n1700000011000 delta\n")
c.close(); s.close()
PY
    server=$!
    hexport=$(printf '%04X' "$port")
    for _ in $(seq 100); do
        grep -q ":$hexport 00000000:0000 0A" /proc/net/tcp && break
        sleep 0.05
    done
    run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 1 \
        -D pipeline.auto-watermark-interval=50ms \
        "$EXAMPLES/windowed_wordcount.so" --hostname 127.0.0.1 --port "$port" \
        --out-of-orderness 0 "$@"
    wait "$server" || true
    expect_eq "$name exit code" 0 "$RC"
    expect_eq "$name output" "$expected" \
        "$(job_output "$WORK/out" | strip_prefix | sort | paste -sd' ')"
}
late_run "windowed_wordcount late words to the side output" \
    "(1700000000000,alpha,1) (1700000010000,beta,1) (1700000010000,delta,1) (late,1700000003000,alpha) (late,1700000003000,gamma)"
late_run "windowed_wordcount --allowed-lateness 5000: late firing" \
    "(1700000000000,alpha,1) (1700000000000,alpha,2) (1700000000000,gamma,1) (1700000010000,beta,1) (1700000010000,delta,1)" \
    --allowed-lateness 5000

# Bad arguments fail the submission with a clear message.
run_cf "$WORK/out" "$WORK/err" 30 run -t local \
    "$EXAMPLES/windowed_wordcount.so" --window 0
expect_eq "windowed_wordcount --window 0 fails" 1 "$([ "$RC" -ne 0 ] && echo 1 || echo 0)"
cat "$WORK/out" "$WORK/err" >"$WORK/all"
expect_contains "windowed_wordcount --window 0 message" "$WORK/all" \
    "--window must be a number of milliseconds >= 1"

# A line without a timestamp fails the job, naming the line.
printf '1700000000000 fine line\nno timestamp here\n' >"$WORK/bad.txt"
run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 1 \
    "$EXAMPLES/windowed_wordcount.so" --input "$WORK/bad.txt"
expect_eq "windowed_wordcount bad line fails" 1 "$([ "$RC" -ne 0 ] && echo 1 || echo 0)"
cat "$WORK/out" "$WORK/err" >"$WORK/all"
expect_contains "windowed_wordcount bad line message" "$WORK/all" \
    "not 'no timestamp here'"

# ---- top_speed_windowing -----------------------------------------------

check_topspeed() { # NAME EVENTS CARS P
    python3 "$WORK/oracle.py" topspeed "$2" "$3" >"$WORK/ts.exp"
    run_cf "$WORK/out" "$WORK/err" 60 run -t local -p "$4" \
        "$EXAMPLES/top_speed_windowing.so" --events "$2" --cars "$3"
    expect_eq "$1 exit code" 0 "$RC"
    [ "$RC" -eq 0 ] || sed 's/^/    /' "$WORK/err" | tail -5 >&2
    job_output "$WORK/out" | strip_prefix >"$WORK/ts.got"
    compare_sorted "$1 equals the oracle" "$WORK/ts.exp" "$WORK/ts.got"
    # Per car, the firings come in order.
    local c
    for ((c = 0; c < $3; c++)); do
        if ! diff <(grep "^($c," "$WORK/ts.exp") <(grep "^($c," "$WORK/ts.got") >/dev/null; then
            fail "$1: the firings of car $c are out of order"
            return
        fi
    done
    ok "$1: per-car order"
}
check_topspeed "top_speed_windowing default" 1000 2 2
check_topspeed "top_speed_windowing 3 cars" 3000 3 1

run_cf "$WORK/out" "$WORK/err" 30 run -t local \
    "$EXAMPLES/top_speed_windowing.so" --cars 0
expect_eq "top_speed_windowing --cars 0 fails" 1 "$([ "$RC" -ne 0 ] && echo 1 || echo 0)"
cat "$WORK/out" "$WORK/err" >"$WORK/all"
expect_contains "top_speed_windowing --cars 0 message" "$WORK/all" \
    "--cars must be a number in 1..1000"

# ---- session_windows ----------------------------------------------------

python3 "$WORK/oracle.py" sessions >"$WORK/sw.groups"
expect_eq "oracle: Flink's SessionWindowing result" \
    "#,#,#,(a,1,1),#,#,(b,1,3),(c,6,1),#,#,(a,10,1),(c,11,1),#" \
    "$(paste -sd, "$WORK/sw.groups")"
grep -v '^#' "$WORK/sw.groups" >"$WORK/sw.exp"
run_cf "$WORK/out" "$WORK/err" 60 run -t local \
    "$EXAMPLES/session_windows.so"
expect_eq "session_windows exit code" 0 "$RC"
[ "$RC" -eq 0 ] || sed 's/^/    /' "$WORK/err" | tail -5 >&2
job_output "$WORK/out" | strip_prefix >"$WORK/sw.got"
compare_sorted "session_windows equals the oracle" "$WORK/sw.exp" "$WORK/sw.got"
# The order of the firings follows the watermarks: a's first session at
# watermark 4, b's and c's at 9, the last two at the end of input.
expect_eq "session_windows firing order" \
    "(a,1,1)|(b,1,3),(c,6,1)|(a,10,1),(c,11,1)" \
    "$(sed -n 1p "$WORK/sw.got")|$(sed -n 2,3p "$WORK/sw.got" | sort | paste -sd,)|$(sed -n 4,5p "$WORK/sw.got" | sort | paste -sd,)"

run_cf "$WORK/out" "$WORK/err" 30 run -t local \
    "$EXAMPLES/session_windows.so" --gap 5
expect_eq "session_windows unknown argument fails" 1 "$([ "$RC" -ne 0 ] && echo 1 || echo 0)"
cat "$WORK/out" "$WORK/err" >"$WORK/all"
expect_contains "session_windows unknown argument message" "$WORK/all" \
    "unknown argument '--gap'"

finish

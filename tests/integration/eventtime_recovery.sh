#!/usr/bin/env bash
# Event-time windows across a failure and a restore (Flink's
# EventTimeWindowCheckpointingITCase): a JobManager and two TaskManagers
# (6 slots each) on 127.0.0.1, checkpoints every 200 ms into a directory
# of the test, fixed-delay restarts. Three jobs of tests/plugins/tp_windows.c
# in generator mode run at the same time at -p 4:
#   - tumbling event-time windows of 1 s with reduce,
#   - sliding event-time windows of 1 s every 500 ms with a process
#     function (every element kept in window state),
#   - event-time session windows (gap 500 ms) with aggregate, over the
#     same sequence with a 1 s jump in time after every 100 numbers (a
#     session per 100 numbers, merged from single-element windows),
# over 8 keys x EVENTS sequence numbers (timestamp = seq * 10 ms, value =
# seq), rate-limited so that each job runs for several seconds, with
# bounded out-of-orderness 100 ms (sessions: 1100 ms): a source instance
# emits its keys round-robin and a restored one starts the round at its
# first key, so one key can run a step (10 ms; 1010 ms at a session
# boundary) behind another after a restore; with ooo 0 its last element
# of a window would be late (dropped) whenever a periodic watermark falls
# between the two. In each job, instance 0 of the parser fails once,
# 100 records after the third completed checkpoint it is notified of (a
# marker file makes it once; windows have fired into committed and into
# still open transactions by then, and others are half full): the job
# restarts from the latest completed checkpoint, with windows (their
# state and their event-time timers) in flight in it. The job must end
# FINISHED, and its committed output (exactly-once text sink) must hold
# every window of every key exactly once with the right count and sum
# (an arithmetic series of the sequence numbers): a lost element, an
# element counted twice (replay into restored window state), a timer that
# fires twice (a window emitted before the checkpoint and again after the
# restore, outside the committed transaction) or never (a timer lost in
# the restore) all fail the comparison.
#
# Exits 77 (skipped) when the daemons or the plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"
source "$(dirname "$0")/checkpoint.bash"

cluster_require_bins
PLUGIN=$(ckpt_plugin tp_windows)
cluster_trap

KEYS=8
EVENTS=${ET_REC_EVENTS:-2500} # per key; 25 s of event time
STEP=10                       # ms of event time per sequence number
RATE=${ET_REC_RATE:-1000}     # records/s per source instance (2 keys each)
CK="$WORK/checkpoints"
mkdir -p "$CK"

CKPT_TM_OPTS=(-D taskmanager.numberOfTaskSlots=6)
ckpt_start_cluster \
    -D execution.checkpointing.interval=200ms \
    -D execution.checkpointing.dir="$CK" \
    -D restart-strategy.type=fixed-delay \
    -D restart-strategy.fixed-delay.attempts=5 \
    -D restart-strategy.fixed-delay.delay=200ms ||
    { fail "cluster start"; finish; exit 1; }
ok "JobManager and two TaskManagers with 6 slots each"

# expected NAME WINDOW-ARGS...: the oracle's lines for the generator.
python3 - "$WORK" "$KEYS" "$EVENTS" "$STEP" <<'PY'
import sys
work, keys, events, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def windows(size, slide):
    out = []
    for k in range(keys):
        acc = {}
        for s in range(events):
            ts = s * step
            last = ts - ts % slide
            st = last
            while st > ts - size:
                c = acc.setdefault(st, [0, 0])
                c[0] += 1
                c[1] += s
                st -= slide
        for st, (c, sm) in acc.items():
            out.append('k%d,%d,%d,%d,%d' % (k, st, st + size, c, sm))
    return sorted(out)

with open(work + '/expected-tumbling.txt', 'w') as f:
    f.write(''.join(l + '\n' for l in windows(1000, 1000)))
with open(work + '/expected-sliding.txt', 'w') as f:
    f.write(''.join(l + '\n' for l in windows(1000, 500)))

# sessions: ts = s * step + (s // 100) * 1000, gap 500: one session per
# block of 100 numbers, [first ts, last ts + gap)
out = []
for k in range(keys):
    for b in range((events + 99) // 100):
        seqs = range(b * 100, min(events, b * 100 + 100))
        ts = [s * step + (s // 100) * 1000 for s in seqs]
        out.append('k%d,%d,%d,%d,%d' % (k, ts[0], ts[-1] + 500, len(ts),
                                        sum(seqs)))
with open(work + '/expected-session.txt', 'w') as f:
    f.write(''.join(l + '\n' for l in sorted(out)))
PY
ok "expected windows: $(wc -l <"$WORK/expected-tumbling.txt") tumbling," \
    "$(wc -l <"$WORK/expected-sliding.txt") sliding," \
    "$(wc -l <"$WORK/expected-session.txt") sessions"

declare -A JOBS=()
submit() {
    local name=$1
    shift
    mkdir -p "$WORK/$name/out"
    ckpt_submit "$WORK/$name/run.out" "$WORK/$name/run.err" -p 4 "$PLUGIN" \
        --gen --keys "$KEYS" --events "$EVENTS" --step "$STEP" \
        --rate "$RATE" --out "$WORK/$name/out" \
        --fail-after-checkpoint "$WORK/$name/failed.marker" \
        --fail-checkpoint 3 "$@"
    if [ "$RC" -ne 0 ] || [ -z "$JID" ]; then
        fail "$name: submission ($RC): $(cat "$WORK/$name/run.out" "$WORK/$name/run.err" | tail -5)"
        return 1
    fi
    JOBS[$name]=$JID
    ok "$name submitted ($JID)"
}
submit tumbling --window tumbling --size 1000 --fn reduce --ooo 100
submit sliding --window sliding --size 1000 --slide 500 --fn process \
    --ooo 100
# (a step at a block boundary is 1010 ms of event time: ooo above it)
submit session --window session --gap 500 --every 100 --jump 1000 \
    --fn aggregate --ooo 1100

for name in "${!JOBS[@]}"; do
    jid=${JOBS[$name]}
    res=$(cluster_wait_job_done "$jid" 50) || true
    expect_eq "$name: job result" SUCCEEDED "$res"
    s=$(ckpt_stats "$jid")
    echo "$name checkpoints (completed, latest, restored, failed): $s"
    if [ -f "$WORK/$name/failed.marker" ]; then
        ok "$name: the planned failure happened"
    else
        fail "$name: no failure happened (no checkpoint completed before the end?)"
    fi
    rest_call GET "/jobs/$jid/exceptions" "$WORK/$name/exc.json"
    n=$(json_py "$WORK/$name/exc.json" \
        'len(d.get("exceptionHistory", {}).get("entries", []))' 2>/dev/null || echo 0)
    if [ "${n:-0}" -ge 1 ]; then ok "$name: $n failure(s) in the exception history"; else
        fail "$name: empty exception history"; fi
    r=$(awk '{print $3}' <<<"$s")
    if [[ "$r" =~ ^[0-9]+$ ]] && [ "$r" -gt 0 ]; then
        ok "$name: restored from checkpoint $r"
    else
        fail "$name: REST shows no restored checkpoint ($s)"
    fi
    ckpt_committed "$WORK/$name/out" | sort >"$WORK/$name/got.txt"
    if cmp -s "$WORK/$name/got.txt" "$WORK/expected-$name.txt"; then
        ok "$name: every window exactly once with the right count and sum" \
            "($(wc -l <"$WORK/expected-$name.txt") windows)"
    else
        fail "$name: committed windows differ from the oracle" \
            "($(wc -l <"$WORK/$name/got.txt") lines, expected $(wc -l <"$WORK/expected-$name.txt")):"
        dups=$(uniq -d "$WORK/$name/got.txt" | wc -l)
        echo "    duplicated lines: $dups" >&2
        diff "$WORK/expected-$name.txt" "$WORK/$name/got.txt" | head -12 |
            sed 's/^/    /' >&2 || true
    fi
done
nr=$(ckpt_grep_count 'Restoring task .* from checkpoint [0-9]+' "$WORK"/taskmanager-*.log)
if [ "$nr" -ge 1 ]; then ok "$nr subtasks restored from checkpoints"; else
    fail "no 'Restoring task' line in the TaskManager logs"; fi
finish

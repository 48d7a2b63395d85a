#!/usr/bin/env bash
# Event-time windows (the event-time issue's acceptance test): the test
# plugin tests/plugins/tp_windows.c reads "key,timestamp_ms,value" lines,
# assigns timestamps and bounded-out-of-orderness watermarks (optionally
# withIdleness), keys by key and applies a window; each firing is written
# as "key,window_start,window_end,count,sum" by the exactly-once text sink
# (late data as "key,ts,value" to a second directory). Every case runs
# with `cflink run -t local` at -p 1 and -p 4, and on a JobManager with
# two TaskManagers at -p 4; the output (a multiset of lines) must equal
# the one an independent oracle (Python, below) computes from the same
# input with Flink's WindowOperator semantics:
#   - watermark of a source instance = max timestamp seen - ooo - 1; a
#     window task's watermark = min over its input channels, idle
#     channels (withIdleness) left out, a finished channel at +inf;
#   - a window fires when the watermark reaches end - 1 (timer), or at
#     once when an element arrives for a window whose end - 1 <= the
#     watermark but end - 1 + lateness > it (late firing, the whole
#     contents again); a window is dropped when end - 1 + lateness <=
#     watermark; an element none of whose windows accepts it and with
#     ts + lateness <= watermark is late (dropped, or to the side
#     output);
#   - sessions merge windows [ts, ts + gap) that intersect;
#   - global windows with a count trigger (countWindow(n): purging;
#     countWindow(size, slide): CountTrigger(slide) + CountEvictor(size));
#     evictors evict before the function (CountEvictor keeps the last n
#     in arrival order, TimeEvictor keeps ts > max ts - ms) and the
#     evicted elements leave the window;
#   - at the end of the input the final watermark (+inf) fires every
#     time window.
#
# Determinism. Arrival order across parallel source instances, and the
# moment a periodic watermark is emitted, are not deterministic. The
# inputs are designed so that the result does not depend on them, and
# the oracle PROVES it for each run: for every element it computes the
# lowest and the highest watermark the window task can have when the
# element arrives, runs the simulation with both, and refuses the case
# (a test failure, "design") when the results differ. Ingredients:
#   - every key is in one input file only, so its elements reach the
#     window task in file order (one channel);
#   - in a file, timestamps never go back by more than ooo (generated
#     as t - jitter, jitter <= ooo, t increasing), so an element is never
#     late with respect to its own channel; the text-source cases have no
#     late element at all (the same directory is read at -p 1, where the
#     four files are one split in sequence: file f covers the time range
#     [f*T, (f+1)*T));
#   - late elements need the watermark to have moved first, and that
#     takes time (periodic watermarks every 200 ms): those cases use the
#     plugin's "paced" source, whose control lines pause an instance (it
#     returns CF_SOURCE_IDLE, so the task keeps running: periodic
#     watermarks go out; ",ka" keeps it active with keep-alive records
#     dropped after the watermark assigner) and make all instances meet
#     (#sync: a barrier through files in a directory; the daemons of the
#     cluster run on this machine). The watermark a late element sees is
#     then bounded below by what all instances emitted before the
#     barrier (a 500 ms pause after it lets the watermarks arrive), and
#     above by what they can emit before the next barrier. Late
#     elements are late by thousands of ms with respect to both bounds.
#     At -p 1 the paced cases read one merged file (the four files'
#     segments interleaved by time), with the same expected result.
#   - idleness: a bounded file source that ends emits the final
#     watermark, so an exhausted split can never hold the watermark back;
#     idleness only shows with a split that stays open without data. In
#     the idle case, instance 0 of the paced source sends its data
#     (timestamps < 10 s), meets the others, then stays open and silent
#     for 2.5 s (longer than idle-ms 300 + the 200 ms watermark interval);
#     the others continue with timestamps up to 60 s, pause 1.5 s with
#     keep-alives, then send elements at 20..50 s: with instance 0 idle
#     (left out of the minimum) the watermark is ~58.6 s and they are
#     late (side output); if idleness were ignored the watermark would
#     stay at ~9 s and they would be counted in their windows. The oracle
#     checks that the two expectations differ.
#
# Window functions rotate over the runs: -p 1 reduce, local -p 4
# aggregate, cluster -p 4 process (window bounds from the process
# function; for reduce/aggregate they are derived from the result's
# timestamp, the window's max timestamp).
#
# Exits 77 (skipped) when the test plugin is not built; the cluster runs
# are skipped (with a note) when the daemons are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"
source "$(dirname "$0")/checkpoint.bash"

PLUGIN=$(ckpt_plugin tp_windows)
ET_CASES=${ET_CASES:-"tumbling sliding session count count-evict evict-count evict-time lateness late-side idle"}
ET_MODES=${ET_MODES:-"p1 p4 cluster"}

cat >"$WORK/et.py" <<'PY'
"""Inputs and oracle of eventtime_windows.sh (see the script's header)."""
import json
import os
import random
import sys

MIN = -(1 << 63)
MAX = (1 << 63) - 1
GUARANTEED_PAUSE = 400  # ms: a pause this long emits a periodic watermark


def parse_split(lines):
    """Items of one split: ('d', key, ts, v) | ('pause', ms, ka) |
    ('sync', name, ka)."""
    items = []
    for ln in lines:
        if not ln:
            continue
        if ln.startswith('#'):
            f = ln[1:].split(',')
            ka = 'ka' in f[2:]
            if f[0] == 'pause':
                items.append(('pause', int(f[1]), ka))
            elif f[0] == 'sync':
                items.append(('sync', f[1], ka))
            continue
        k, ts, v = ln.split(',')
        items.append(('d', k, int(ts), int(v)))
    return items


def segments(items):
    """Split items at sync lines: a list of item lists."""
    segs = [[]]
    for it in items:
        if it[0] == 'sync':
            segs.append([])
        else:
            segs[-1].append(it)
    return segs


def seg_max(seg):
    m = MIN
    for it in seg:
        if it[0] == 'd':
            m = max(m, it[2])
    return m


def wm_of(maxts, ooo):
    return MIN if maxts == MIN else maxts - ooo - 1


def arrivals(splits, ooo, idle_ms):
    """Per key: [(ts, v, wm_lo, wm_hi)] in arrival order."""
    parsed = [segments(parse_split(s)) for s in splits]
    nseg = {len(p) for p in parsed}
    if len(parsed) > 1 and len(nseg) != 1:
        raise SystemExit('design: splits have different sync counts')
    out = {}
    for s, segs in enumerate(parsed):
        own_max = MIN          # max ts before the element
        own_guaranteed = MIN   # max ts before the last long pause
        for j, seg in enumerate(segs):
            # the segment starts with a long pause: watermarks emitted
            # before the barrier have arrived
            lead_pause = 0
            for it in seg:
                if it[0] != 'pause':
                    break
                lead_pause += it[1]
            for it in seg:
                if it[0] == 'pause':
                    if it[1] >= GUARANTEED_PAUSE:
                        own_guaranteed = own_max
                    continue
                _, k, ts, v = it
                lo = wm_of(own_guaranteed, ooo)
                hi = wm_of(own_max, ooo)
                for s2, segs2 in enumerate(parsed):
                    if s2 == s:
                        continue
                    seg2 = segs2[j]
                    silent = not any(i[0] == 'd' or (i[0] == 'pause' and i[2])
                                     for i in seg2)
                    if idle_ms > 0 and silent and lead_pause >= idle_ms + 700:
                        continue  # idle: left out of the minimum
                    before = max([seg_max(x) for x in segs2[:j]] + [MIN])
                    upto = max(before, seg_max(seg2))
                    lo2 = wm_of(before, ooo) if lead_pause >= GUARANTEED_PAUSE else MIN
                    # in the last segment the other split may have ended
                    hi2 = MAX if j == len(segs2) - 1 else wm_of(upto, ooo)
                    lo = min(lo, lo2)
                    hi = min(hi, hi2)
                out.setdefault(k, []).append((ts, v, lo, hi))
                own_max = max(own_max, ts)
    return out


class KeySim:
    def __init__(self, conf, key, res, late):
        self.c = conf
        self.key = key
        self.res = res
        self.late = late
        self.wins = {}  # (start, end) -> {'el': [(ts, v)], 'cnt': n}
        self.wm = MIN

    def fire(self, w):
        st = self.wins[w]
        el = st['el']
        ev = self.c.get('evictor')
        if ev and el:
            kind, n = ev.split(':')
            n = int(n)
            if kind == 'count' and len(el) > n:
                el = el[len(el) - n:]
            elif kind == 'time':
                mx = max(t for t, _ in el)
                el = [e for e in el if e[0] > mx - n]
            st['el'] = el
        if el:
            self.res.append('%s,%d,%d,%d,%d' % (self.key, w[0], w[1], len(el),
                                                sum(v for _, v in el)))

    def advance(self, W):
        if W <= self.wm:
            return
        if self.c['window'] != 'global-count':
            L = self.c['lateness']
            for w in sorted(self.wins, key=lambda w: w[1]):
                if self.wm < w[1] - 1 <= W:
                    self.fire(w)
                if w[1] - 1 + L <= W:
                    del self.wins[w]
        self.wm = W

    def assign(self, ts):
        c = self.c
        if c['window'] == 'tumbling':
            s = ts - ts % c['size']
            return [(s, s + c['size'])]
        if c['window'] == 'sliding':
            out = []
            s = ts - ts % c['slide']
            while s > ts - c['size']:
                out.append((s, s + c['size']))
                s -= c['slide']
            return out
        if c['window'] == 'global-count':
            return [(MIN, MAX)]
        raise AssertionError

    def element(self, ts, v, W):
        self.advance(W)
        c = self.c
        L = c['lateness']
        accepted = False
        if c['window'] == 'session':
            nw = (ts, ts + c['gap'])
            over = [w for w in self.wins if w[0] <= nw[1] and w[1] >= nw[0]]
            m = (min([nw[0]] + [w[0] for w in over]),
                 max([nw[1]] + [w[1] for w in over]))
            if m[1] - 1 + L > self.wm:
                el = []
                for w in over:
                    el += self.wins.pop(w)['el']
                self.wins[m] = {'el': el + [(ts, v)], 'cnt': 0}
                accepted = True
                if m[1] - 1 <= self.wm:
                    self.fire(m)
        else:
            for w in self.assign(ts):
                if c['window'] != 'global-count' and w[1] - 1 + L <= self.wm:
                    continue
                st = self.wins.setdefault(w, {'el': [], 'cnt': 0})
                st['el'].append((ts, v))
                accepted = True
                if c['window'] == 'global-count':
                    st['cnt'] += 1
                    if st['cnt'] >= c['count']:
                        st['cnt'] = 0
                        self.fire(w)
                        if not c.get('evictor'):
                            st['el'] = []  # purging
                elif w[1] - 1 <= self.wm:
                    self.fire(w)  # late firing
        if (not accepted and c['window'] != 'global-count'
                and ts + L <= self.wm):
            self.late.append('%s,%d,%d' % (self.key, ts, v))
            return 'late'
        return 'ok'

    def end(self):
        self.advance(MAX)


def oracle(conf, splits, idle_ms, check=True):
    arr = arrivals(splits, conf['ooo'], idle_ms)
    results = []
    for pick in (2, 3):  # watermark low bound, high bound
        res, late = [], []
        for k in sorted(arr):
            sim = KeySim(conf, k, res, late)
            lo_run = hi_run = MIN
            for a in arr[k]:
                lo_run = max(lo_run, a[2])
                hi_run = max(hi_run, a[3])
                sim.element(a[0], a[1], lo_run if pick == 2 else hi_run)
            sim.end()
        results.append((sorted(res), sorted(late)))
    if check and results[0] != results[1]:
        a, b = results
        diff = [x for x in a[0] if x not in b[0]][:5] + \
            [x for x in a[1] if x not in b[1]][:5]
        raise SystemExit('design: result depends on watermark timing '
                         '(case %s): %s' % (conf['name'], diff))
    return results[0]


def jittered(rng, times, ooo):
    return [max(0, t - rng.randint(0, ooo)) for t in times]


def text_case(rng, name, T, keys_per_file, ooo, bursty):
    """Four files, file f covers [f*T, (f+1)*T) and owns its keys."""
    files = []
    for f in range(4):
        ev = []
        for j in range(keys_per_file):
            key = 'k%d%d' % (f, j)
            t = f * T + rng.randint(0, 500)
            while t < (f + 1) * T:
                ev.append((t, key, rng.randint(-20, 100)))
                if bursty and rng.random() < 0.15:
                    t += rng.randint(3500, 9000)   # a session gap
                elif bursty and rng.random() < 0.1:
                    t += rng.randint(2400, 3400)   # merged or not by disorder
                else:
                    t += rng.randint(100, 1500)
        ev.sort()
        ts = jittered(rng, [e[0] for e in ev], ooo)
        files.append(['%s,%d,%d' % (e[1], x, e[2]) for e, x in zip(ev, ts)])
    return files


def paced_late_case(rng):
    """Phase 1: on time, t < 100 s; phase 2: late elements after a
    barrier. Returns (files for -p 4, merged file for -p 1)."""
    seg0, seg1 = [], []
    for f in range(4):
        ev = []
        for j in range(3):
            key = 'k%d%d' % (f, j)
            t = rng.randint(0, 300)
            while t < 99000:
                ev.append((t, key, rng.randint(1, 100)))
                t += rng.randint(200, 1500)
        ev.sort()
        ts = jittered(rng, [e[0] for e in ev], 2000)
        lines = [(e[0], '%s,%d,%d' % (e[1], x, e[2])) for e, x in zip(ev, ts)]
        # the last element sets the split's max: 99500 + f*100
        lines.append((99500 + f * 100, 'k%d0,%d,7' % (f, 99500 + f * 100)))
        seg0.append(lines)
        late = []
        for j in range(3):
            key = 'k%d%d' % (f, j)
            for _ in range(6):
                late.append('%s,%d,%d' % (key, rng.randint(0, 89999),
                                          rng.randint(1, 100)))
        seg1.append(late)
    ctl = ['#pause,500,ka', '#sync,a,ka', '#pause,500,ka']
    files = [[l for _, l in seg0[f]] + ctl + seg1[f] for f in range(4)]
    merged = [l for _, l in sorted((x for s in seg0 for x in s),
                                   key=lambda x: x[0])]
    merged += ctl + [l for s in seg1 for l in s]
    return files, [merged]


def idle_case(rng):
    seg0, seg1 = [], []
    for f in range(4):
        ev = []
        lo, hi = (0, 9500) if f == 0 else (10000, 59000)
        for j in range(3):
            key = 'k%d%d' % (f, j)
            t = lo + rng.randint(0, 300)
            while t < hi:
                ev.append((t, key, rng.randint(1, 100)))
                t += rng.randint(200, 1200)
        ev.sort()
        ts = jittered(rng, [e[0] for e in ev], 1000)
        lines = [(e[0], '%s,%d,%d' % (e[1], x, e[2])) for e, x in zip(ev, ts)]
        last = 9900 if f == 0 else 59500 + f * 100
        lines.append((last, 'k%d0,%d,3' % (f, last)))
        seg0.append(lines)
        late = []
        if f > 0:
            for j in range(3):
                for _ in range(5):
                    late.append('k%d%d,%d,%d' % (f, j, rng.randint(20000, 49999),
                                                 rng.randint(1, 100)))
        seg1.append(late)
    files = []
    for f in range(4):
        body = [l for _, l in seg0[f]]
        if f == 0:   # meets the others, then silent and open for 2 s
            files.append(body + ['#sync,a', '#pause,2500'])
        else:
            files.append(body + ['#pause,500,ka', '#sync,a,ka',
                                 '#pause,1500,ka'] + seg1[f])
    merged = [l for _, l in sorted((x for s in seg0 for x in s),
                                   key=lambda x: x[0])]
    merged += ['#pause,1500,ka'] + [l for s in seg1 for l in s]
    return files, [merged]


CASES = {
    'tumbling': dict(window='tumbling', size=5000, ooo=2000),
    'sliding': dict(window='sliding', size=10000, slide=2000, ooo=2000),
    'session': dict(window='session', gap=3000, ooo=2000),
    'count': dict(window='global-count', count=5, ooo=2000),
    'count-evict': dict(window='global-count', count=3, evictor='count:5',
                        ooo=2000),
    'evict-count': dict(window='tumbling', size=5000, evictor='count:3',
                        ooo=2000),
    'evict-time': dict(window='tumbling', size=5000, evictor='time:1500',
                       ooo=2000),
    'lateness': dict(window='tumbling', size=5000, ooo=2000, lateness=20000,
                     late=True, paced=True),
    'late-side': dict(window='tumbling', size=5000, ooo=2000, lateness=0,
                      late=True, paced=True),
    'idle': dict(window='tumbling', size=5000, ooo=1000, idle_ms=300,
                 late=True, paced=True),
}


def write_dir(d, files):
    os.makedirs(d, exist_ok=True)
    for i, lines in enumerate(files):
        with open(os.path.join(d, 'in-%d.txt' % i), 'w') as f:
            f.write('\n'.join(lines) + '\n')


def main():
    root, names = sys.argv[1], sys.argv[2:]
    rng = random.Random(20261207)
    for name in names:
        c = dict(CASES[name])
        c['name'] = name
        c.setdefault('lateness', 0)
        c.setdefault('idle_ms', 0)
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        if name == 'idle':
            files, merged = idle_case(rng)
        elif c.get('paced'):
            files, merged = paced_late_case(rng)
        else:
            files = text_case(rng, name, 30000, 3, c['ooo'],
                              bursty=(name == 'session'))
            merged = None
        write_dir(os.path.join(d, 'in4'), files)
        if merged:
            write_dir(os.path.join(d, 'in1'), merged)
        layouts = {'p4': files}
        # -p 1: one split reads every file in order (text), or the merged
        # file (paced)
        layouts['p1'] = merged if merged else [[l for f in files for l in f]]
        for mode, splits in layouts.items():
            res, late = oracle(c, splits, c['idle_ms'])
            with open(os.path.join(d, 'expected-%s.txt' % mode), 'w') as f:
                f.write(''.join(l + '\n' for l in res))
            with open(os.path.join(d, 'expected-late-%s.txt' % mode), 'w') as f:
                f.write(''.join(l + '\n' for l in late))
            if mode == 'p4' and name == 'idle':
                # idleness ignored, split 0 still open: the low bound
                res0, late0 = oracle(c, splits, 0, check=False)
                if (res0, late0) == (res, late):
                    raise SystemExit('design: the idle case does not depend '
                                     'on idleness')
                if not late:
                    raise SystemExit('design: the idle case has no late data')
        if c.get('late'):
            with open(os.path.join(root, name, 'expected-late-p4.txt')) as f:
                if not f.read().strip():
                    raise SystemExit('design: %s has no late data' % name)
        args = ['--window', c['window'], '--ooo', str(c['ooo'])]
        for k in ('size', 'slide', 'gap', 'count', 'evictor'):
            if k in c:
                args += ['--' + k, str(c[k])]
        if c['lateness']:
            args += ['--lateness', str(c['lateness'])]
        if c['idle_ms']:
            args += ['--idle-ms', str(c['idle_ms'])]
        if c.get('late'):
            args += ['--late-tag', 'late']
        args += ['--source', 'paced' if c.get('paced') else 'text']
        with open(os.path.join(d, 'args'), 'w') as f:
            f.write(' '.join(args) + '\n')
        with open(os.path.join(d, 'paced'), 'w') as f:
            f.write('1\n' if c.get('paced') else '0\n')


main()
PY

DATA="$WORK/cases"
mkdir -p "$DATA"
# shellcheck disable=SC2086
if python3 "$WORK/et.py" "$DATA" $ET_CASES >"$WORK/gen.out" 2>&1; then
    ok "inputs and oracle generated ($(echo $ET_CASES | wc -w) cases)"
else
    fail "generator/oracle: $(cat "$WORK/gen.out")"
    finish
    exit 1
fi
for c in $ET_CASES; do
    echo "case $c: $(cat "$DATA/$c/args") —" \
        "$(cat "$DATA/$c"/in4/*.txt | grep -vc '^#') input lines," \
        "$(wc -l <"$DATA/$c/expected-p4.txt") expected firings," \
        "$(wc -l <"$DATA/$c/expected-late-p4.txt") late"
done

# check_output CASE MODE OUT LATE: compare committed output with the
# oracle of MODE's layout (p1 or p4).
check_output() {
    local c=$1 m=$2 out=$3 late=$4 lay=p4
    [ "$m" = p1 ] && lay=p1
    ckpt_committed "$out" | sort >"$WORK/got.txt"
    sort "$DATA/$c/expected-$lay.txt" >"$WORK/exp.txt"
    if cmp -s "$WORK/got.txt" "$WORK/exp.txt"; then
        ok "$c $m: $(wc -l <"$WORK/exp.txt") window firings as the oracle"
    else
        fail "$c $m: window firings differ from the oracle" \
            "($(wc -l <"$WORK/got.txt") lines, expected $(wc -l <"$WORK/exp.txt")):"
        diff "$WORK/exp.txt" "$WORK/got.txt" | head -12 | sed 's/^/    /' >&2 || true
    fi
    if grep -q -- '--late-tag' "$DATA/$c/args"; then
        ckpt_committed "$late" | sort >"$WORK/got.txt"
        sort "$DATA/$c/expected-late-$lay.txt" >"$WORK/exp.txt"
        if cmp -s "$WORK/got.txt" "$WORK/exp.txt"; then
            ok "$c $m: $(wc -l <"$WORK/exp.txt") late records on the side output"
        else
            fail "$c $m: late side output differs from the oracle" \
                "($(wc -l <"$WORK/got.txt") lines, expected $(wc -l <"$WORK/exp.txt")):"
            diff "$WORK/exp.txt" "$WORK/got.txt" | head -12 | sed 's/^/    /' >&2 || true
        fi
    fi
}

# job_args CASE MODE RUNDIR: the plugin arguments of a run (into ARGS).
job_args() {
    local c=$1 m=$2 r=$3 fn in
    case $m in p1) fn=reduce ;; p4) fn=aggregate ;; *) fn=process ;; esac
    in="$DATA/$c/in4"
    if [ "$(cat "$DATA/$c/paced")" = 1 ] && [ "$m" = p1 ]; then
        in="$DATA/$c/in1"
    fi
    mkdir -p "$r/out" "$r/late" "$r/sync"
    read -r -a ARGS <"$DATA/$c/args"
    ARGS+=(--fn "$fn" --in "$in" --out "$r/out" --late-out "$r/late"
        --sync-dir "$r/sync")
}

# Local runs: the modes of a case run at the same time (the paced cases
# spend most of their time in pauses).
T0=$(date +%s)
for c in $ET_CASES; do
    pids=()
    for m in $ET_MODES; do
        [ "$m" = cluster ] && continue
        r="$WORK/run-$c-$m"
        job_args "$c" "$m" "$r"
        (
            set +e
            timeout -k 5 60 "$CFLINK" run -t local -p "${m#p}" "$PLUGIN" \
                "${ARGS[@]}" >"$r/stdout" 2>"$r/stderr"
            echo $? >"$r/rc"
        ) &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    for m in $ET_MODES; do
        [ "$m" = cluster ] && continue
        r="$WORK/run-$c-$m"
        rc=$(cat "$r/rc" 2>/dev/null || echo none)
        if [ "$rc" != 0 ]; then
            fail "$c $m: exit code $rc: $(tail -n 5 "$r/stderr" "$r/stdout")"
            continue
        fi
        check_output "$c" "$m" "$r/out" "$r/late"
    done
done
echo "local runs: $(($(date +%s) - T0)) s"

if [[ " $ET_MODES " == *" cluster "* ]]; then
    if [ ! -x "$JM_BIN" ] || [ ! -x "$TM_BIN" ]; then
        echo "NOTE: cluster runs skipped: the daemons are not built"
    else
        cluster_trap
        T0=$(date +%s)
        CKPT_TM_OPTS=(-D taskmanager.numberOfTaskSlots=4)
        if ! ckpt_start_cluster; then
            fail "cluster start"
            finish
            exit 1
        fi
        ok "JobManager and two TaskManagers with 4 slots each"
        # two jobs at a time (4 slots each at -p 4 with slot sharing)
        set -- $ET_CASES
        while [ $# -gt 0 ]; do
            batch=("$1")
            [ $# -gt 1 ] && batch+=("$2")
            shift "${#batch[@]}"
            declare -A BJ=()
            for c in "${batch[@]}"; do
                r="$WORK/run-$c-cluster"
                job_args "$c" cluster "$r"
                ckpt_submit "$r/stdout" "$r/stderr" -p 4 "$PLUGIN" "${ARGS[@]}"
                if [ "$RC" -ne 0 ] || [ -z "$JID" ]; then
                    fail "$c cluster: submission failed ($RC): $(tail -n 5 "$r/stderr" "$r/stdout")"
                    continue
                fi
                BJ[$c]=$JID
            done
            for c in "${batch[@]}"; do
                [ -n "${BJ[$c]:-}" ] || continue
                r="$WORK/run-$c-cluster"
                res=$(cluster_wait_job_done "${BJ[$c]}" 40) || true
                if [ "$res" != SUCCEEDED ]; then
                    rest_call GET "/jobs/${BJ[$c]}/exceptions" "$r/exc.json"
                    fail "$c cluster: job result $res: $(head -c 600 "$r/exc.json")"
                    continue
                fi
                check_output "$c" cluster "$r/out" "$r/late"
            done
            unset BJ
        done
        echo "cluster runs: $(($(date +%s) - T0)) s"
    fi
fi
finish

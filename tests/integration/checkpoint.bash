# checkpoint.bash: helpers of the checkpoint integration tests
# (checkpoint_*.sh; sourced after common.bash and cluster.bash, not a
# test). Names start with ckpt_.

# ckpt_plugin NAME: the path of test plugin NAME.so; exit 77 (skipped)
# when it is not built.
ckpt_plugin() {
    local p="$PLUGINS/$1.so"
    if [ ! -f "$p" ]; then
        echo "SKIP: $p is not built" >&2
        exit 77
    fi
    echo "$p"
}

# ckpt_start_cluster [-D key=value ...]: a JobManager (with these
# options) and two TaskManagers "a" and "b" with 2 slots each; waits for
# both to register.
CKPT_TM_OPTS=(-D taskmanager.numberOfTaskSlots=2)
ckpt_start_cluster() {
    cluster_start_jm "$@" || return 1
    cluster_start_tm a "${CKPT_TM_OPTS[@]}"
    cluster_start_tm b "${CKPT_TM_OPTS[@]}"
    cluster_wait_tms 2 20
}

# ckpt_job_id FILE: the job id printed by `cflink run` in FILE.
ckpt_job_id() {
    sed -nE 's/.*JobID ([0-9a-f]{32}).*/\1/p' "$1" | head -1
}

# ckpt_submit OUT ERR ARGS...: `cflink run -d -m <rest> ARGS...` with a
# 30 s limit; sets RC and JID (empty when no job id was printed).
ckpt_submit() {
    local out=$1 err=$2
    shift 2
    run_cf "$out" "$err" 30 run -d -m "127.0.0.1:$REST_PORT" "$@"
    JID=$(ckpt_job_id "$out")
}

# ckpt_stats JID: "<completed count> <latest completed id> <restored id>
# <failed count>" from GET /jobs/JID/checkpoints (-1 for what is missing;
# "x x x x" when the call fails).
ckpt_stats() {
    rest_call GET "/jobs/$1/checkpoints" "$WORK/.ckpt.json"
    if [ "$HTTP_CODE" != 200 ]; then
        echo "x x x x"
        return 0
    fi
    json_py "$WORK/.ckpt.json" '" ".join(str(x) for x in [
        d.get("counts", {}).get("completed", -1),
        ((d.get("latest") or {}).get("completed") or {}).get("id", -1),
        ((d.get("latest") or {}).get("restored") or {}).get("id", -1),
        d.get("counts", {}).get("failed", -1)])'
}

# ckpt_wait_completed JID AFTER_ID [TIMEOUT_S]: wait until the latest
# completed checkpoint id is above AFTER_ID; prints that id (nothing on
# timeout, status 1). Every latest id seen is appended to $CKPT_SEEN
# (a file), so the test can check they never go back.
CKPT_SEEN=
ckpt_wait_completed() {
    local jid=$1 after=$2 to=${3:-20} i s id
    for ((i = 0; i < to * 20; i++)); do
        s=$(ckpt_stats "$jid")
        id=$(awk '{print $2}' <<<"$s")
        if [[ "$id" =~ ^[0-9]+$ ]]; then
            [ -n "$CKPT_SEEN" ] && echo "$id" >>"$CKPT_SEEN"
            if [ "$id" -gt "$after" ]; then
                echo "$id"
                return 0
            fi
        fi
        sleep 0.05
    done
    return 1
}

# ckpt_job_state JID: the job's state (or "HTTP <code>").
ckpt_job_state() {
    cluster_job_field "$1" 'd["state"]'
}

# ckpt_wait_state JID STATE [TIMEOUT_S]: wait until the job is in STATE;
# prints the last state seen.
ckpt_wait_state() {
    local jid=$1 want=$2 to=${3:-30} i st=
    for ((i = 0; i < to * 10; i++)); do
        st=$(ckpt_job_state "$jid")
        if [ "$st" = "$want" ]; then
            echo "$st"
            return 0
        fi
        case "$st" in FAILED | CANCELED | FINISHED)
            [ "$st" != "$want" ] && { echo "$st"; return 1; } ;;
        esac
        sleep 0.1
    done
    echo "$st"
    return 1
}

# ckpt_wait_disturbed JID [TIMEOUT_S]: wait until the job is not RUNNING
# with every subtask RUNNING (a failure was noticed).
ckpt_wait_disturbed() {
    local jid=$1 to=${2:-10} i st
    for ((i = 0; i < to * 50; i++)); do
        st=$(cluster_job_field "$jid" \
            'd["state"] + ":" + str(all(v["status"] == "RUNNING" for v in d["vertices"]))')
        [ "$st" != "RUNNING:True" ] && return 0
        sleep 0.02
    done
    return 1
}

# ckpt_nondecreasing FILE: succeed when the numbers in FILE (one a line)
# never go down.
ckpt_nondecreasing() {
    awk 'NR > 1 && $1 < prev { bad = 1; print "went back: " prev " -> " $1 }
         { prev = $1 } END { exit bad }' "$1"
}

# ckpt_increasing FILE: succeed when the numbers in FILE strictly grow.
ckpt_increasing() {
    awk 'NR > 1 && $1 <= prev { bad = 1; print "not increasing: " prev " -> " $1 }
         { prev = $1 } END { exit bad }' "$1"
}

# ckpt_committed DIR: every line of the committed part files under DIR
# (Flink's FileSink names: committed "part-*"; in-progress and pending
# files are hidden ".part-*" or carry "inprogress"/"pending").
ckpt_committed() {
    find "$1" -type f -name 'part-*' ! -name '*inprogress*' \
        ! -name '*pending*' -print0 2>/dev/null |
        sort -z | xargs -0 -r cat
}

# ckpt_uncommitted DIR: names of part files under DIR that are not
# committed (in-progress or pending).
ckpt_uncommitted() {
    find "$1" -type f \( -name '.part-*' -o -name '*inprogress*' \
        -o -name '*pending*' \) -print 2>/dev/null
}

# ckpt_check_seq FILE KEYS N: FILE has lines "<key> <seq>" (other lines
# are reported): every one of KEYS keys must have N lines whose sequence
# numbers are 0..N-1, each exactly once. Prints a
# diagnosis; status 0 when exact. Catches lost records (a gap or a short
# count), duplicates (a sequence number twice, e.g. a transaction
# committed twice or replayed output) and foreign lines.
ckpt_check_seq() {
    awk -v keys="$2" -v n="$3" '
        NF != 2 || $2 !~ /^-?[0-9]+$/ {
            if (other < 5) print "unexpected line: " $0
            other++; next
        }
        {
            k = $1; s = $2 + 0
            cnt[k]++
            if (seen[k, s]++) { dup++; if (dup <= 5) print "duplicate: " k " " s }
            if (!(k in lo) || s < lo[k]) lo[k] = s
            if (!(k in hi) || s > hi[k]) hi[k] = s
        }
        END {
            nk = 0; bad = 0
            for (k in cnt) {
                nk++
                if (cnt[k] != n || lo[k] != 0 || hi[k] != n - 1) {
                    bad++
                    if (bad <= 5)
                        printf "key %s: %d lines, sequence %d..%d, expected 0..%d once\n", k, cnt[k], lo[k], hi[k], n - 1
                }
            }
            if (nk != keys) print "keys: " nk ", expected " keys
            printf "%d keys, %d lines, %d duplicates, %d bad keys, %d other lines\n", nk, NR, dup, bad, other
            exit (nk != keys || bad || dup || other) ? 1 : 0
        }' "$1"
}

# ckpt_check_prefix FILE KEYS: like ckpt_check_seq, but each key's
# numbers are 0..m for some m of its own (a prefix of its sequence),
# each exactly once.
ckpt_check_prefix() {
    awk -v keys="$2" '
        NF != 2 || $2 !~ /^[0-9]+$/ {
            if (other < 5) print "unexpected line: " $0
            other++; next
        }
        {
            k = $1; s = $2 + 0; cnt[k]++
            if (seen[k, s]++) { dup++; if (dup <= 5) print "duplicate: " k " " s }
            if (!(k in hi) || s > hi[k]) hi[k] = s
        }
        END {
            nk = 0; bad = 0
            for (k in cnt) {
                nk++
                if (cnt[k] != hi[k] + 1) {
                    bad++
                    if (bad <= 5) printf "key %s: %d lines up to %d\n", k, cnt[k], hi[k]
                }
            }
            if (nk != keys) print "keys: " nk ", expected " keys
            printf "%d keys, %d lines, %d duplicates, %d bad keys\n", nk, NR, dup, bad
            exit (nk != keys || bad || dup || other) ? 1 : 0
        }' "$1"
}

# ckpt_tm_kill NAME: kill -9 TaskManager NAME and reap it.
ckpt_tm_kill() {
    local pid=${TM_PIDS[$1]}
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# ckpt_grep_count REGEX FILES...: matching lines over the files (0 when
# none or missing).
ckpt_grep_count() {
    local re=$1
    shift
    cat "$@" 2>/dev/null | grep -cE -- "$re" || true
}

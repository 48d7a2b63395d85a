#!/usr/bin/env bash
# Partitioners: which sink subtask receives which record.
source "$(dirname "$0")/common.bash"

N=1000
run() { # part src dst
    run_cf "$WORK/out" "$WORK/err" 60 run -t local "$PLUGINS/tp_partition.so" \
        --part "$1" --src "$2" --dst "$3" --n $N
    expect_eq "$1 $2->$3 exit code" 0 "$RC"
    job_output "$WORK/out" > "$WORK/lines"
}
all=$(seq 0 $((N - 1)))

run broadcast 2 3
for s in 1 2 3; do
    expect_eq "broadcast: subtask $s got every record" "$all" \
        "$(grep "^$s> " "$WORK/lines" | strip_prefix | sort -n)"
done

run global 2 3
expect_eq "global: everything on subtask 1" "$all" \
    "$(grep '^1> ' "$WORK/lines" | strip_prefix | sort -n)"
expect_eq "global: nothing elsewhere" 0 "$(grep -vc '^1> ' "$WORK/lines" || true)"

run rebalance 2 4
expect_eq "rebalance: all records once" "$all" "$(strip_prefix < "$WORK/lines" | sort -n)"
for s in 1 2 3 4; do
    expect_eq "rebalance: subtask $s share" 250 "$(grep -c "^$s> " "$WORK/lines")"
done

run shuffle 2 4
expect_eq "shuffle: all records once" "$all" "$(strip_prefix < "$WORK/lines" | sort -n)"

# The sequence source gives subtask i the i-th contiguous range.
run forward 4 4
for s in 1 2 3 4; do
    lo=$(( (s - 1) * N / 4 )); hi=$(( s * N / 4 - 1 ))
    expect_eq "forward: subtask $s gets range $lo..$hi" "$(seq $lo $hi)" \
        "$(grep "^$s> " "$WORK/lines" | strip_prefix | sort -n)"
done

# rescale 2 -> 4: producer 0 feeds consumers 1,2; producer 1 feeds 3,4.
run rescale 2 4
expect_eq "rescale: first half on subtasks 1-2" "$(seq 0 $((N / 2 - 1)))" \
    "$(grep -E '^(1|2)> ' "$WORK/lines" | strip_prefix | sort -n)"
expect_eq "rescale: second half on subtasks 3-4" "$(seq $((N / 2)) $((N - 1)))" \
    "$(grep -E '^(3|4)> ' "$WORK/lines" | strip_prefix | sort -n)"

# hash: the subtask of each key follows Flink's key-group assignment over
# murmur3_32 of the key's 8 bytes (computed here independently).
run hash 2 3
python3 - "$WORK/lines" <<'PY'
import struct, sys
def murmur3_32(data, seed=0):
    c1, c2, h, n = 0xcc9e2d51, 0x1b873593, seed, len(data)
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & 0xffffffff
    for i in range(0, n - n % 4, 4):
        k = struct.unpack_from('<I', data, i)[0]
        k = rotl((k * c1) & 0xffffffff, 15) * c2 & 0xffffffff
        h = (rotl(h ^ k, 13) * 5 + 0xe6546b64) & 0xffffffff
    k = 0
    tail = data[n - n % 4:]
    for i, b in enumerate(tail):
        k |= b << (8 * i)
    if tail:
        h ^= rotl((k * c1) & 0xffffffff, 15) * c2 & 0xffffffff
    h ^= n
    h ^= h >> 16; h = h * 0x85ebca6b & 0xffffffff
    h ^= h >> 13; h = h * 0xc2b2ae35 & 0xffffffff
    return h ^ (h >> 16)
maxp, p, bad, seen = 128, 3, 0, 0
for line in open(sys.argv[1]):
    sub, v = line.strip().split('> ')
    key = int(v) % 10
    kg = murmur3_32(struct.pack('<q', key)) % maxp
    want = kg * p // maxp + 1
    seen += 1
    if int(sub) != want:
        bad += 1
print("hash records", seen, "misrouted", bad)
sys.exit(1 if bad or seen != 1000 else 0)
PY
if [ $? -eq 0 ]; then ok "hash: key groups as Flink"; else fail "hash routing"; fi
# Wide all-to-all edges: the full pools of a rebalance at p = 60 do not fit
# the default 4096-buffer budget; every pool then gets Flink's minimum
# (n + 1) and the job runs. At p = 64 even the minimum does not fit: the job
# fails with Flink's message instead of hanging.
run_cf "$WORK/out" "$WORK/err" 120 run -t local "$PLUGINS/tp_partition.so" \
    --part rebalance --src 60 --dst 60 --n 6000
expect_eq "p=60 rebalance exit" 0 "$RC"
expect_eq "p=60 rebalance records" 6000 "$(grep -c '> ' "$WORK/out")"
run_cf "$WORK/out" "$WORK/err" 120 run -t local "$PLUGINS/tp_partition.so" \
    --part rebalance --src 64 --dst 64 --n 10
expect_eq "p=64 rebalance exit" 1 "$RC"
expect_contains "p=64: Flink's message" "$WORK/err" \
    "Insufficient number of network buffers"
finish

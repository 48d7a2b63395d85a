#!/usr/bin/env bash
# The WordCount example: the last count printed per word equals the word's
# count in the input (an oracle computed here with tr/grep/uniq), for a
# file, a directory, a socket, and a part-file output directory.
source "$(dirname "$0")/common.bash"

WC="$EXAMPLES/wordcount.so"
oracle() { cat "$@" | tr 'A-Z' 'a-z' | grep -oE '[a-z]+' | sort | uniq -c | awk '{print $2, $1}' | sort; }
last_counts() { sed -E 's/^[0-9]+> //' | grep -E '^\(' | sed -E 's/^\(([^,]*),([0-9]+)\)$/\1 \2/' |
    awk '{last[$1] = $2} END { for (w in last) print w, last[w] }' | sort; }

# A bigger text: the bundled sample repeated, plus mixed case and digits.
for i in $(seq 50); do cat "$CF_SOURCE_DIR/examples/data/hamlet.txt"; echo "Line $i: MiXeD-case words_and 123 digits"; done > "$WORK/big.txt"

for p in 1 2 4; do
    run_cf "$WORK/out" "$WORK/err" 120 run -t local -p "$p" "$WC" --input "$WORK/big.txt"
    expect_eq "file p=$p exit code" 0 "$RC"
    expect_eq "file p=$p counts" "$(oracle "$WORK/big.txt")" "$(last_counts < "$WORK/out")"
done

# A directory of files (hidden files are skipped).
mkdir -p "$WORK/dir"
split -l 40 "$WORK/big.txt" "$WORK/dir/part-"
echo "ignored hidden words" > "$WORK/dir/.hidden"
run_cf "$WORK/out" "$WORK/err" 120 run -t local -p 2 "$WC" --input "$WORK/dir"
expect_eq "directory exit code" 0 "$RC"
expect_eq "directory counts" "$(oracle "$WORK/big.txt")" "$(last_counts < "$WORK/out")"

# Output directory: one finished part file per sink subtask.
run_cf "$WORK/out" "$WORK/err" 120 run -t local -p 2 "$WC" --input "$WORK/big.txt" --output "$WORK/result"
expect_eq "output dir exit code" 0 "$RC"
expect_eq "output dir counts" "$(oracle "$WORK/big.txt")" "$(cat "$WORK"/result/part-* | last_counts)"
expect_eq "no in-progress files left" "" "$(ls -A "$WORK/result" | grep inprogress || true)"

# Socket input (Flink's socketTextStream): a server sends the text and
# closes; the job ends with the stream.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$port" "$WORK/big.txt" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); s.settimeout(30)
c, _ = s.accept(); c.sendall(open(sys.argv[2], "rb").read()); c.close(); s.close()
PY
server=$!
hexport=$(printf '%04X' "$port")
for _ in $(seq 100); do
    grep -q ":$hexport 00000000:0000 0A" /proc/net/tcp && break
    sleep 0.05
done
run_cf "$WORK/out" "$WORK/err" 60 run -t local -p 2 "$WC" --hostname 127.0.0.1 --port "$port"
wait "$server" || true
expect_eq "socket exit code" 0 "$RC"
expect_eq "socket counts" "$(oracle "$WORK/big.txt")" "$(last_counts < "$WORK/out")"

# Bad input: a missing file is a one-line error naming it.
run_cf "$WORK/out" "$WORK/err" 30 run -t local "$WC" --input "$WORK/nope.txt"
expect_eq "missing input exit code" 1 "$RC"
expect_contains "missing input names the path" "$WORK/err" "$WORK/nope.txt"
expect_eq "missing input: one line" 1 "$(wc -l < "$WORK/err" | tr -d ' ')"
finish

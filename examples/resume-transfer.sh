#!/usr/bin/env bash
# Send a file, kill both ends mid-transfer (kill -9), start them again: the transfer continues
# where the receiver's checkpoint stands, and the copy is checked against the original.
# Usage: examples/resume-transfer.sh FILE [PORT]   (dwcp-send and dwcp-recv on PATH)
set -euo pipefail
f=${1:?usage: resume-transfer.sh FILE [PORT]}
port=${2:-7000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Paced to take about 2 s whatever the file's size, so the kill lands half-way.
rate=$(( $(stat -c %s "$f") * 8 / 2 + 8000 ))
send=(dwcp-send --resume --max-rate "$rate" --json "127.0.0.1:$port" "$f")
dwcp-recv --listen "127.0.0.1:$port" --resume -o "$dir/copy" & r=$!
sleep 0.3
# Started directly, not through a shell function: kill -9 of a function's subshell would leave
# its dwcp-send running, and it would race the restarted one.
"${send[@]}" > /dev/null & s=$!
sleep 1
kill -9 "$s" "$r"; wait "$s" "$r" 2>/dev/null || true
echo "killed both ends with $(stat -c %s "$dir/copy") bytes written"
dwcp-recv --listen "127.0.0.1:$port" --resume -o "$dir/copy" & r=$!
sleep 0.3
"${send[@]}" | sed 's/.*"resumed_bytes":\([0-9]*\).*/restarted: \1 bytes were already there and not sent again/'
wait "$r"
cmp "$dir/copy" "$f" && echo "$f: arrived identical"

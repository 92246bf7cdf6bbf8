#!/usr/bin/env bash
# Two pre-copy rounds of a changing image: round 1 in full, round 2 as a delta against round 1.
# The receiver applies each round to what it has. Usage: examples/precopy-rounds.sh IMAGE
set -euo pipefail
img=${1:?usage: precopy-rounds.sh IMAGE}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
cp "$img" "$dir/round1"                        # what the receiver will hold after round 1
dwcp-encode --json -o "$dir/r1.dwcp" "$dir/round1"
# ... the image changes; take round 2 ...
cp "$img" "$dir/round2"
printf 'changed' | dd of="$dir/round2" bs=1 seek=4096 conv=notrunc status=none
dwcp-encode --json --baseline "$dir/round1" -o "$dir/r2.dwcp" "$dir/round2"
# receiver side
dwcp-encode -d -o "$dir/recv1" "$dir/r1.dwcp"
dwcp-encode -d --baseline "$dir/recv1" -o "$dir/recv2" "$dir/r2.dwcp"
cmp "$dir/recv2" "$dir/round2" && echo "round 2 rebuilt from $(stat -c %s "$dir/r2.dwcp") bytes"

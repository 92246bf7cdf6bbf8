#!/usr/bin/env bash
# dwcp-rep: detection quality per class on simulated traces, and evidence throughput beside
# what OpenSSL verifies per second on the same machine in the same run.
set -euo pipefail
bin=${1:-.build/release}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin/dwcp-rep" eval --nodes 10,100,1000 --byzantine 0,0.1,0.33
"$bin/dwcp-rep" simulate --nodes 1000 --byzantine 0.1 --keys-out "$tmp/keys" > "$tmp/trace.jsonl"
records=$(wc -l < "$tmp/trace.jsonl")
start=$(date +%s.%N)
"$bin/dwcp-rep" --keys "$tmp/keys" -v "$tmp/trace.jsonl" > /dev/null 2> "$tmp/log"
end=$(date +%s.%N)
cat "$tmp/log"
ossl=$(openssl speed -seconds 5 -multi 2 ed25519 2>/dev/null | awk '/Ed25519/ {print $NF}' | tail -1)
python3 - "$records" "$start" "$end" "$ossl" <<'PY'
import sys
records, start, end, ossl = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rate = records / (end - start)
print(f"dwcp-rep: {rate:.0f} evidence records/s; openssl speed -multi 2 ed25519: {ossl:.0f} verify/s; ratio {rate / ossl:.2f}")
PY

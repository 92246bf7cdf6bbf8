#!/usr/bin/env bash
# Reputation as a cron job would run it: evidence arrives in batches, dwcp-rep keeps its state
# between runs, writes the quarantine list, and dwcp-place keeps VMs off quarantined nodes.
set -euo pipefail
PATH="$(cd "$(dirname "$0")/.." && pwd)/.build/debug:$PATH"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# A simulated network: 40 nodes, a third of them Byzantine (labels say who is who).
dwcp-rep simulate --nodes 40 --byzantine 0.33 --rounds 120 --keys-out "$dir/keys" --labels-out "$dir/labels" > "$dir/evidence.jsonl"
split -n l/3 "$dir/evidence.jsonl" "$dir/batch."

for batch in "$dir"/batch.*; do
  dwcp-rep --keys "$dir/keys" --state "$dir/rep.state" --quarantine-out "$dir/quarantine.txt" "$batch" > "$dir/findings.$(basename "$batch")"
  echo "after $(basename "$batch"): $(grep -c . "$dir/quarantine.txt" || true) quarantined"
done
echo "# quarantined, with the simulator's label:"
while read -r id _; do printf '%s %s\n' "$id" "$(awk -v id="$id" '$1 == id {print $2}' "$dir/labels")"; done < "$dir/quarantine.txt"

echo "# an equivocation proof, checked by anyone:"
# (sed, not head or grep -m1, reads to the end: under pipefail a writer cut off would fail the script)
grep -h '"equivocation"' "$dir"/findings.* | sed -n 1p | dwcp-rep verify-proof

echo "# placement avoids them:"
awk '{printf "{\"node\":\"%s\",\"cpu\":8}\n", $1}' "$dir/labels" > "$dir/nodes.jsonl"
for i in $(seq 1 10); do echo "{\"vm\":\"vm$i\",\"cpu\":2,\"group\":\"svc\"}"; done |
  dwcp-place --nodes "$dir/nodes.jsonl" --objective spread --exclude "$dir/quarantine.txt" | cut -c1-60

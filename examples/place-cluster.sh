#!/usr/bin/env bash
# Place VMs on a small heterogeneous cluster: a batch packed onto few nodes, the same VMs spread
# over failure domains with a node quarantined, and an online stream with a release.
set -euo pipefail
PATH="$(cd "$(dirname "$0")/.." && pwd)/.build/debug:$PATH"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cat > "$dir/nodes.jsonl" <<'NODES'
{"node":"dc1-a","cpu":32,"memory":131072,"gpu":0,"region":"eu","zone":"eu-1","domain":"rack1"}
{"node":"dc1-b","cpu":32,"memory":131072,"gpu":0,"region":"eu","zone":"eu-1","domain":"rack2"}
{"node":"dc1-g","cpu":64,"memory":262144,"gpu":4,"gpu_model":"T4","region":"eu","zone":"eu-2","domain":"rack3"}
{"node":"us-a","cpu":32,"memory":131072,"gpu":0,"region":"us","zone":"us-1","domain":"rack9","reputation":0.7}
NODES
cat > "$dir/vms.jsonl" <<'VMS'
{"vm":"db-1","cpu":8,"memory":32768,"group":"db","anti_affinity":true}
{"vm":"db-2","cpu":8,"memory":32768,"group":"db","anti_affinity":true}
{"vm":"web-1","cpu":2,"memory":4096,"group":"web"}
{"vm":"web-2","cpu":2,"memory":4096,"group":"web"}
{"vm":"infer","cpu":8,"memory":16384,"gpu":0.5,"gpu_models":["T4"]}
VMS
echo "us-a  # flagged by dwcp-rep" > "$dir/quarantine.txt"

echo "# pack: fewest nodes"
dwcp-place --nodes "$dir/nodes.jsonl" "$dir/vms.jsonl"
echo "# spread: replicas apart, never on a quarantined node"
dwcp-place --nodes "$dir/nodes.jsonl" --objective spread --exclude "$dir/quarantine.txt" "$dir/vms.jsonl"
echo "# online, with a release"
{ cat "$dir/vms.jsonl"; echo '{"release":"web-1"}'; } | dwcp-place --nodes "$dir/nodes.jsonl" --follow

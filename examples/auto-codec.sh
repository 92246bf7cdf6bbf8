#!/usr/bin/env bash
# How --codec auto's choice changes with the link rate. Usage: examples/auto-codec.sh FILE
set -euo pipefail
f=${1:?usage: auto-codec.sh FILE}
for rate in 10Mbit 100Mbit 1Gbit 10Gbit 100Gbit; do
  printf '%-8s ' "$rate"
  dwcp-encode -c auto --link-rate "$rate" --json -o /dev/null -f "$f" | python3 -c \
    'import json,sys; d=json.load(sys.stdin); print("ratio %.2f  %s" % (d["ratio"], d["codec_mix"]))'
done

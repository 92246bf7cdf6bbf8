#!/usr/bin/env bash
# Feed samples one by one and watch forecasts come out as they arrive (one line per sample).
# Usage: examples/predict-live.sh [MODEL_FILE]
set -euo pipefail
args=(); [ $# -gt 0 ] && args=(--model-file "$1")
python3 -c '
import random, sys, time
random.seed(2); bps = 20e6
for i in range(30):
    bps = max(1e6, bps * random.uniform(0.8, 1.2))
    print("{\"t\":%.1f,\"bps\":%.0f}" % (i * 0.5, bps), flush=True)
    time.sleep(0.05)
' | dwcp-predict "${args[@]}" --horizons 1,5 | tail -3

#!/usr/bin/env bash
# Watch a link and forecast its bandwidth as you go: dwcp-detect --watch measures the path every
# half second (RTT, loss, a short throughput burst) and dwcp-predict turns each measurement into
# forecasts for the next seconds. The peer here is a probe server on loopback; in real use it is
# a dwcp-recv (which answers probes) or a dwcp-detect --serve on the far host.
# Usage: examples/link-monitor.sh [PORT] [MEASUREMENTS]
set -euo pipefail
port=${1:-7001}
count=${2:-8}
dwcp-detect --serve "127.0.0.1:$port" & server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
sleep 0.3
# head ends the watch after COUNT lines (dwcp-detect then fails its next write, as intended).
{ dwcp-detect --watch 0.5 --burst 0.1 "127.0.0.1:$port" || true; } | head -n "$count" |
  dwcp-predict --horizons 1,5 |
  python3 -c '
import json, sys
for line in sys.stdin:
    s = json.loads(line)
    f = {x["horizon_s"]: x for x in s["forecast"]}
    if not f:  # forecasts start once a whole 1 s bin has been seen
        print("t=%5.1f s  measured %6.2f Gbit/s" % (s["t"], s["bps"] / 1e9))
        continue
    gbit = lambda h, k="bps": f[h][k] / 1e9
    print("t=%5.1f s  measured %6.2f Gbit/s  ->  next 1 s %6.2f, next 5 s %6.2f Gbit/s (p10-p90 %.2f-%.2f, %s)"
          % (s["t"], s["bps"] / 1e9, gbit(1), gbit(5), gbit(5, "p10_bps"), gbit(5, "p90_bps"), f[5]["model"]))
'

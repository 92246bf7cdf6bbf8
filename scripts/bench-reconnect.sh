#!/usr/bin/env bash
# What a cut connection costs a transfer: `dwcp-send` into `dwcp-recv` writing to a pipe over an
# emulated path (two namespaces through ../shared/tools/wan), every connection cut (`ss -K`) once
# every CUT_EVERY seconds from 1 s in, so each trial has the same cuts. One line a trial and build
# (builds interleaved): exit statuses, seconds, reconnections, chunks sent again.
# Needs root (ip netns, ss -K).
#   scripts/bench-reconnect.sh TRIALS BIN_DIR [BIN_DIR...]
# Environment: WAN_RATE (default 200mbit), WAN_RTT (ms, default 50), SEND_MIB (default 128),
# SEND_STREAMS (default 2), SEND_CHUNK (default 256KiB), CUT_EVERY (seconds, default 1).
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: scripts/bench-reconnect.sh TRIALS BIN_DIR [BIN_DIR...]" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
trials=$1; shift
bins=(); for b in "$@"; do bins+=("$(cd "$b" && pwd)"); done
. "$repo/scripts/wan-path.sh"
wan_path_up bench-reconnect dwcpc "${TMPDIR:-/tmp}" "${WAN_RATE:-200mbit}" "${WAN_RTT:-50}"
head -c $((${SEND_MIB:-128} << 20)) /dev/urandom > "$work/in"
for t in $(seq "$trials"); do
  for bin in "${bins[@]}"; do
    ip netns exec dwcpc-b timeout 150 "$bin/dwcp-recv" --listen 10.200.0.2:7800 2>"$work/recv.err" | cat > /dev/null & recv=$!
    sleep 0.3
    ( sleep 1; while true; do ip netns exec dwcpc-a ss -K dst 10.200.0.2 >/dev/null 2>&1; sleep "${CUT_EVERY:-1}"; done ) & cutter=$!
    ip netns exec dwcpc-a timeout 140 "$bin/dwcp-send" --streams "${SEND_STREAMS:-2}" --chunk-size "${SEND_CHUNK:-256KiB}" \
      --resume-timeout 20 --json 10.200.0.2:7800 < "$work/in" > "$work/send.json" 2>"$work/send.err"
    sent=$?
    kill $cutter 2>/dev/null; wait $cutter 2>/dev/null
    wait $recv; received=$?
    python3 - "$t" "$bin" "$sent" "$received" "$work/send.json" <<'PY'
import json, sys
t, bin, sent, received, path = sys.argv[1:]
lines = [json.loads(l) for l in open(path) if l.startswith("{")]
s = lines[-1] if lines else {}
print(f"trial {t} {bin}: sender exit {sent}, receiver exit {received}, {s.get('seconds', 0):.3f} s, "
      f"{s.get('reconnects')} reconnections, {s.get('resent_chunks')} chunks sent again", flush=True)
PY
  done
done

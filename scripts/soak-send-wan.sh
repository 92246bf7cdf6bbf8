#!/usr/bin/env bash
# Chaos soak: `dwcp-send` into `dwcp-recv` over an emulated path (two network namespaces through
# ../shared/tools/wan) while the transfer's TCP connections are cut at random moments (`ss -K`
# on the sender's side, scripts/cut-connections.sh: 0.10 s to SOAK_GAP_MAX hundredths of a second
# apart, each a cut with probability 1/SOAK_ODDS). One line a trial: both exit statuses, the
# copy compared with the input, reconnections, whether dwcp-recv heard the sender had its
# verdict, the last line of each side's stderr. A trial passes when both exit 0 and the copy is
# identical; a failed one's work directory is kept in SOAK_KEEP. Exits 1 if any trial failed.
# Needs root (ip netns, ss -K).
#   scripts/soak-send-wan.sh BIN_DIR
# Environment: SOAK_TRIALS (default 20), WAN_RATE (default 100mbit), WAN_RTT (ms, default 10),
# SEND_MIB (default 16), SEND_STREAMS (default 4), SEND_CHUNK (--chunk-size, default 1MiB), SOAK_GAP_MAX (hundredths of a second, at least
# 10; default 39), SOAK_ODDS (default 2), SOAK_KEEP (default /tmp/dwcp-soak-failed).
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/soak-send-wan.sh BIN_DIR" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$1" && pwd)
trials=${SOAK_TRIALS:-20}
. "$repo/scripts/wan-path.sh"
. "$repo/scripts/soak-verdict.sh"
wan_path_up soak-send-wan dwcpt "${TMPDIR:-/tmp}" "${WAN_RATE:-100mbit}" "${WAN_RTT:-10}"
head -c $((${SEND_MIB:-16} << 20)) /dev/urandom > "$work/in"
for t in $(seq "$trials"); do
  rm -f "$work/out"
  ip netns exec dwcpt-b timeout 150 "$bin/dwcp-recv" -v --listen 10.200.0.2:7800 -o "$work/out" --json \
    > "$work/recv.json" 2>"$work/recv.err" & recv=$!
  sleep 0.3
  "$repo/scripts/cut-connections.sh" dwcpt-a 10.200.0.2 "$t" "${SOAK_GAP_MAX:-39}" "${SOAK_ODDS:-2}" & cutter=$!
  ip netns exec dwcpt-a timeout 140 "$bin/dwcp-send" -v --streams "${SEND_STREAMS:-4}" --chunk-size "${SEND_CHUNK:-1MiB}" --resume-timeout 20 --json \
    10.200.0.2:7800 < "$work/in" > "$work/send.json" 2>"$work/send.err"
  sent=$?
  kill $cutter 2>/dev/null; wait $cutter 2>/dev/null
  wait $recv; received=$?
  copy=missing
  [ -e "$work/out" ] && { cmp -s "$work/in" "$work/out" && copy=identical || copy=DIFFERENT; }
  python3 - "$t" "$sent" "$received" "$copy" "$work" <<'EOF'
import json, sys
t, sent, received, copy, work = sys.argv[1:]
def last_json(p):
    lines = [json.loads(l) for l in open(p) if l.strip().startswith("{")]
    return lines[-1] if lines else {}
last = lambda p: ([l.strip() for l in open(p) if l.strip()] or [""])[-1][:160]
s, r = last_json(f"{work}/send.json"), last_json(f"{work}/recv.json")
print(f"trial {t}: sender exit {sent}, receiver exit {received}, copy {copy}, {s.get('reconnects', '?')} reconnections, "
      f"{s.get('seconds', 0):.1f} s, heard {r.get('sender_heard_verdict', '?')} | {last(f'{work}/send.err')} | {last(f'{work}/recv.err')}", flush=True)
EOF
  soak_judge "send-trial-$t" "$sent" "$received" "$copy"
done
soak_summary soak-send-wan "$trials"

#!/usr/bin/env bash
# Chaos soak: `dwcp-migrate file` of a changing image over an emulated path (two network
# namespaces through ../shared/tools/wan) while the migration's TCP connections are cut at random
# moments (`ss -K` on the source's side; moments 0.10 s to SOAK_GAP_MAX hundredths of a second
# apart, each a cut with probability 1/SOAK_ODDS). One line a trial: both exit statuses, the copy
# compared with the frozen source, rounds, reconnections, the last line of each side's stderr. A
# trial passes when both ends exit 0 and the copy is identical; a failed one's work directory is
# kept in SOAK_KEEP. Exits 1 if any trial failed. Needs root (ip netns, ss -K).
#   scripts/soak-image-wan.sh BIN_DIR
# Environment: SOAK_TRIALS (default 20), WAN_RATE (default 100mbit), WAN_RTT (ms, default 10),
# IMAGE_MIB (default 48), IMAGE_RATE (MiB/s of random page writes, default 2), SOAK_GAP_MAX
# (hundredths of a second, at least 10; default 39), SOAK_ODDS (default 2), SOAK_KEEP (default /tmp/dwcp-soak-failed),
# IMAGE_DIR (default $TMPDIR or /tmp).
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/soak-image-wan.sh BIN_DIR" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$1" && pwd)
trials=${SOAK_TRIALS:-20}
gap=${SOAK_GAP_MAX:-39}
odds=${SOAK_ODDS:-2}
. "$repo/scripts/wan-path.sh"
. "$repo/scripts/soak-verdict.sh"
wan_path_up soak-image-wan dwcps "${IMAGE_DIR:-${TMPDIR:-/tmp}}" "${WAN_RATE:-100mbit}" "${WAN_RTT:-10}"
head -c $((${IMAGE_MIB:-48} << 20)) /dev/urandom > "$work/base.img"
for t in $(seq "$trials"); do
  cp "$work/base.img" "$work/src.img"; rm -f "$work"/dst.img* "$work/stop" "$work/stopped"
  python3 "$repo/scripts/image-writer.py" "$work/src.img" "${IMAGE_RATE:-2}" "$work/stop" "$work/stopped" "$t" & writer=$!
  ip netns exec dwcps-b timeout 150 "$bin/dwcp-migrate" receive -v --listen 10.200.0.2:7700 -o "$work/dst.img" 2>"$work/recv.err" & recv=$!
  sleep 0.3
  "$repo/scripts/cut-connections.sh" dwcps-a 10.200.0.2 "$t" "$gap" "$odds" & cutter=$!
  start=$(date +%s.%N)
  ip netns exec dwcps-a timeout 140 "$bin/dwcp-migrate" file -v "$work/src.img" --to 10.200.0.2:7700 --work-dir "$work" --json \
    --freeze "touch $work/stop; while [ ! -e $work/stopped ]; do sleep 0.005; done" --resume-timeout 20 \
    > "$work/send.json" 2>"$work/send.err"
  sent=$?
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  kill $cutter 2>/dev/null; wait $cutter 2>/dev/null
  wait $recv; received=$?
  touch "$work/stop"; wait $writer 2>/dev/null
  copy=n/a
  [ $sent -eq 0 ] && { cmp -s "$work/src.img" "$work/dst.img" && copy=identical || copy=DIFFERENT; }
  python3 - "$t" "$sent" "$received" "$copy" "$seconds" "$work/send.json" "$work/send.err" "$work/recv.err" <<'EOF'
import json, sys
t, sent, received, copy, seconds, path, send_err, recv_err = sys.argv[1:]
lines = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
rounds = [l for l in lines if l.get("event") in ("round", "final")]
last = lambda p: ([l.strip() for l in open(p) if l.strip()] or [""])[-1][:160]
print(f"trial {t}: source exit {sent}, destination exit {received}, copy {copy}, {len(rounds)} rounds, "
      f"{sum(r.get('reconnects', 0) for r in rounds)} reconnections, {float(seconds):.1f} s | {last(send_err)} | {last(recv_err)}", flush=True)
EOF
  soak_judge "trial-$t" "$sent" "$received" "$copy"
done
soak_summary soak-image-wan "$trials"

#!/usr/bin/env bash
# `dwcp-migrate file` of a changing image over an emulated long path: two network namespaces
# joined through ../shared/tools/wan (a tbf rate limit and added round-trip delay), the source in
# one, `dwcp-migrate receive -o` in the other. For each build given, interleaved trial by trial,
# one line: the whole command's time, the downtime (the final round, from --freeze), bytes on the
# wire, the destination's median time from a round's last bytes verified to its verdict (rounds 3
# and later, from `receive -vvv`'s timeline) and each round's seconds/bytes/kept connections; each
# trial checks that the copy equals the frozen source. Needs root (ip netns).
#   scripts/bench-image-wan.sh BIN_DIR [BIN_DIR...]
# Environment: WAN_RATE (default 100mbit), WAN_RTT (ms, default 50), WAN_LOSS (percent dropped
# each way, default 0), IMAGE_MIB (default 128),
# IMAGE_RATE (MiB/s of random 4 KiB page writes by scripts/image-writer.py, default 1; 0: none),
# IMAGE_TRIALS (default 3), IMAGE_DIR (default $TMPDIR or /tmp; needs 3 x IMAGE_MIB free).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/bench-image-wan.sh BIN_DIR [BIN_DIR...]" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
bins=()
for b in "$@"; do bins+=("$(cd "$b" && pwd)"); done
mib=${IMAGE_MIB:-128}
rate=${IMAGE_RATE:-1}
trials=${IMAGE_TRIALS:-3}
. "$repo/scripts/wan-path.sh"
wan_path_up bench-image-wan dwcpi "${IMAGE_DIR:-${TMPDIR:-/tmp}}" "${WAN_RATE:-100mbit}" "${WAN_RTT:-50}" ${WAN_LOSS:+--loss "$WAN_LOSS"}
head -c $((mib << 20)) /dev/urandom > "$work/base.img"
now() { date +%s.%N; }
for trial in $(seq "$trials"); do
  for bin in "${bins[@]}"; do
    cp "$work/base.img" "$work/src.img"; rm -f "$work"/dst.img* "$work"/stop "$work"/stopped
    sync
    if [ "$rate" != 0 ]; then
      python3 "$repo/scripts/image-writer.py" "$work/src.img" "$rate" "$work/stop" "$work/stopped" "$trial" &
      freeze=(--freeze "touch $work/stop; while [ ! -e $work/stopped ]; do sleep 0.005; done")
    else
      freeze=()
    fi
    ip netns exec dwcpi-b "$bin/dwcp-migrate" receive --listen 10.200.0.2:7700 -o "$work/dst.img" -vvv 2>"$work/recv.err" & recv=$!
    sleep 0.4
    t0=$(now)
    status=0
    ip netns exec dwcpi-a "$bin/dwcp-migrate" file "$work/src.img" --to 10.200.0.2:7700 --work-dir "$work" --json "${freeze[@]}" \
      > "$work/send.json" 2>"$work/send.err" || status=$?
    t1=$(now)
    wait $recv || status=$((status + 100))
    touch "$work/stop"; wait 2>/dev/null || true
    same=$(cmp -s "$work/src.img" "$work/dst.img" && echo identical || echo DIFFERENT)
    python3 - "$bin" "$t0" "$t1" "$status" "$same" "$work/send.json" "$work/recv.err" <<'EOF'
import json, re, statistics, sys
bin, t0, t1, status, same, path, recv_log = sys.argv[1:]
lines = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
done = ([l for l in lines if l.get("event") == "done"] or [{}])[-1]
rounds = " ".join(f"{r['round']}:{r['send_s']:.3f}s/{r['wire_bytes']}B/kept{r.get('kept_streams', '-')}"
                  for r in lines if r.get("event") in ("round", "final"))
# The destination's timeline: "transfer verified", then "round N journaled" once the round is
# committed, just before its verdict goes out.
verified, gaps = None, []
for line in open(recv_log):
    m = re.search(r"t=(\d+) ms: (transfer verified|round (\d+) journaled)", line)
    if not m:
        continue
    if m.group(3) is None:
        verified = int(m.group(1))
    elif verified is not None:
        if int(m.group(3)) >= 3:
            gaps.append((int(m.group(1)) - verified) % 100_000)
        verified = None
gap = f"{statistics.median(gaps):g} ms" if gaps else "-"
print(f"{bin}: {float(t1) - float(t0):.3f} s, downtime {done.get('downtime_ms')} ms, wire {done.get('wire_bytes')} B, "
      f"exit {status}, copy {same}, verified to verdict {gap}; rounds {rounds}", flush=True)
EOF
  done
done

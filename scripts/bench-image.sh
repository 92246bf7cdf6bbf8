#!/usr/bin/env bash
# Pre-copy of a changing image file: `dwcp-migrate file` (over loopback TCP, into
# `dwcp-migrate receive -o`) side by side with the same job done by hand with rsync: a first
# `rsync --inplace --no-whole-file --ignore-times --fsync` while the writer runs (a local copy:
# no network, and rsync's delta algorithm; --fsync makes it as durable as dwcp's rounds), then
# freeze the writer and a second one, whose time is the downtime. Same image, same writer (scripts/image-writer.py: random
# 4 KiB pages rewritten at IMAGE_RATE MiB/s), same run; each trial checks that the copy equals the
# frozen source.
#   scripts/bench-image.sh BIN_DIR
# Environment: IMAGE_MIB (default 1024), IMAGE_RATE (MiB/s, default 8), IMAGE_DOWNTIME (dwcp's
# --max-downtime, default 1s; since page-list checksums an unchanged 1 GiB final round takes
# ~0.2 s here, so 300ms fits this image), IMAGE_TRIALS (default 2), IMAGE_DIR (default $TMPDIR or
# /tmp; needs 4 x IMAGE_MIB free).
set -euo pipefail
bin=$(cd "${1:-.build/release}" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
mib=${IMAGE_MIB:-1024}
downtime=${IMAGE_DOWNTIME:-1s}
rate=${IMAGE_RATE:-8}
trials=${IMAGE_TRIALS:-2}
work=$(mktemp -d "${IMAGE_DIR:-${TMPDIR:-/tmp}}/dwcp-bench-image.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
command -v rsync >/dev/null || { echo "bench-image: rsync missing (apt-get install rsync)" >&2; exit 1; }
head -c $((mib << 20)) /dev/urandom > "$work/base.img"
now() { date +%s.%N; }
results=()
for trial in $(seq "$trials"); do
  for method in dwcp rsync; do
    cp "$work/base.img" "$work/src.img"; rm -f "$work"/dst.img* "$work"/stop "$work"/stopped
    sync
    python3 "$repo/scripts/image-writer.py" "$work/src.img" "$rate" "$work/stop" "$work/stopped" "$trial" & writer=$!
    freeze="touch $work/stop; while [ ! -e $work/stopped ]; do sleep 0.005; done"
    if [ "$method" = dwcp ]; then
      port=$((7700 + RANDOM % 200))
      "$bin/dwcp-migrate" receive --listen "127.0.0.1:$port" -o "$work/dst.img" 2>"$work/recv.err" & recv=$!
      sleep 0.3
      t0=$(now)
      "$bin/dwcp-migrate" file "$work/src.img" --to "127.0.0.1:$port" --work-dir "$work" --json --max-downtime "$downtime" --freeze "$freeze" > "$work/send.json" || true
      t1=$(now)
      wait $recv || true
      touch "$work/stop"  # a migration that gave up never froze the writer
      line=$(tail -1 "$work/send.json")
      down=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.3f %d %d" % (d["downtime_ms"] / 1000, d["rounds"], d["wire_bytes"]) if d["event"] == "done" else "nan %d 0" % d.get("rounds", 0))' "$line")
    else
      t0=$(now)
      rsync --inplace --no-whole-file --ignore-times --fsync "$work/src.img" "$work/dst.img"
      bash -c "$freeze"
      f=$(now)
      rsync --inplace --no-whole-file --ignore-times --fsync "$work/src.img" "$work/dst.img"
      t1=$(now)
      down="$(python3 -c "print('%.3f' % ($t1 - $f))") 2 -"
    fi
    wait $writer
    same=$(cmp -s "$work/src.img" "$work/dst.img" 2>/dev/null && echo equal || echo DIFFERENT)
    total=$(python3 -c "print('%.3f' % ($t1 - $t0))")
    echo "bench-image: trial $trial $method total ${total} s, downtime/rounds/wire: $down, copy $same" >&2
    results+=("$method $total $down $same")
  done
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip()]
by = {}
for m, total, down, rounds, wire, same in rows:
    by.setdefault(m, []).append((float(total), float(down), rounds, wire, same))
print("| method | total s | downtime s | rounds | copy equals frozen source |")
print("|---|---|---|---|---|")
for m, rs in by.items():
    print("| %s | %s | %s | %s | %s |" % (m, ", ".join("%.2f" % r[0] for r in rs), ", ".join("%.2f" % r[1] for r in rs),
          ", ".join(r[2] for r in rs), "all" if all(r[4] == "equal" for r in rs) else "NO"))
if "dwcp" in by and "rsync" in by:
    med = lambda m, i: statistics.median(r[i] for r in by[m])  # a migration that gave up counts as nan
    print("\ndwcp / rsync (medians): total %.2f, downtime %.2f" % (med("dwcp", 0) / med("rsync", 0), med("dwcp", 1) / med("rsync", 1)))
'

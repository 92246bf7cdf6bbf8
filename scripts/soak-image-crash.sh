#!/usr/bin/env bash
# Crash soak for `dwcp-migrate receive -o` (or, with SOAK_KILL=source, for `dwcp-migrate file`):
# a changing image migrated over an emulated path (two network namespaces through
# ../shared/tools/wan) while the receiver is killed with SIGKILL at random moments and started
# again. After each kill `dwcp-migrate recover --verify` must find
# the image to be exactly the round its record names (or no round yet, or the finished one):
# never torn, never another image. The source rides out each restart (it is told its receiver
# restarted and sends the round again), and the trial passes when both ends exit 0, the copy
# is identical to the frozen source and every check after a kill passed. One line a trial: the
# exits, the copy, what each kill found (r<N> verified round N, "none" no record), rounds and
# seconds. With SOAK_KILL=source the source is the one killed and run again with --resume (both
# ends with --secret-file, so the receiver gives the dead source's round up for the new one; a
# source killed after --freeze leaves the writer stopped, and the soak lets it go on, as --thaw
# would); the receiver stays, so nothing is checked between kills ("src" a kill).
# A failed trial's work directory is kept in SOAK_KEEP. Exits 1 if any trial failed.
# Needs root (ip netns).
#   scripts/soak-image-crash.sh BIN_DIR
# Environment: SOAK_KILL (receiver or source, default receiver), SOAK_TRIALS (default 10), SOAK_KILLS (kills a trial, default 3), SOAK_KILL_MAX
# (hundredths of a second, at most this long between kills, at least 20; default 500),
# WAN_RATE (default 100mbit), WAN_RTT (ms, default 10), IMAGE_MIB (default 48), IMAGE_RATE (MiB/s
# of random page writes, default 2), SOAK_SEED (another seed, another schedule of kills; default 0), SOAK_KEEP (default /tmp/dwcp-soak-failed), IMAGE_DIR
# (default $TMPDIR or /tmp).
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/soak-image-crash.sh BIN_DIR" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$1" && pwd)
trials=${SOAK_TRIALS:-10}
kills=${SOAK_KILLS:-3}
kill_max=${SOAK_KILL_MAX:-500}
[ "$kill_max" -ge 20 ] || { echo "SOAK_KILL_MAX must be at least 20" >&2; exit 2; }
victim=${SOAK_KILL:-receiver}
[ "$victim" = receiver ] || [ "$victim" = source ] || { echo "SOAK_KILL must be receiver or source" >&2; exit 2; }
. "$repo/scripts/wan-path.sh"
. "$repo/scripts/soak-verdict.sh"
wan_path_up soak-image-crash dwcpc "${IMAGE_DIR:-${TMPDIR:-/tmp}}" "${WAN_RATE:-100mbit}" "${WAN_RTT:-10}"
head -c $((${IMAGE_MIB:-48} << 20)) /dev/urandom > "$work/base.img"
head -c 32 /dev/urandom > "$work/secret"
# Killing the source needs the secret (a receiver gives a dead source's round up only for one
# that proves it) and --resume (the source run again continues after the last confirmed round).
if [ "$victim" = source ]; then auth=(--secret-file "$work/secret"); resume=(--resume); else auth=(); resume=(); fi

# `ip netns exec` execs the command, so $recv is the receiver itself (a `timeout` between them
# would take the SIGKILL and leave the receiver running); --idle-timeout bounds it instead.
receive() {
  ip netns exec dwcpc-b "$bin/dwcp-migrate" receive -v --listen 10.200.0.2:7701 -o "$work/dst.img" \
    --idle-timeout 30 "${auth[@]}" 2>>"$work/recv.err" &
  recv=$!
}

# The source, its lines appended to one file across runs; $sender is dwcp-migrate itself.
send() {
  ip netns exec dwcpc-a "$bin/dwcp-migrate" file -v "$work/src.img" --to 10.200.0.2:7701 --work-dir "$work/w" --json \
    --freeze "touch $work/stop; while [ ! -e $work/stopped ]; do sleep 0.005; done" --resume-timeout 30 \
    "${auth[@]}" "${resume[@]}" >> "$work/send.json" 2>>"$work/send.err" &
  sender=$!
}

writer() {
  python3 "$repo/scripts/image-writer.py" "$work/src.img" "${IMAGE_RATE:-2}" "$work/stop" "$work/stopped" "$1" &
  writer=$!
}

for t in $(seq "$trials"); do
  cp "$work/base.img" "$work/src.img"; rm -rf "$work"/dst.img* "$work/stop" "$work/stopped" "$work"/recv.err "$work"/send.* "$work/verify.json" "$work/w"
  mkdir -p "$work/w"
  RANDOM=$((t + 1000 * ${SOAK_SEED:-0}))
  writer "$t"
  receive
  sleep 0.3
  start=$(date +%s.%N)
  send
  found="" checks_ok=1 late=0
  for k in $(seq "$kills"); do
    pause=$((20 + RANDOM % (kill_max - 19)))
    sleep "$((pause / 100)).$(printf '%02d' $((pause % 100)))"
    kill -0 "$sender" 2>/dev/null || break
    if [ "$victim" = source ]; then
      kill -9 "$sender"; wait "$sender" 2>/dev/null
      echo "--- killed $k ---" >> "$work/send.err"
      if [ -e "$work/stop" ]; then rm -f "$work/stop" "$work/stopped"; wait "$writer" 2>/dev/null; writer "$((t + 100 * k))"; fi
      found="$found src"
      send
      continue
    fi
    kill -9 "$recv" 2>/dev/null; wait "$recv" 2>/dev/null
    echo "--- killed $k ---" >> "$work/recv.err"
    ip netns exec dwcpc-b "$bin/dwcp-migrate" recover --verify --json "$work/dst.img" >> "$work/verify.json" 2>>"$work/recv.err"
    checked=$?
    what=$(tail -n 1 "$work/verify.json" | python3 -c 'import json,sys
try:
    j = json.loads(sys.stdin.read())
except ValueError:
    print("unreadable"); sys.exit()
v = j.get("verify", "unchecked")
print({"verified": "r%s" % j.get("verified_round"), "no-record": "none"}.get(v, v))')
    found="$found $what"
    [ $checked -eq 0 ] || checks_ok=0
    kill -0 "$sender" 2>/dev/null || late=1
    receive
  done
  wait "$sender"; sent=$?
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  # A receiver started again just as the source finished has no round to wait for.
  if [ $late -eq 1 ]; then kill "$recv" 2>/dev/null; wait "$recv" 2>/dev/null; received=0; else wait "$recv"; received=$?; fi
  touch "$work/stop"; wait "$writer" 2>/dev/null
  copy=n/a
  [ $sent -eq 0 ] && { cmp -s "$work/src.img" "$work/dst.img" && copy=identical || copy=DIFFERENT; }
  rounds=$(grep -c '"event":"\(round\|final\)"' "$work/send.json")
  echo "trial $t: source exit $sent, destination exit $received, copy $copy, kills found:${found:- none made}, $rounds rounds, ${seconds%???????} s | $(tail -n 1 "$work/send.err" | cut -c1-160)"
  if [ $checks_ok -eq 0 ]; then soak_fail "crash-$t"; else soak_judge "crash-$t" "$sent" "$received" "$copy"; fi
done
soak_summary soak-image-crash "$trials"

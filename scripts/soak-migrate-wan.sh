#!/usr/bin/env bash
# Chaos soak for `dwcp-migrate qemu`: the test guest (guest/trial.py, 128 MiB dirtied at 8 MiB/s)
# migrated over an emulated path (two namespaces through ../shared/tools/wan) while the
# migration's TCP connections are cut at random moments (`ss -K` on the source's side, from 3 s
# into the trial; moments 0.10 s to SOAK_GAP_MAX hundredths of a second apart, each a cut with
# probability 1/SOAK_ODDS). One line a trial: trial.py's verdict (the guest intact after the
# switchover), both exit statuses, time, blackout, reconnections and the source's error if any.
# A failed trial's files (its JSON, trial.py's stderr, both tools' -vv stderr in tools.log) are
# kept in SOAK_KEEP/migrate-N (default /tmp/dwcp-soak-failed). Exits 1 if any trial failed.
# Needs root (ip netns, ss -K) and the guest (make test builds it).
#   scripts/soak-migrate-wan.sh BIN_DIR
# Environment: SOAK_TRIALS (default 10), WAN_RATE (default 200mbit), WAN_RTT (ms, default 10),
# SOAK_GAP_MAX (hundredths of a second, at least 10; default 39), SOAK_ODDS (default 2).
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/soak-migrate-wan.sh BIN_DIR" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$1" && pwd)
[ -f "$repo/.build/guest/vmlinuz" ] || { echo "soak-migrate-wan: no guest in .build/guest (guest/build-guest.sh)" >&2; exit 1; }
trials=${SOAK_TRIALS:-10}
gap=${SOAK_GAP_MAX:-39}
odds=${SOAK_ODDS:-2}
. "$repo/scripts/wan-path.sh"
. "$repo/scripts/soak-verdict.sh"
wan_path_up soak-migrate-wan dwcpq "${TMPDIR:-/tmp}" "${WAN_RATE:-200mbit}" "${WAN_RTT:-10}"
for t in $(seq "$trials"); do
  "$repo/scripts/cut-connections.sh" dwcpq-a 10.200.0.2 "$t" "$gap" "$odds" 3 & cutter=$!
  # A trial killed by the timeout writes no tools.log: the last trial's must not be kept as its.
  rm -f "$work/tools.log" "$work/trial.json" "$work/trial.err"
  # SIGINT, not TERM: trial.py then still kills both QEMUs and the receiver on its way out.
  TRIAL_LOG="$work/tools.log" timeout -s INT 300 python3 "$repo/guest/trial.py" --method dwcp --guest "$repo/.build/guest" --bin "$bin" \
    --mib 128 --rate 8 --warmup 2 --netns dwcpq-a,dwcpq-b -- -vv > "$work/trial.json" 2>"$work/trial.err"
  kill $cutter 2>/dev/null; wait $cutter 2>/dev/null
  python3 - "$t" "$work/trial.json" <<'EOF' || soak_fail "migrate-$t"
import json, sys
t, path = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception as e:
    print(f"trial {t}: no verdict ({e})")
    sys.exit(1)
print(f"trial {t}: {'intact' if d.get('ok') else 'FAILED'}, source exit {d.get('exit')}, destination exit {d.get('receiver_exit')}, "
      f"{d.get('total_s')} s, blackout {d.get('blackout_ms')} ms, {d.get('reconnects')} reconnections"
      + "".join(f" | {l[:200]}" for l in d.get("stderr", "").splitlines() if ": warning:" in l or ": error:" in l), flush=True)
sys.exit(0 if d.get("ok") else 1)
EOF
done
soak_summary soak-migrate-wan "$trials"

#!/usr/bin/env bash
# Live migration benchmark: dwcp-migrate side by side with QEMU's own tcp: (into a fresh
# destination, and into one whose RAM was pre-faulted first as dwcp-migrate receive does by
# default), QEMU multifd+zstd and `zstd -1 | socat` through exec:, same guest, same run, same links (guest/trial.py judges each
# trial from the guest's heartbeat and memory check; a trial that corrupts the guest is marked).
#   scripts/bench-migrate.sh BIN_DIR
# Environment: MIGRATE_LINKS (default "loopback 1gbit 100mbit"; also e.g. 100mbit-50ms),
# MIGRATE_GUESTS (default "524292K:256"; RAM:workload-MiB, e.g. "2097156K:1024" for 2 GiB),
# MIGRATE_METHODS (dwcp-reference: dwcp with the guest's kernel and initrd as --reference), MIGRATE_RATE (guest dirtying MiB/s, default 8), MIGRATE_WRITE (page: whole pages
# rewritten, the default; line: one 64-byte line per write), MIGRATE_TRIALS (trials per cell, default
# 1; the report compares medians), MIGRATE_GIVE_UP_S (QEMU's own methods: cancel a migration still
# running after this long, default 300; on links slower than the guest dirties they never converge).
# Needs root for the namespaces.
set -euo pipefail
bin=$(cd "${1:-.build/release}" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
wan=$(cd "$repo/.." && pwd)/shared/tools/wan/wan-setup.sh
[ -f "$wan" ] || { echo "bench-migrate: $wan missing (../shared/tools/wan)" >&2; exit 1; }
links=${MIGRATE_LINKS:-loopback 1gbit 100mbit}
guests=${MIGRATE_GUESTS:-524292K:256}
methods=${MIGRATE_METHODS:-qemu-tcp qemu-tcp-prealloc qemu-multifd-zstd zstd-socat dwcp dwcp-reference}
rate=${MIGRATE_RATE:-8}
write=${MIGRATE_WRITE:-page}
trials=${MIGRATE_TRIALS:-1}
give_up=${MIGRATE_GIVE_UP_S:-300}
out=$repo/bench-out
mkdir -p "$out"
# A fixed state directory, so a run interrupted earlier is torn down by the next one.
export NB_PREFIX=dwcpm WAN_STATE=${TMPDIR:-/tmp}/dwcp-bench-migrate-wan
trap 'bash "$wan" down >/dev/null 2>&1 || true' EXIT
guest=$repo/.build/guest
"$repo/guest/build-guest.sh" "$guest" >/dev/null
results=$out/migrate-$write.jsonl
: > "$results"
for link in $links; do
  netns=()
  if [ "$link" != loopback ]; then
    r=${link%%-*}; rtt=""
    [[ $link == *-*ms ]] && rtt="--rtt ${link##*-}" && rtt=${rtt%ms}
    bash "$wan" down >/dev/null 2>&1 || true
    bash "$wan" up --rate "$r" $rtt >/dev/null || { echo "bench-migrate: cannot set up the $link link" >&2; exit 1; }
    netns=(--netns "$NB_PREFIX-a,$NB_PREFIX-b")
  fi
  for g in $guests; do
    # Trials interleave the methods (all methods once, then again), so a slow spell of this
    # shared machine falls on every method alike instead of on whichever ran during it.
    for _ in $(seq "$trials"); do
      for m in $methods; do
        line=$(python3 "$repo/guest/trial.py" --method "$m" --guest "$guest" --bin "$bin" --ram "${g%%:*}" --mib "${g##*:}" \
                 --rate "$rate" --write "$write" --warmup 5 --give-up-s "$give_up" "${netns[@]}" || true)
        LINE=$line LINK=$link python3 -c 'import json, os; d = json.loads(os.environ["LINE"]); d["link_name"] = os.environ["LINK"]; print(json.dumps(d))' >> "$results"
        LINE=$line python3 -c 'import json, os; d = json.loads(os.environ["LINE"]); print("bench-migrate:", d["link"], d["ram"], d["method"], d.get("ok"), d.get("total_s"), "s", d.get("blackout_ms"), "ms", d.get("wire_bytes") or d.get("tool_wire_bytes"), "B", d.get("error", ""))' >&2
      done
    done
  done
done
python3 "$repo/scripts/migrate-report.py" "$results"

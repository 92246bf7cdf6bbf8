#!/usr/bin/env bash
# The main job, end to end on real data: dump the memory of a live, mutating python3 process
# twice (two pre-copy rounds), encode round 1 in full and round 2 as a delta against round 1,
# decode both and prove the round trip is byte-identical.
#
#   scripts/demo.sh [BIN_DIR]
set -euo pipefail
bin=${1:-.build/release}
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$(cd "$bin" && pwd):$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== dumping a live python3 process twice (gcore), 2 s apart while it mutates its heap"
DWCP_CORPUS_GAP=2 "$here/make-corpus.sh" "$work" python3
r1=$work/python3.1.core r2=$work/python3.2.core

report() { python3 "$here/jsonreport.py" "$@"; }

echo
echo "== round 1: full encode"
full=$(dwcp-encode --json -o "$work/r1.dwcp" "$r1")
report "round 1 (full, adaptive zstd)" "$full"
echo "== round 2: delta against round 1"
delta=$(dwcp-encode --json --baseline "$r1" -o "$work/r2.dwcp" "$r2")
report "round 2 (delta vs round 1)" "$delta"
echo "   for comparison, zstd -3 of round 2 alone: $(zstd -3 -q -c "$r2" | wc -c | awk '{printf "%.2f MB", $1/1e6}')"

echo
echo "== decoding and verifying"
dec1=$(dwcp-encode -d --json -o "$work/r1.out" "$work/r1.dwcp")
dec2=$(dwcp-encode -d --json --baseline "$r1" -o "$work/r2.out" "$work/r2.dwcp")
report "decode round 1" "$dec1"
report "decode round 2" "$dec2"
cmp "$r1" "$work/r1.out" && cmp "$r2" "$work/r2.out" && echo "round trip: byte-identical (cmp) for both rounds"

echo
echo "== a corrupted stream is refused (exit status 3), never decoded wrong"
cp "$work/r2.dwcp" "$work/bad.dwcp"
printf '\x5a' | dd of="$work/bad.dwcp" bs=1 seek=5000 conv=notrunc status=none
set +e
dwcp-encode -d --baseline "$r1" -o "$work/bad.out" "$work/bad.dwcp"
echo "exit status: $?  (output file left behind: $([ -e "$work/bad.out" ] && echo yes || echo no))"
set -e

echo
echo "== live migration: a running QEMU guest moved by dwcp-migrate (loopback)"
echo "   (guest: Debian's kernel + a busybox initramfs whose workload rewrites 64 MiB of RAM at 8 MiB/s"
echo "    and checks every page; the verdict comes from the guest's own heartbeat and memory check)"
repo=$(cd "$here/.." && pwd)
"$repo/guest/build-guest.sh" "$repo/.build/guest" >/dev/null
trial=$(python3 "$repo/guest/trial.py" --method dwcp --guest "$repo/.build/guest" --bin "$(dirname "$(command -v dwcp-migrate)")") || true
python3 - "$trial" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
if not d.get("ok"):
    sys.exit(f"migration FAILED: {d}")
print(f"   migrated in {d['total_s']} s, {d['tool_wire_bytes'] / 1e6:.1f} MB on the wire, {d['rounds']} QEMU passes")
print(f"   guest heartbeat: source stopped at {d['src_last']}, destination continued at {d['dst_first']} "
      f"(same boot id: {d['boot_same']}), visible blackout {d['blackout_ms']} ms")
print(f"   guest memory check after the switchover: {d['mismatches']} mismatched pages over {d['sweeps_after']} full sweeps")
PY

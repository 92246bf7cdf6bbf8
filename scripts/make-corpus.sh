#!/usr/bin/env bash
# Builds a corpus of real memory images for benchmarks and the demo: gcore dumps of live
# python3, sqlite3 and node processes, and the RAM of the QEMU test guest (pmemsave), each taken
# twice while the workload mutates its memory (round 1 = the baseline, round 2 = the next
# pre-copy round).
#
#   scripts/make-corpus.sh OUTDIR [python3|sqlite3|node|qemu ...]
#
# Writes OUTDIR/NAME.1.core and OUTDIR/NAME.2.core. Needs gdb (gcore) and ptrace rights (root);
# qemu needs qemu-system-x86 and builds the guest (guest/build-guest.sh) into .build/guest.
set -euo pipefail
out=${1:?usage: make-corpus.sh OUTDIR [python3|sqlite3|node ...]}
shift || true
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(python3 sqlite3 node)
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Waits until FILE exists (the workload signals it has filled its memory).
wait_for() { for _ in $(seq 1 600); do [ -e "$1" ] && return 0; sleep 0.1; done; echo "timeout waiting for $1" >&2; return 1; }

dump_twice() { # NAME PID
  local name=$1 pid=$2
  gcore -o "$work/$name.a" "$pid" >/dev/null 2>&1
  sleep "${DWCP_CORPUS_GAP:-2}"
  gcore -o "$work/$name.b" "$pid" >/dev/null 2>&1
  mv "$work/$name.a.$pid" "$out/$name.1.core"
  mv "$work/$name.b.$pid" "$out/$name.2.core"
  kill "$pid" 2>/dev/null || true
  echo "$name: $(stat -c %s "$out/$name.1.core") and $(stat -c %s "$out/$name.2.core") bytes" >&2
}

for kind in "${kinds[@]}"; do
  case $kind in
  python3)
    python3 - "$work/py.ready" <<'PY' &
import random, sys, time
random.seed(7)
# ~150 MB of mixed objects: strings, ints, lists, a bytearray of sparse and dense pages.
words = [("%08x" % random.getrandbits(32)) * random.randint(1, 8) for _ in range(300_000)]
table = {i: [random.random() for _ in range(8)] for i in range(150_000)}
blob = bytearray(48 << 20)
for i in range(0, len(blob), 4096 * 3):
    blob[i:i + 4096] = random.randbytes(4096)
open(sys.argv[1], "w").close()
while True:  # mutate: a few percent of objects per second
    for _ in range(20_000):
        table[random.randrange(150_000)][random.randrange(8)] = random.random()
        words[random.randrange(len(words))] = "%08x" % random.getrandbits(32)
        p = random.randrange(len(blob) - 8)
        blob[p:p + 8] = random.randbytes(8)
    time.sleep(0.05)
PY
    pids+=($!); wait_for "$work/py.ready"; dump_twice python3 "${pids[-1]}" ;;
  sqlite3)
    mkfifo "$work/sql.fifo"
    sqlite3 :memory: < "$work/sql.fifo" > /dev/null &
    pid=$!; pids+=($pid)
    exec 9> "$work/sql.fifo"
    {
      echo "PRAGMA cache_size=-200000;"
      echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, payload BLOB, n REAL);"
      echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 400000)"
      echo "  INSERT INTO t SELECT x, 'user-' || x || '-' || hex(randomblob(6)), randomblob(64 + (x % 5) * 32), x * 0.5 FROM c;"
      echo "CREATE INDEX t_name ON t(name);"
      echo ".output $work/sql.ready"
      echo "SELECT 1;"
      echo ".output /dev/null"
    } >&9
    wait_for "$work/sql.ready"; sleep 1
    ( for i in $(seq 1 200); do
        echo "UPDATE t SET n = n + 1, payload = randomblob(64) WHERE id % 997 = $i;"
        echo "INSERT INTO t(name, payload, n) VALUES ('late-$i', randomblob(4000), $i);"
        sleep 0.02
      done ) >&9 &
    dump_twice sqlite3 "$pid"
    exec 9>&- ;;
  node)
    node -e '
      const fs = require("fs");
      let seed = 7; const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
      const objs = []; for (let i = 0; i < 400000; i++) objs.push({ id: i, name: "n" + i + "-" + Math.floor(rnd() * 1e9).toString(16), v: [rnd(), rnd(), rnd()] });
      const buf = Buffer.alloc(48 << 20); for (let i = 0; i < buf.length; i += 4096 * 2) for (let j = 0; j < 4096; j += 4) buf.writeUInt32LE((rnd() * 0xffffffff) >>> 0, i + j);
      fs.writeFileSync(process.argv[1], "");
      setInterval(() => { for (let k = 0; k < 20000; k++) { objs[Math.floor(rnd() * objs.length)].v[0] = rnd(); buf.writeUInt32LE((rnd() * 0xffffffff) >>> 0, Math.floor(rnd() * (buf.length / 4)) * 4); } }, 50);
    ' "$work/node.ready" &
    pids+=($!); wait_for "$work/node.ready"; sleep 0.5; dump_twice node "${pids[-1]}" ;;
  qemu)
    repo=$(cd "$(dirname "$0")/.." && pwd)
    "$repo/guest/build-guest.sh" "$repo/.build/guest" >/dev/null
    python3 "$repo/guest/pmemsave.py" "$repo/.build/guest" "$out/qemu.1.core" "$out/qemu.2.core" --gap "${DWCP_CORPUS_GAP:-2}" ;;
  *) echo "unknown workload: $kind" >&2; exit 2 ;;
  esac
done

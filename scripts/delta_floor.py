"""How many fresh pseudo-random bytes a corpus workload wrote between its two dumps.

No general-purpose delta coder can send those bytes in fewer bytes than they are, so their count
is a floor under any delta round's output, dwcp's and `zstd --patch-from`'s alike. The benchmark
prints it next to the delta goal (0.8x patch-from) for the workloads whose writes are known:

- qemu: the guest's dirtier (guest/dirtier.c) rewrites whole pages; the first half of each is
  2048 bytes of a 64-bit hash of (page index, generation), the second half a pattern. A page
  whose first half changed in (nearly) every word carries 2048 fresh bytes.
- sqlite3: scripts/make-corpus.sh runs iterations numbered 1, 2, ...; iteration i inserts a row
  named 'late-i' with randomblob(4000) and sets randomblob(64) on every row whose id % 997 = i
  (400,000 / 997 = 401 of them). The rows named in the second dump and not the first tell how
  many iterations ran in between.

Other workloads (python3, node) return None: their writes are not known well enough to count.
"""
import re
from array import array

PAGE = 4096


def _qemu(r1, r2):
    fresh = 0
    with open(r1, "rb") as a, open(r2, "rb") as b:
        while True:
            pa, pb = a.read(PAGE), b.read(PAGE)
            if not pa or not pb:
                break
            if pa == pb or len(pa) < PAGE or len(pb) < PAGE:
                continue
            wa, wb = array("Q", pa[:PAGE // 2]), array("Q", pb[:PAGE // 2])
            # A rewritten page's hashed words all change (a 64-bit word repeats with chance 2^-64).
            if sum(x != y for x, y in zip(wa, wb)) >= len(wa) - 2:
                fresh += PAGE // 2
    return fresh


def _iterations(path):
    """The highest n such that rows 'late-1' ... 'late-n' all appear in the dump."""
    with open(path, "rb") as f:
        seen = {int(m) for m in re.findall(rb"late-(\d{1,3})", f.read())}
    n = 0
    while n + 1 in seen:
        n += 1
    return n


def _sqlite3(r1, r2):
    ran = _iterations(r2) - _iterations(r1)
    return max(0, ran) * (4000 + 401 * 64)


def fresh_bytes(name, r1, r2):
    """Fresh pseudo-random bytes written between dump r1 and dump r2 of workload `name`, or None."""
    return {"qemu": _qemu, "sqlite3": _sqlite3}.get(name, lambda *_: None)(r1, r2)


if __name__ == "__main__":
    import sys
    print(fresh_bytes(*sys.argv[1:4]))

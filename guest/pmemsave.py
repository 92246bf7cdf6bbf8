#!/usr/bin/env python3
"""Dumps the RAM of the running test guest twice, a pre-copy round apart (QMP `pmemsave`).

Usage: guest/pmemsave.py GUEST_DIR OUT_1 OUT_2 [--ram 524292K] [--mib 256] [--rate 8] [--gap 2]

Boots the guest built by guest/build-guest.sh (TCG, no network), waits until its workload has
swept its memory region once, then writes the guest-physical RAM to OUT_1, waits --gap seconds
while the workload keeps rewriting pages at --rate MiB/s, and writes it again to OUT_2. The two
files are the guest-RAM rows of `make bench` (scripts/make-corpus.sh qemu): round 1 and the next
round's image, the job dwcp-encode --baseline does inside dwcp-migrate.
"""
import argparse, os, shutil, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trial import QMP, Watcher, start_vm, kill_vm, wait_until  # noqa: E402


def ram_bytes(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("guest")
    ap.add_argument("out1")
    ap.add_argument("out2")
    ap.add_argument("--ram", default="524292K")
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--rate", type=float, default=8)
    ap.add_argument("--write", default="page", choices=["page", "line"])
    ap.add_argument("--gap", type=float, default=2)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="dwcp-pmemsave-")
    try:
        log, qmp_path = start_vm(args, work, "vm", None, False)
        watcher = Watcher(log)
        watcher.start()
        wait_until(lambda: any(b[4] >= 1 for b in watcher.beats), 180, "guest workload ready (one full sweep)")
        qmp = QMP(qmp_path)
        size = ram_bytes(args.ram)
        for path in (args.out1, args.out2):
            qmp.cmd("pmemsave", val=0, size=size, filename=os.path.abspath(path))
            if path == args.out1:
                time.sleep(args.gap)
        watcher.stop = True
    finally:
        kill_vm(work, "vm")
        shutil.rmtree(work, ignore_errors=True)
    print(f"guest RAM: {os.path.getsize(args.out1)} and {os.path.getsize(args.out2)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()

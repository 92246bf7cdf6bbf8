#!/usr/bin/env python3
"""Prints the migration benchmark table (bench-out/migrate-*.jsonl) with DWCP's ratios.

With several trials per cell (MIGRATE_TRIALS), every trial gets a row and the ratios compare
medians of the passing trials: single 2 GiB trials vary by tens of seconds with QEMU's own
dirty-bitmap stalls (the "QEMU stall" column: seconds QEMU left a QMP command unanswered, its
setup's included), which hit every method alike. The setup's (QEMU's own `setup-time`, before
its first pass sends anything) varied 1-19 s on a 2 GiB guest, so each ratio is also given for
the totals less QEMU's setup. (The other stalls are not subtracted: they include the
switchover, where QEMU holds its lock while it sends the last pages.)"""
import json, statistics, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = defaultdict(lambda: defaultdict(list))
for r in rows:
    groups[(r["link_name"], r["ram"] + "/" + r.get("write", "page"))][r["method"]].append(r)
def less_setup(r):
    """The total without QEMU's setup, where it holds its lock and sends nothing."""
    if r.get("total_s") is None or r.get("qemu_setup_ms") is None:
        return None
    return round(r["total_s"] - r["qemu_setup_ms"] / 1000, 3)


for r in rows:
    r["less_setup_s"] = less_setup(r)
print("| link | guest RAM / writes | method | ok | total s | blackout ms | wire MB | rounds | QEMU setup s | QEMU stall s | total less setup s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (link, ram), methods in groups.items():
    for m, trials in methods.items():
        for r in trials:
            wire = r.get("wire_bytes") or r.get("tool_wire_bytes") or 0
            print(f"| {link} | {ram} | {m} | {'yes' if r.get('ok') else 'NO'} | {r.get('total_s', '-')} | "
                  f"{r.get('blackout_ms', '-')} | {wire / 1e6:.1f} | {r.get('rounds', '-')} | "
                  f"{r['qemu_setup_ms'] / 1000 if r.get('qemu_setup_ms') is not None else '-'} | {r.get('qemu_stall_s', '-')} | "
                  f"{r['less_setup_s'] if r['less_setup_s'] is not None else '-'} |")
print()


def median(trials, key):
    values = [r[key] for r in trials if r.get("ok") and r.get(key) is not None]
    return statistics.median(values) if values else None


def ratios(methods, key, own="dwcp"):
    """The median of `own` (dwcp, or dwcp-reference: dwcp with the guest's kernel and initrd as
    --reference) against QEMU tcp:, tcp: into a pre-faulted destination and the best other
    (the best method that is not dwcp's)."""
    d = median(methods.get(own, []), key)
    t = median(methods.get("qemu-tcp", []), key)
    tp = median(methods.get("qemu-tcp-prealloc", []), key)
    others = [v for m, trials in methods.items() if not m.startswith("dwcp") and m != "qemu-tcp"
              for v in [median(trials, key)] if v is not None]
    parts = []
    if d and t:
        parts.append(f"{d / t:.2f}x QEMU tcp:")
    elif d and key == "total_s" and methods.get("qemu-tcp") and all(r.get("gave_up_s") for r in methods["qemu-tcp"]):
        g = min(r["gave_up_s"] for r in methods["qemu-tcp"])
        parts.append(f"QEMU tcp: did not converge (cancelled after {g:g} s" + (f", so {own} < {d / g:.2f}x it)" if d < g else ")"))
    if d and tp:
        parts.append(f"{d / tp:.2f}x QEMU tcp: into a pre-faulted destination")
    if d and others:
        parts.append(f"{d / min(others):.2f}x best other")
    return parts


for (link, ram), methods in groups.items():
    for own in sorted(m for m in methods if m.startswith("dwcp")):
        d = median(methods[own], "total_s")
        if d is None:
            continue
        n = len(methods[own])
        parts = [f"{link} {ram}: {own} total {d:.3f} s" + (f" (median of {n})" if n > 1 else "")]
        parts += ratios(methods, "total_s", own)
        if median(methods.get("qemu-tcp", []), "total_s"):
            parts.append(f"blackout {median(methods[own], 'blackout_ms')} vs {median(methods['qemu-tcp'], 'blackout_ms')} ms")
        less = ratios(methods, "less_setup_s", own)
        if less:
            parts.append("less QEMU's setup: " + ", ".join(less))
        print("- " + ", ".join(parts))

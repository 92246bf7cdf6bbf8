#!/usr/bin/env python3
"""Prints dwcp-encode --json summary lines as one readable line each (used by demo and bench)."""
import json
import sys


def encode_line(label, d):
    n = max(d["bytes_in"], 1)
    return (f"{label:<28} {d['bytes_in'] / 1e6:8.1f} MB -> {d['bytes_out'] / 1e6:7.2f} MB  "
            f"ratio {d['bytes_in'] / max(d['bytes_out'], 1):6.2f}  {d['mb_per_s']:7.1f} MB/s  "
            f"zero {d['zero_bytes'] / n:.0%} dup {d['duplicate_bytes'] / n:.0%} "
            f"copy {d['baseline_copy_bytes'] / n:.0%} xor {d['xor_bytes'] / n:.0%} literal {d['literal_bytes'] / n:.0%}")


def decode_line(label, d):
    return f"{label:<28} {d['bytes_out'] / 1e6:8.1f} MB at {d['mb_per_s']:7.1f} MB/s, every frame verified: {d['verified']}"


if __name__ == "__main__":
    label, line = sys.argv[1], sys.argv[2]
    d = json.loads(line)
    print(encode_line(label, d) if d["command"] == "encode" else decode_line(label, d))

#!/usr/bin/env python3
"""What a captured QEMU migration stream is made of, page by page.

    scripts/qemu-stream-pages.py STREAM [--new-pages FILE]

Reads a QEMU 7.2 precopy stream (capture one with `guest/trial.py --method zstd-socat --capture
FILE`), walks its RAM section records up to the first device-state section, and counts the
pages: zero pages (sent as one byte), pages whose exact content the stream had already carried
(re-sent unchanged: dirtied before QEMU first read them, or written back with the same bytes),
and new pages. With zstd on PATH it also compresses the whole stream and the new pages alone
(`zstd -6 --long=30 -T1`, what dwcp-migrate uses below 25 MB/s of link): the difference is what
the duplicates cost a long-window coder. No coder sends the new pages' fresh random bytes in
fewer bytes than they are, so with the page counts this tells how much of a slow link's time is
the workload's and how much the transfer's. --new-pages writes the new pages' bytes to FILE.
"""
import argparse, hashlib, os, shutil, struct, subprocess, sys, tempfile

# QEMU's savevm section types and RAM record flags (migration/savevm.c, migration/ram.c).
SECTION_START, SECTION_PART, SECTION_END, SECTION_FULL = 0x01, 0x02, 0x03, 0x04
CONFIGURATION, FOOTER, EOF = 0x07, 0x7E, 0x1F
ZERO, MEM_SIZE, PAGE, EOS, CONTINUE = 0x02, 0x04, 0x08, 0x10, 0x20
PAGE_SIZE = 4096


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise SystemExit(f"qemu-stream-pages: stream ends inside a record at offset {self.pos}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def be32(self):
        return struct.unpack(">I", self.take(4))[0]

    def be64(self):
        return struct.unpack(">Q", self.take(8))[0]


def walk(data, on_page):
    """Calls on_page(address, bytes) for every full page; returns the count of zero pages."""
    r = Reader(data)
    if r.take(4) != b"QEVM":
        raise SystemExit("qemu-stream-pages: not a QEMU migration stream (no QEVM magic)")
    r.be32()  # version
    zero = 0
    while r.pos < len(data):
        kind = r.u8()
        if kind == CONFIGURATION:
            r.take(r.be32())
            continue
        if kind == EOF or kind == SECTION_FULL:
            break  # device state: the RAM is over
        if kind == SECTION_START:
            r.be32()
            name = r.take(r.u8())
            r.be32(), r.be32()
            if name != b"ram":
                break
        elif kind in (SECTION_PART, SECTION_END):
            r.be32()
        else:
            raise SystemExit(f"qemu-stream-pages: unknown section type {kind:#x} at offset {r.pos - 1}")
        while True:
            header = r.be64()
            flags, address = header & 0xFFF, header & ~0xFFF
            if flags & MEM_SIZE:
                total = address
                while total > 0:
                    r.take(r.u8())
                    total -= r.be64()
                continue
            if flags & EOS:
                break
            if not flags & CONTINUE:
                r.take(r.u8())  # RAM block name
            if flags & ZERO:
                r.u8()
                zero += 1
            elif flags & PAGE:
                on_page(address, r.take(PAGE_SIZE))
            else:
                raise SystemExit(f"qemu-stream-pages: RAM record flags {flags:#x} at offset {r.pos - 8} (XBZRLE or compression is not read)")
        if r.pos < len(data) and data[r.pos] == FOOTER:
            r.u8(), r.be32()
    return zero, r.pos


def zstd_size(path):
    out = subprocess.run(["zstd", "-q", "-c", "-6", "--long=30", "-T1", path], capture_output=True, check=True).stdout
    return len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stream")
    ap.add_argument("--new-pages", help="write the new pages' bytes here")
    a = ap.parse_args()
    data = open(a.stream, "rb").read()
    seen = set()
    counts = {"full": 0, "repeat": 0, "new": 0}
    new = []

    def on_page(address, page):
        counts["full"] += 1
        key = hashlib.blake2b(page, digest_size=16).digest()
        if key in seen:
            counts["repeat"] += 1
        else:
            seen.add(key)
            counts["new"] += 1
            new.append(page)

    zero, end = walk(data, on_page)
    print(f"stream {len(data):,} bytes, RAM records up to offset {end:,}")
    print(f"zero pages {zero:,}; full pages {counts['full']:,}: new {counts['new']:,}, content sent before {counts['repeat']:,}")
    path = a.new_pages
    with tempfile.TemporaryDirectory() as tmp:
        path = path or os.path.join(tmp, "new-pages")
        with open(path, "wb") as f:
            f.writelines(new)
        if shutil.which("zstd"):
            whole, fresh = zstd_size(a.stream), zstd_size(path)
            print(f"zstd -6 --long=30: whole stream {whole:,} bytes, new pages alone {fresh:,} "
                  f"(what the re-sent pages and QEMU's framing cost: {whole - fresh:,})")


if __name__ == "__main__":
    sys.exit(main())

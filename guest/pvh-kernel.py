#!/usr/bin/env python3
"""Unpacks the ELF kernel inside a bzImage, for QEMU to boot directly through PVH.

Usage: guest/pvh-kernel.py BZIMAGE OUT

QEMU boots an ELF vmlinux that carries the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) straight
into 32-bit protected mode: no firmware real-mode setup and, above all, no kernel decompression,
which under TCG takes longer than the kernel's whole boot (the test guest: READY after ~10 s
from the bzImage, ~5 s from its vmlinux). Exits 1, writing nothing, when the payload cannot be
unpacked or the kernel has no PVH entry; the caller then boots the bzImage.
"""
import lzma
import struct
import sys
import zlib

PT_NOTE = 4
XEN_ELFNOTE_PHYS32_ENTRY = 18


def payload(image):
    """The compressed kernel: boot protocol 2.08+ names its offset and length in the setup header."""
    if image[0x202:0x206] != b"HdrS":
        raise ValueError("not a bzImage (no HdrS setup header)")
    version = struct.unpack_from("<H", image, 0x206)[0]
    if version < 0x208:
        raise ValueError(f"boot protocol {version >> 8}.{version & 0xff} names no payload")
    setup_sects = image[0x1F1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + offset
    return image[start:start + length]


def decompress(data):
    """The payload's length includes a trailing size word: both decoders stop at the end of
    their stream and leave it aside."""
    if data.startswith(b"\xfd7zXZ\x00") or data.startswith(b"\x5d\x00\x00"):
        d = lzma.LZMADecompressor()
    elif data.startswith(b"\x1f\x8b"):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    else:
        raise ValueError(f"unsupported kernel compression (magic {data[:4].hex()})")
    out = d.decompress(data)
    if not d.eof:
        raise ValueError("the compressed kernel is cut short")
    return out


def has_pvh_entry(elf):
    """Whether a 64-bit little-endian ELF has a Xen PHYS32_ENTRY note in a PT_NOTE segment."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != PT_NOTE:
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\x00")
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: pvh-kernel.py BZIMAGE OUT")
    try:
        elf = decompress(payload(open(sys.argv[1], "rb").read()))
    except (ValueError, OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        sys.exit(f"pvh-kernel: {sys.argv[1]}: {e}")
    if not has_pvh_entry(elf):
        sys.exit(f"pvh-kernel: {sys.argv[1]}: the kernel has no PVH entry point")
    with open(sys.argv[2], "wb") as out:
        out.write(elf)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes fuzz_artifact's seeds into tests/fuzz/corpus/artifact (or DIR):
small tar archives, plain and gzip-compressed, good and bad, each
trimmed after its end-of-archive blocks so that mutations land in
headers rather than in padding.

  artifact_corpus.py [DIR]
"""
import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def entry(name, data=b"", **kw):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1700000000
    info.mode = 0o644
    for key, value in kw.items():
        setattr(info, key, value)
    return info, data


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if data else None)
    return trim(buf.getvalue())


def trim(raw):
    """RAW up to its two zero blocks, without the padding after them."""
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        t.getmembers()
        return raw[:t.offset + 1024]


def gnu_sparse():
    """GNU tar's archive of a sparse file: 4 bytes at 8 KiB, a hole to
    16 KiB (Python's tarfile writes no sparse files)."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "sparse"), "wb") as f:
            f.seek(8192)
            f.write(b"data")
            f.truncate(16384)
        raw = subprocess.run(["tar", "-C", d, "--sparse", "--format=gnu",
                              "--mtime=@1700000000", "--numeric-owner",
                              "--owner=0", "--group=0",
                              "-cf", "-", "sparse"], check=True,
                             stdout=subprocess.PIPE).stdout
    return trim(raw)


def gz(raw):
    return gzip.compress(raw, mtime=0)


GOOD = [
    entry("app/", type=tarfile.DIRTYPE, mode=0o755),
    entry("app/bin/run", b"#!/bin/sh\necho hi\n", mode=0o755),
    entry("app/data.txt", b"data\n"),
    entry("app/current", type=tarfile.SYMTYPE, linkname="bin/run"),
    entry("app/lib/up", type=tarfile.SYMTYPE, linkname="../bin"),
    entry("app/run2", type=tarfile.LNKTYPE, linkname="app/bin/run"),
]

SEEDS = {
    "good.tar.gz": gz(tar(GOOD)),
    "good.tar": tar(GOOD),
    "gnu.tar": tar([
        entry("./", type=tarfile.DIRTYPE, mode=0o755),
        entry("./" + "long/" * 25 + "name", b"x"),
        entry("./link", type=tarfile.SYMTYPE, linkname="long/" * 25 + "name"),
    ], fmt=tarfile.GNU_FORMAT),
    "ustar.tar": tar([entry("a/b", b"ab"), entry("a/c/", type=tarfile.DIRTYPE)],
                     fmt=tarfile.USTAR_FORMAT),
    "pax-utf8.tar": tar([
        entry("caf\u00e9/men\u00fc.txt", b"x"),
        entry("l", type=tarfile.SYMTYPE, linkname="caf\u00e9/" + "x" * 120),
    ]),
    "sparse.tar": gnu_sparse(),
    "bad-hardlink-data.tar": tar([
        entry("t", b"ab"),
        entry("h", b"xyz", type=tarfile.LNKTYPE, linkname="t",
              pax_headers={"comment": "pax"}),
    ]),
    "bad-dotdot.tar": tar([entry("../../etc/passwd", b"root::0:0\n")]),
    "bad-symlink.tar": tar([
        entry("link", type=tarfile.SYMTYPE, linkname="/tmp"),
        entry("link/evil", b"x"),
    ]),
    "bad-through.tar": tar([
        entry("d/", type=tarfile.DIRTYPE, mode=0o755),
        entry("s", type=tarfile.SYMTYPE, linkname="d"),
        entry("s/evil", b"x"),
    ]),
    "bad-hardlink.tar": tar([entry("h", type=tarfile.LNKTYPE, linkname="/etc/passwd")]),
    "bad-nodes.tar": tar([
        entry("null", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
        entry("fifo", type=tarfile.FIFOTYPE),
        entry("su", b"x", mode=0o4755),
    ]),
    "bad-truncated.tar.gz": gz(tar(GOOD))[:200],
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "artifact")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

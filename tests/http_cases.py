#!/usr/bin/env python3
"""The HTTP framing cases of tests/data/http (its README gives the format),
read for the shell and for the fuzz corpus. The C unit test reads the same
files itself (tests/unit/test_proxy_http.c).

  http_cases.py list KIND [refused]
        one line per case of KIND (request, response, chunked), in name
        order: "NAME<TAB>STATUS<TAB>BYTES", BYTES written with the files'
        escapes (as tests/integration/proxy_env.bash's raw takes them);
        with "refused", only the cases whose status is not 0
  http_cases.py corpus DIR
        writes every case into DIR as fuzz_http seeds: the target's mode
        byte (request, response or chunked, fed in pieces of 1 and of 8
        bytes), then the bytes

A malformed file stops either command with its name and line (exit 1).
"""
import os
import re
import sys

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "http")
KINDS = ("request", "response", "chunked")
# fuzz_http's first byte: mode in the low 2 bits, piece size - 1 above
MODES = {"request": 0, "response": 2, "chunked": 3}
ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|[rnt0\\]|.?)")
SIMPLE = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


class CaseError(Exception):
    pass


def unescape(text):
    """The bytes TEXT stands for; CaseError on an escape it does not know."""
    out, pos = b"", 0
    for m in ESCAPE.finditer(text):
        out += text[pos:m.start()].encode("latin-1")
        e = m.group(1)
        if e in SIMPLE:
            out += SIMPLE[e]
        elif len(e) == 3 and e[0] == "x":
            out += bytes([int(e[1:], 16)])
        else:
            raise CaseError("unknown escape \\%s" % e)
        pos = m.end()
    return out + text[pos:].encode("latin-1")


def read_case(path):
    """{name, kind, status, text (escaped), bytes} of the case file PATH."""
    case = {"name": os.path.basename(path), "text": ""}
    with open(path, encoding="latin-1") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            where = "%s:%d" % (path, n)
            if line == "" or line.startswith("#"):
                continue
            key, sep, value = line.partition(": ")
            if sep == "" and line.endswith(":"):
                key, value = line[:-1], ""
            try:
                if key == "kind" and value in KINDS:
                    case["kind"] = value
                elif key == "status" and re.fullmatch(r"0|[1-5][0-9][0-9]",
                                                      value):
                    case["status"] = int(value)
                elif key == "bytes":
                    unescape(value)
                    case["text"] += value
                else:
                    raise CaseError("not a line of a case: %r" % line)
            except CaseError as e:
                raise CaseError("%s: %s" % (where, e))
    for k in ("kind", "status"):
        if k not in case:
            raise CaseError("%s: no %s line" % (path, k))
    if case["text"] == "":
        raise CaseError("%s: no bytes" % path)
    case["bytes"] = unescape(case["text"])
    return case


def cases():
    names = sorted(n for n in os.listdir(HERE) if n != "README")
    return [read_case(os.path.join(HERE, n)) for n in names]


def main(argv):
    if len(argv) >= 2 and argv[0] == "list" and argv[1] in KINDS and \
            argv[2:] in ([], ["refused"]):
        for c in cases():
            if c["kind"] == argv[1] and (not argv[2:] or c["status"] != 0):
                print("%s\t%d\t%s" % (c["name"], c["status"], c["text"]))
    elif len(argv) == 2 and argv[0] == "corpus":
        os.makedirs(argv[1], exist_ok=True)
        for c in cases():
            for step in (1, 8):
                first = bytes([(step - 1) << 2 | MODES[c["kind"]]])
                with open(os.path.join(argv[1], "%s.%d" % (c["name"], step)),
                          "wb") as f:
                    f.write(first + c["bytes"])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except CaseError as e:
        sys.exit("http_cases.py: %s" % e)

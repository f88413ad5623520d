#!/usr/bin/python3
"""Cross-checks lib/mime's part tree against Python's email package (the standard library).

Usage: mime_crosscheck.py MIME_DUMP CORPUS_DIR

For every well-formed message in the corpus, mime_dump's tree must match Python's: the
types and subtypes, the Content-Type parameters (RFC 2231 decoded), the encoded body of each
leaf octet for octet (Python too drops the line break before a boundary), and the
transfer-decoded size. Malformed messages, where the two parsers may legitimately choose
different best-effort structures, are only checked to parse.
"""
import email
import email.policy
import json
import os
import subprocess
import sys

# Best-effort structures differ by design (we add an empty part where no boundary is found;
# base64 garbage is decoded differently; an unterminated last part keeps its final line break
# here, Python drops it).
MALFORMED = {"missing_boundary", "bad_encoding", "unterminated"}  # we keep the last CRLF


def py_params(part):
    out = {}
    params = part.get_params(header="content-type") or []
    for name, _ in params[1:]:
        value = part.get_param(name, header="content-type")
        out[name.lower()] = email.utils.collapse_rfc2231_value(value)
    return out


def compare(path, ours, py, errors):
    where = f"{path}: {py.get_content_type()}"
    if (ours["type"], ours["subtype"]) != (py.get_content_maintype(), py.get_content_subtype()):
        errors.append(f"{where}: type {ours['type']}/{ours['subtype']}")
        return
    params = dict(ours["params"])
    expected = py_params(py)
    if ours["type"] == "text" and "charset" not in expected and params.get("charset") == "us-ascii":
        params.pop("charset")
    if params != expected:
        errors.append(f"{where}: params {params} != {expected}")
    if py.is_multipart():
        children = py.get_payload()
        if len(children) != len(ours["children"]):
            errors.append(f"{where}: {len(ours['children'])} children != {len(children)}")
            return
        for i, (o, p) in enumerate(zip(ours["children"], children)):
            compare(f"{path}.{i + 1}", o, p, errors)
        return
    body = py._payload  # the raw str (surrogate-escaped bytes); get_payload() may charset-decode
    if isinstance(body, str):
        body = body.encode("ascii", "surrogateescape")
    if ours["body"].encode("latin-1") != body:
        errors.append(f"{where}: body {ours['body'][:60]!r} != {body[:60]!r}")
    decoded = py.get_payload(decode=True) or b""
    if ours["decoded_size"] != len(decoded):
        errors.append(f"{where}: decoded size {ours['decoded_size']} != {len(decoded)}")


def main():
    dump, corpus = sys.argv[1], sys.argv[2]
    failures = 0
    for name in sorted(os.listdir(corpus)):
        path = os.path.join(corpus, name)
        out = subprocess.run([dump, path], capture_output=True, check=True).stdout
        ours = json.loads(out)
        raw = open(path, "rb").read()
        if ours["size"] != len(raw):
            print(f"FAIL {name}: size {ours['size']} != {len(raw)}")
            failures += 1
            continue
        if name in MALFORMED:
            print(f"ok   {name} (malformed: parsed only)")
            continue
        py = email.message_from_bytes(raw, policy=email.policy.compat32)
        errors = []
        compare(name, ours["root"], py, errors)
        if errors:
            failures += 1
            for e in errors:
                print(f"FAIL {e}")
        else:
            print(f"ok   {name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""End-to-end: ManageSieve (RFC 5804) in kite-delivery and `kitectl sieve`, against the whole
suite.

Needs KITE_BIN_DIR (the daemons and kitectl), optionally KITE_SOURCE_DIR, and Debian's
sieve-connect (scripts/install-deps). Checks:
  - raw protocol: the greeting's capabilities (STARTTLS offered, SASL empty, SIEVE lists
    what lib/sieve supports, VERSION "1.0"); AUTHENTICATE refused before TLS
    (ENCRYPT-NEEDED); the capabilities re-issued after STARTTLS with SASL PLAIN and without
    STARTTLS; AUTHENTICATE PLAIN with and without an initial response, LOGIN through
    challenges, a wrong password (NO, the session goes on), "*" aborts
  - PUTSCRIPT (quoted and literal), LISTSCRIPTS, SETACTIVE, GETSCRIPT (exact bytes),
    CHECKSCRIPT and PUTSCRIPT of a broken script (NO with "line N: reason"), DELETESCRIPT of
    the active script (NO (ACTIVE)), NONEXISTENT, ALREADYEXISTS, HAVESPACE and an oversized
    PUTSCRIPT (QUOTA/MAXSIZE), a bad command (NO, the session goes on), NOOP with a tag,
    UNAUTHENTICATE, LOGOUT; each user sees only their own scripts
  - a real client: sieve-connect uploads, activates, lists, downloads and checks scripts and
    reports the error line of a broken one
  - kitectl sieve put/list/activate/get/remove, refusing a bad script with the line
Never uses DNS: every address is 127.0.0.1 (sieve-connect runs with --nosrv) and every
domain ends in .test.
"""
import base64
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, insecure_context, record_failure  # noqa: E402

USER = "demo@example.test"
PASSWORD = "demo-password-123"
OTHER = "sieve-other@example.test"
OTHER_PASSWORD = "other-password-456"

GOOD = b'require ["fileinto", "imap4flags"];\r\nif header :contains "subject" "report" {\r\n  fileinto "Reports";\r\n}\r\n'
BROKEN = b'require "fileinto";\r\nkeep;\r\nfileino "X";\r\n'  # line 3: unknown command


def b64(b):
    return base64.b64encode(b).decode()


def literal(data):
    return b"{%d+}\r\n" % len(data) + data


class Session:
    """A raw ManageSieve client: each response is (lines before the status, status line)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError(f"connection closed after {lines!r}")
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:  # a literal: its octets, then the rest of the line
                line += self.file.read(int(m.group(1))) + self.file.readline()
            if re.match(rb"(OK|NO|BYE)\b", line):
                return lines, line.decode()
            lines.append(line)

    def command(self, data):
        self.send(data + b"\r\n")
        return self.response()

    def starttls(self):
        _, status = self.command(b"STARTTLS")
        assert status.startswith("OK"), status
        self.sock = insecure_context().wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        return self.response()  # RFC 5804 2.2: the capabilities again

    def login(self, user=USER, password=PASSWORD):
        ir = b64(b"\0" + user.encode() + b"\0" + password.encode())
        return self.command(f'AUTHENTICATE "PLAIN" "{ir}"'.encode())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def capabilities(lines):
    caps = {}
    for line in lines:
        m = re.match(rb'"([^"]+)"(?: "([^"]*)")?\r\n$', line)
        assert m, line
        caps[m.group(1).decode()] = (m.group(2) or b"").decode()
    return caps


class ManageSieve(SuiteTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.kitectl("user", "add", OTHER, "--password-stdin", stdin=OTHER_PASSWORD + "\n")
        if r.returncode != 0:
            cls.failed = True
            raise AssertionError(repr(r))

    def session(self, tls=True, login=True):
        s = Session(self.port("managesieve"))
        self.addCleanup(s.close)
        lines, status = s.response()
        self.assertTrue(status.startswith("OK"), status)
        if tls:
            s.starttls()
        if login:
            _, status = s.login()
            self.assertTrue(status.startswith("OK"), status)
        return s

    # ------------------------------------------------------------------ protocol
    @record_failure
    def test_capabilities_and_tls_before_authentication(self):
        s = Session(self.port("managesieve"))
        self.addCleanup(s.close)
        lines, status = s.response()
        self.assertTrue(status.startswith("OK"), status)
        caps = capabilities(lines)
        self.assertIn("STARTTLS", caps)
        self.assertEqual(caps.get("SASL"), "", "no SASL mechanism may be offered before TLS")
        self.assertEqual(caps.get("VERSION"), "1.0")
        self.assertIn("IMPLEMENTATION", caps)
        for ext in ("fileinto", "reject", "envelope", "imap4flags", "vacation", "copy", "mailbox"):
            self.assertIn(ext, caps["SIEVE"].split())
        _, status = s.command(b'AUTHENTICATE "PLAIN" "' + b64(b"\0" + USER.encode() + b"\0" + PASSWORD.encode()).encode() + b'"')
        self.assertTrue(status.startswith("NO (ENCRYPT-NEEDED)"), status)
        _, status = s.command(b"LISTSCRIPTS")
        self.assertTrue(status.startswith("NO"), status)
        # Plaintext pipelined behind STARTTLS is dropped, not run inside TLS.
        s.send(b"STARTTLS\r\nLOGOUT\r\n")
        _, status = s.response()
        self.assertTrue(status.startswith("OK"), status)
        s.sock = insecure_context().wrap_socket(s.sock, server_hostname="localhost")
        s.file = s.sock.makefile("rb")
        lines, status = s.response()
        self.assertTrue(status.startswith("OK"), status)
        caps = capabilities(lines)
        self.assertNotIn("STARTTLS", caps)
        self.assertIn("PLAIN", caps["SASL"].split())
        lines, status = s.command(b"CAPABILITY")
        self.assertTrue(status.startswith("OK"), status)
        self.assertEqual(capabilities(lines), caps)
        _, status = s.command(b"STARTTLS")
        self.assertTrue(status.startswith("NO"), status)
        _, status = s.login()
        self.assertTrue(status.startswith("OK"), status)
        lines, status = s.command(b"CAPABILITY")
        self.assertEqual(capabilities(lines).get("OWNER"), USER)

    @record_failure
    def test_authentication(self):
        s = self.session(login=False)
        _, status = s.login(USER, "wrong-password")
        self.assertTrue(status.startswith("NO"), status)
        self.assertNotIn("ENCRYPT", status)
        # The session goes on: "*" aborts an exchange, then LOGIN through two challenges.
        s.send(b'AUTHENTICATE "PLAIN"\r\n')
        self.assertEqual(s.file.readline(), b'""\r\n', "an empty challenge for PLAIN without initial response")
        _, status = s.command(b'"*"')
        self.assertTrue(status.startswith("NO"), status)
        s.send(b'AUTHENTICATE "LOGIN"\r\n')
        self.assertRegex(s.file.readline(), rb'^"[A-Za-z0-9+/=]+"\r\n$')
        s.send(literal(b64(USER.encode()).encode()) + b"\r\n")
        self.assertRegex(s.file.readline(), rb'^"[A-Za-z0-9+/=]+"\r\n$')
        _, status = s.command(b'"' + b64(PASSWORD.encode()).encode() + b'"')
        self.assertTrue(status.startswith("OK"), status)
        _, status = s.login()
        self.assertTrue(status.startswith("NO"), "a second AUTHENTICATE is refused: " + status)
        _, status = s.command(b"UNAUTHENTICATE")
        self.assertTrue(status.startswith("OK"), status)
        _, status = s.command(b"LISTSCRIPTS")
        self.assertTrue(status.startswith("NO"), status)
        # PLAIN with the initial response as a literal (what sieve-connect sends).
        ir = b64(b"\0" + USER.encode() + b"\0" + PASSWORD.encode()).encode()
        _, status = s.command(b'AUTHENTICATE "PLAIN" ' + literal(ir))
        self.assertTrue(status.startswith("OK"), status)

    @record_failure
    def test_script_lifecycle(self):
        s = self.session()
        _, status = s.command(b'PUTSCRIPT "lifecycle" ' + literal(GOOD))
        self.assertEqual(status, 'OK "Script stored"\r\n')
        _, status = s.command(b'PUTSCRIPT "lifecycle-quoted" "keep;"')
        self.assertTrue(status.startswith("OK"), status)
        _, status = s.command(b'SETACTIVE "lifecycle"')
        self.assertTrue(status.startswith("OK"), status)
        lines, status = s.command(b"LISTSCRIPTS")
        self.assertTrue(status.startswith("OK"), status)
        self.assertIn(b'"lifecycle" ACTIVE\r\n', lines)
        self.assertIn(b'"lifecycle-quoted"\r\n', lines)
        lines, status = s.command(b'GETSCRIPT "lifecycle"')
        self.assertTrue(status.startswith("OK"), status)
        self.assertEqual(lines, [b"{%d}\r\n" % len(GOOD) + GOOD + b"\r\n"])

        # A broken script: CHECKSCRIPT and PUTSCRIPT name the line; nothing is stored.
        _, status = s.command(b"CHECKSCRIPT " + literal(BROKEN))
        self.assertTrue(status.startswith("NO"), status)
        self.assertIn("line 3: ", status)
        self.assertIn("fileino", status)
        _, status = s.command(b'CHECKSCRIPT "keep;"')
        self.assertTrue(status.startswith("OK"), status)
        _, status = s.command(b'PUTSCRIPT "lifecycle" ' + literal(BROKEN))
        self.assertTrue(status.startswith("NO") and "line 3: " in status, status)
        lines, _ = s.command(b'GETSCRIPT "lifecycle"')
        self.assertEqual(lines, [b"{%d}\r\n" % len(GOOD) + GOOD + b"\r\n"], "the good script stays")

        # The active script cannot be deleted; codes for missing and existing names.
        _, status = s.command(b'DELETESCRIPT "lifecycle"')
        self.assertTrue(status.startswith("NO (ACTIVE)"), status)
        _, status = s.command(b'GETSCRIPT "missing"')
        self.assertTrue(status.startswith("NO (NONEXISTENT)"), status)
        _, status = s.command(b'SETACTIVE "missing"')
        self.assertTrue(status.startswith("NO (NONEXISTENT)"), status)
        _, status = s.command(b'RENAMESCRIPT "lifecycle-quoted" "lifecycle"')
        self.assertTrue(status.startswith("NO (ALREADYEXISTS)"), status)
        _, status = s.command(b'RENAMESCRIPT "lifecycle" "lifecycle-renamed"')
        self.assertTrue(status.startswith("OK"), status)
        lines, _ = s.command(b"LISTSCRIPTS")
        self.assertIn(b'"lifecycle-renamed" ACTIVE\r\n', lines, "renaming keeps it active")

        # Sizes: HAVESPACE and an oversized upload (its octets are skipped, the session goes on).
        _, status = s.command(b'HAVESPACE "x" 1000')
        self.assertTrue(status.startswith("OK"), status)
        _, status = s.command(b'HAVESPACE "x" 10000000')
        self.assertTrue(status.startswith("NO (QUOTA/MAXSIZE)"), status)
        _, status = s.command(b'PUTSCRIPT "huge" ' + literal(b"#" * 70000 + b"\r\nkeep;\r\n"))
        self.assertTrue(status.startswith("NO (QUOTA/MAXSIZE)"), status)

        # Errors: NO, and the session continues.
        _, status = s.command(b"FROBNICATE")
        self.assertTrue(status.startswith("NO"), status)
        _, status = s.command(b'GETSCRIPT "unterminated')
        self.assertTrue(status.startswith("NO"), status)
        _, status = s.command(b"PUTSCRIPT \"only-a-name\"")
        self.assertTrue(status.startswith("NO"), status)
        _, status = s.command(b'NOOP "tag-1"')
        self.assertEqual(status, 'OK (TAG "tag-1") "Done"\r\n')

        # Deactivate, then delete; LOGOUT ends the session.
        _, status = s.command(b'SETACTIVE ""')
        self.assertTrue(status.startswith("OK"), status)
        for name in (b"lifecycle-renamed", b"lifecycle-quoted"):
            _, status = s.command(b'DELETESCRIPT "' + name + b'"')
            self.assertTrue(status.startswith("OK"), status)
        lines, _ = s.command(b"LISTSCRIPTS")
        self.assertFalse([l for l in lines if l.startswith(b'"lifecycle')], lines)
        _, status = s.command(b"LOGOUT")
        self.assertTrue(status.startswith("OK"), status)
        self.assertEqual(s.file.read(), b"")

    @record_failure
    def test_accounts_see_only_their_own_scripts(self):
        mine = self.session()
        _, status = mine.command(b'PUTSCRIPT "private" "keep;"')
        self.assertTrue(status.startswith("OK"), status)
        other = self.session(login=False)
        _, status = other.login(OTHER, OTHER_PASSWORD)
        self.assertTrue(status.startswith("OK"), status)
        lines, _ = other.command(b"LISTSCRIPTS")
        self.assertNotIn(b'"private"\r\n', lines)
        _, status = other.command(b'GETSCRIPT "private"')
        self.assertTrue(status.startswith("NO (NONEXISTENT)"), status)
        _, status = other.command(b'DELETESCRIPT "private"')
        self.assertTrue(status.startswith("NO (NONEXISTENT)"), status)
        _, status = mine.command(b'DELETESCRIPT "private"')
        self.assertTrue(status.startswith("OK"), status)

    @record_failure
    def test_too_many_errors_end_the_session(self):
        s = self.session(login=False)
        status = ""
        for _ in range(20):
            try:
                _, status = s.command(b"BOGUS")
            except (EOFError, OSError):
                break
            if status.startswith("BYE"):
                break
        self.assertTrue(status.startswith("BYE"), status)

    # ------------------------------------------------------------------ a real client
    def sieve_connect(self, *args, password=PASSWORD):
        exe = shutil.which("sieve-connect")
        self.assertIsNotNone(exe, "sieve-connect is missing: run scripts/install-deps")
        cmd = [exe, "--nosrv", "--server", "127.0.0.1", "--port", str(self.port("managesieve")),
               "--user", USER, "--passwordfd", "0", "--notlsverify", "--noclearauth", *args]
        return subprocess.run(cmd, input=password + "\n", capture_output=True, text=True, timeout=60)

    @record_failure
    def test_sieve_connect(self):
        work = tempfile.mkdtemp(prefix="kite-sieve-connect-")
        self.addCleanup(shutil.rmtree, work, True)
        good, broken, got = (os.path.join(work, n) for n in ("good.sieve", "broken.sieve", "got.sieve"))
        with open(good, "wb") as f:
            f.write(GOOD)
        with open(broken, "wb") as f:
            f.write(BROKEN)

        r = self.sieve_connect("--upload", "--localsieve", good, "--remotesieve", "client")
        self.assertEqual(r.returncode, 0, r)
        r = self.sieve_connect("--activate", "--remotesieve", "client")
        self.assertEqual(r.returncode, 0, r)
        r = self.sieve_connect("--list")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn('"client" ACTIVE', r.stdout)
        r = self.sieve_connect("--download", "--remotesieve", "client", "--localsieve", got)
        self.assertEqual(r.returncode, 0, r)
        with open(got, "rb") as f:
            self.assertEqual(f.read(), GOOD)
        r = self.sieve_connect("--checkscript", "--localsieve", broken)
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn("line 3: ", r.stdout + r.stderr)
        r = self.sieve_connect("--upload", "--localsieve", broken, "--remotesieve", "client-broken")
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn("line 3: ", r.stdout + r.stderr)
        # Several commands in one session (--exec), as a script of the interactive commands.
        script = os.path.join(work, "commands")
        with open(script, "w") as f:
            f.write(f"put {good} client-2\nactivate client-2\ndelete client\nlist\n")
        r = self.sieve_connect("--exec", script)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn('"client-2" ACTIVE', r.stdout)
        self.assertNotIn('"client"\n', r.stdout)
        r = self.sieve_connect("--list", password="wrong-password")
        self.assertNotEqual(r.returncode, 0, r)
        # Leave nothing active for the other tests.
        r = self.sieve_connect("--deactivate")
        self.assertEqual(r.returncode, 0, r)
        r = self.sieve_connect("--delete", "--remotesieve", "client-2")
        self.assertEqual(r.returncode, 0, r)

    # ------------------------------------------------------------------ kitectl
    @record_failure
    def test_kitectl_sieve(self):
        work = tempfile.mkdtemp(prefix="kite-kitectl-sieve-")
        self.addCleanup(shutil.rmtree, work, True)
        good = os.path.join(work, "good.sieve")
        with open(good, "wb") as f:
            f.write(GOOD)
        self.ok("sieve", "put", OTHER, "ops", good)
        self.ok("sieve", "put", OTHER, "ops-stdin", "-", "--activate", stdin="keep;\n")
        listing = self.ok("sieve", "list", OTHER, "--json").json()
        self.assertEqual({e["name"]: e["active"] for e in listing}, {"ops": False, "ops-stdin": True})
        self.ok("sieve", "activate", OTHER, "ops")
        listing = self.ok("sieve", "list", OTHER).stdout
        self.assertRegex(listing, r"(?m)^ops\s+\d+ B\s+ACTIVE$")
        self.assertEqual(self.ok("sieve", "get", OTHER, "ops", "--json").json()["script"], GOOD.decode())
        r = self.refused("sieve", "put", OTHER, "bad", "-", stdin=BROKEN.decode(), contains="line 3: ")
        self.assertIn("fileino", r.stderr)
        self.refused("sieve", "check", "-", stdin=BROKEN.decode(), contains="line 3: ")
        self.ok("sieve", "check", good)
        self.refused("sieve", "remove", OTHER, "ops", contains="active")
        self.refused("sieve", "get", OTHER, "bad")
        self.refused("sieve", "list", "nobody@example.test", contains="no such user")
        self.assertEqual(self.kitectl("sieve", "frobnicate", OTHER).returncode, 2)
        # What kitectl stored is what a ManageSieve session of that user sees, and back.
        s = self.session(login=False)
        _, status = s.login(OTHER, OTHER_PASSWORD)
        self.assertTrue(status.startswith("OK"), status)
        lines, _ = s.command(b'GETSCRIPT "ops"')
        self.assertEqual(lines, [b"{%d}\r\n" % len(GOOD) + GOOD + b"\r\n"])
        lines, _ = s.command(b"LISTSCRIPTS")
        self.assertIn(b'"ops" ACTIVE\r\n', lines)
        _, status = s.command(b'PUTSCRIPT "from-client" "keep;"')
        self.assertTrue(status.startswith("OK"), status)
        self.assertIn("from-client", self.ok("sieve", "list", OTHER).stdout)
        self.ok("sieve", "deactivate", OTHER)
        for name in ("ops", "ops-stdin", "from-client"):
            self.ok("sieve", "remove", OTHER, name)
        self.assertEqual(self.ok("sieve", "list", OTHER, "--json").json(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)

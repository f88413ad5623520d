#!/usr/bin/python3
# ctest-timeout: 1200
"""End-to-end: issue 9's security properties, each shown over real sockets with real clients
(smtplib, swaks, imaplib, poplib, http.client, python3-caldav, grpcio) against the whole suite.

The suite is started by scripts/kite-local (tests/fixtures/kite_suite.py) with: kite-auth's
throttle at 3 failures (lockout 10 min, no failure delay), PROXY protocol trusted from
127.0.0.9 only, and an outside MX for other.test (the launcher's dnsmasq, --dns-extra) that
is this test's smtp-sink on 127.0.0.3, so mail kite-mta relays outwards is caught here.
  a) no open relay on kite-mta: a remote recipient directly, behind a PROXY v1/v2 header from
     an untrusted source and from the trusted proxy claiming loopback, source routes, the
     percent hack, user@remote@local, a bang path and quoted local parts: none is accepted,
     and PostgreSQL's spool holds no recipient of the probed domains; unauthenticated
     submission refuses too
  b) AUTH never offered nor accepted before TLS: submission (EHLO, AUTH -> 530, swaks),
     kite-mta (no AUTH at all), IMAP (LOGINDISABLED, no AUTH=, LOGIN/AUTHENTICATE refused),
     POP3 (no USER/SASL, USER/PASS/AUTH refused), ManageSieve (empty SASL, ENCRYPT-NEEDED);
     CalDAV: with caldav.allow_plaintext_loopback off (kite-caldav restarted with it), a Basic
     password over plain HTTP is 403 and never reaches kite-auth; over HTTPS it works
  c) login throttling: 3 wrong passwords (SMTP AUTH, IMAP LOGIN, POP3 PASS, CalDAV Basic,
     ManageSieve), then the throttled answer, and then even the right password is refused;
     every protocol from its own source address with its own account
  d) another user's data: IMAP SELECT/EXAMINE/STATUS/APPEND/COPY/MOVE/GETACL/SETACL/
     MYRIGHTS/DELETE/RENAME on it -> NO; an authzid of another user (SASL PLAIN) refused on
     every protocol; POP3 sees only the own maildrop; CalDAV GET/PUT/DELETE/PROPFIND/
     PROPPATCH/REPORT/MKCALENDAR/COPY/MOVE on another user's calendar 403 (or 404), also a
     multiget on the own calendar listing the other's hrefs; ManageSieve scripts per account;
     the other user's data is unchanged afterwards
  e) free/busy never leaks details: events with marker text in SUMMARY/LOCATION/DESCRIPTION/
     ATTENDEE/ORGANIZER CN; CalDAV free-busy-query (with a freebusy share), the share's
     PROPFIND/calendar-query/multiget, the scheduling outbox POST (VFREEBUSY), the external
     /freebusy/<token>.ifb URL and kite-freebusy's gRPC Availability: FREEBUSY periods only
  f) no header injection: Sieve vacation subjects/from with CR/LF (raw, via ManageSieve and
     kitectl), encoded words and an original Subject whose encoded word hides CR/LF; iMIP
     invitations whose SUMMARY, ORGANIZER CN and ATTENDEE CN carry CR/LF (iCalendar \\n and
     RFC 6868 ^n) and header-looking text: the mails caught at the outside MX have no
     injected header field
Never uses the system resolver; every address is on loopback and every domain ends in .test.
"""
import atexit
import base64
import email
import email.policy
import http.client
import imaplib
import os
import poplib
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from kite_suite import SuiteTestCase, insecure_context, record_failure  # noqa: E402
from loopback_peers import start_smtp_sink, stop  # noqa: E402
from kite_ops import psql  # noqa: E402

import caldav  # noqa: E402
import grpc  # noqa: E402

SOURCE = os.path.abspath(os.environ.get("KITE_SOURCE_DIR") or os.path.join(HERE, "..", ".."))
_gen = tempfile.mkdtemp(prefix="kite-proto-py-")
atexit.register(shutil.rmtree, _gen, True)
subprocess.run(["protoc", "-I", os.path.join(SOURCE, "proto"), f"--python_out={_gen}",
                os.path.join(SOURCE, "proto", "kite", "freebusy", "v1", "freebusy.proto")], check=True)
sys.path.insert(0, _gen)
from kite.freebusy.v1 import freebusy_pb2 as fbpb  # noqa: E402

PASSWORD = "security-password-123"
DOMAIN = "example.test"
ALICE, BOB, OLGA = (f"{n}@{DOMAIN}" for n in ("alice", "bob", "olga"))
VAC_RAW, VAC_CTL, VAC_ORIG = (f"{n}@{DOMAIN}" for n in ("vacraw", "vacctl", "vacorig"))
# Accounts of the throttling checks, one per protocol (their lockouts stay their own).
THROTTLED = {p: f"thr-{p}@{DOMAIN}" for p in ("smtp", "imap", "pop3", "caldav", "sieve")}
# Source addresses of the throttling checks (the client-address lockout stays theirs too).
THROTTLE_SOURCE = {"smtp": "127.0.0.11", "imap": "127.0.0.12", "pop3": "127.0.0.13", "caldav": "127.0.0.14",
                   "sieve": "127.0.0.15"}
PROXY_SOURCE = "127.0.0.9"  # the only trusted PROXY sender
MAX_FAILURES = 3
MX_HOST = "127.0.0.3"
# Text that must never leave a calendar through free/busy.
MARKERS = ["SECRET-SUMMARY-7f3a", "SECRET-LOCATION-9b2c", "SECRET-DESCRIPTION-4d1e", "secret-guest@other.test",
           "SECRET-CN-5a6b"]
# Header fields an injection would add.
INJECTED = ("bcc", "x-injected", "cc", "reply-to")


def b64(b):
    return base64.b64encode(b if isinstance(b, bytes) else b.encode()).decode()


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def header_block(raw):
    """The header of a message (bytes), with LF line ends."""
    return raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]


def header_names(raw):
    """Names of the header fields of a message (bytes)."""
    head = header_block(raw)
    names = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") or not line:
            continue
        names.append(line.split(b":", 1)[0].strip().lower().decode(errors="replace"))
    return names


def secret_event(uid, start="20270112T100000Z", end="20270112T110000Z"):
    return crlf("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Kite security e2e//EN\nBEGIN:VEVENT\n"
                f"UID:{uid}\nDTSTAMP:20261101T090000Z\nDTSTART:{start}\nDTEND:{end}\n"
                f"SUMMARY:{MARKERS[0]}\nLOCATION:{MARKERS[1]}\nDESCRIPTION:{MARKERS[2]}\n"
                f"ORGANIZER;CN={MARKERS[4]}:mailto:{BOB}\n"
                f"ATTENDEE;CN={MARKERS[4]};PARTSTAT=ACCEPTED:mailto:{MARKERS[3]}\n"
                "END:VEVENT\nEND:VCALENDAR\n")


class Lines:
    """A line-based client (IMAP, POP3, ManageSieve) from a chosen source address, TLS or not."""

    def __init__(self, port, tls=False, source="127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0))
        if tls:
            self.sock = insecure_context().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")

    def starttls(self):
        self.sock = insecure_context().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")

    def line(self):
        data = self.file.readline()
        if not data:
            raise EOFError("connection closed")
        return data

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def imap(self, tag, text):
        """Sends "tag text"; returns (untagged lines, tagged line)."""
        self.send(f"{tag} {text}\r\n")
        lines = []
        while True:
            line = self.line()
            if line.startswith(tag.encode() + b" "):
                return lines, line
            lines.append(line)

    def sieve(self, text):
        """A ManageSieve command; returns (lines, status line)."""
        self.send(text + "\r\n")
        return self.sieve_response()

    def sieve_response(self):
        lines = []
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\+?\}\r\n$", line)
            if m:
                line += self.file.read(int(m.group(1))) + self.file.readline()
            if re.match(rb"(OK|NO|BYE)\b", line):
                return lines, line
            lines.append(line)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Security(SuiteTestCase):
    procs = []
    tmp = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kite-security-e2e-")
        os.chmod(cls.tmp, 0o777)
        cls.sink_dir = os.path.join(cls.tmp, "sink")
        os.makedirs(cls.sink_dir)
        os.chmod(cls.sink_dir, 0o777)
        dns_extra = os.path.join(cls.tmp, "dns-extra.conf")
        with open(dns_extra, "w") as f:
            f.write(f"mx-host=other.test,mx.other.test,10\nhost-record=mx.other.test,{MX_HOST}\n")
        cls.launcher_args = ["--dns-extra", dns_extra]
        sink, cls.mx_port = start_smtp_sink(MX_HOST, maildir=cls.sink_dir)
        cls.procs.append(sink)
        cls.extra_env = {
            "KITE_MTA_RELAY_PORT": str(cls.mx_port),
            "KITE_MTA_RELAY_RECONCILE_INTERVAL": "1s",
            "KITE_DELIVERY_RECONCILE_INTERVAL": "1s",
            "KITE_GLOBAL_PROXY_TRUSTED": f"{PROXY_SOURCE}/32",
            "KITE_AUTH_MAX_FAILURES": str(MAX_FAILURES),
            "KITE_AUTH_FAILURE_WINDOW": "10m",
            "KITE_AUTH_LOCKOUT": "10m",
            "KITE_AUTH_FAILURE_DELAY": "0s",
        }
        try:
            super().setUpClass()
            for user in [ALICE, BOB, OLGA, VAC_RAW, VAC_CTL, VAC_ORIG, *THROTTLED.values()]:
                r = cls.kitectl("user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
                if r.returncode != 0:
                    raise AssertionError(repr(r))
        except BaseException:
            cls.failed = True
            cls.stop_peers()
            raise

    @classmethod
    def stop_peers(cls):
        stop(cls.procs)
        cls.procs = []
        if cls.tmp:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            cls.tmp = None

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.stop_peers()

    # ------------------------------------------------------------------ helpers
    def smtp(self, port="smtp", source="127.0.0.1"):
        s = smtplib.SMTP("127.0.0.1", self.port(port), local_hostname="client.test", timeout=60,
                         source_address=(source, 0))
        code, resp = s.ehlo()
        self.assertEqual(code, 250, resp)
        return s

    def smtp_raw(self, source="127.0.0.1", preamble=b""):
        """A raw socket to kite-mta; `preamble` (a PROXY header) is sent before the greeting is read."""
        sock = socket.create_connection(("127.0.0.1", self.port("smtp")), timeout=60, source_address=(source, 0))
        if preamble:
            sock.sendall(preamble)
        f = sock.makefile("rb")

        def reply():
            lines = []
            while True:
                line = f.readline()
                if not line:
                    return b"".join(lines) or b"<closed>"
                lines.append(line)
                if len(line) < 4 or line[3:4] != b"-":
                    return b"".join(lines)

        def cmd(line):
            try:
                sock.sendall(line.encode() + b"\r\n")
            except OSError:
                return b"<closed>"
            return reply()
        return sock, reply, cmd

    @staticmethod
    def imap_try(fn, *args):
        """An imaplib command; a BAD answer (imaplib raises) counts as ("BAD", [text])."""
        try:
            return fn(*args)
        except imaplib.IMAP4.error as e:
            return "BAD", [str(e).encode()]

    def imap_login(self, user, password=PASSWORD):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=60)
        typ, data = m.login(user, password)
        self.assertEqual(typ, "OK", data)
        return m

    def deliver(self, to, body, sender="sender@client.test"):
        s = self.smtp()
        try:
            s.sendmail(sender, [to], body)
        finally:
            s.quit()

    def message(self, to, subject, marker, sender="sender@client.test", extra=""):
        return crlf(f"From: <{sender}>\nTo: <{to}>\nSubject: {subject}\nMessage-ID: <{uuid.uuid4().hex}@client.test>\n"
                    f"Date: Mon, 02 Jan 2006 15:04:05 +0000\n{extra}\n{marker}\n").encode()

    def wait_inbox(self, user, marker, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            m = self.imap_login(user)
            try:
                typ, data = m.select("INBOX", readonly=True)
                if int(data[0]) > 0:
                    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
                    for item in data:
                        if isinstance(item, tuple) and marker.encode() in item[1]:
                            return item[1]
            finally:
                m.logout()
            self.assertLess(time.monotonic(), deadline, f"{marker} not in {user}'s INBOX after {timeout} s")
            time.sleep(0.5)

    def http(self, method, path, body=None, headers=None, user=ALICE, password=PASSWORD, tls=False,
             source="127.0.0.1"):
        if tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port("https"), timeout=60, context=insecure_context(),
                                               source_address=(source, 0))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port("http"), timeout=60, source_address=(source, 0))
        h = dict(headers or {})
        if user is not None:
            h["Authorization"] = "Basic " + b64(f"{user}:{password}")
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    def home(self, user):
        return f"/dav/calendars/{user}/"

    def metric(self, daemon, pattern):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port(daemon + '_metrics')}/metrics", timeout=30) as r:
            text = r.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if re.match(pattern, line))

    def assert_no_markers(self, blob, what):
        text = blob.decode(errors="replace") if isinstance(blob, bytes) else blob
        for marker in MARKERS:
            self.assertNotIn(marker.lower(), text.lower(), f"{what} leaks {marker}: {text[:2000]}")

    def sink_messages(self):
        out = []
        for root, _, files in os.walk(self.sink_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    out.append(f.read())
        return out

    def wait_sink(self, needle, timeout=120):
        """The message caught at the outside MX that contains `needle` (raw or in a part)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for raw in self.sink_messages():
                if needle.encode() in raw:
                    return raw
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                for part in msg.walk():
                    if part.get_content_maintype() == "text" and needle in part.get_content():
                        return raw
            time.sleep(0.5)
        self.fail(f"no mail with {needle} reached the outside MX within {timeout} s")

    def assert_no_injected_header(self, raw, what):
        names = header_names(raw)
        for bad in INJECTED:
            self.assertNotIn(bad, names, f"{what}: injected {bad} header in\n{raw[:3000]!r}")
        # Every header line is a field or a continuation; no line looks like an injected field.
        self.assertNotRegex(header_block(raw), rb"(?im)^(bcc|x-injected|cc|reply-to)\s*:", what)
        # The parsed header does not have them either (and From/To/Subject are single).
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        for name in ("From", "To", "Subject"):
            self.assertEqual(len(msg.get_all(name) or []), 1, f"{what}: {name} count in\n{raw[:3000]!r}")
        return msg

    # ------------------------------------------------------------------ a) no open relay
    @record_failure
    def test_a_no_open_relay(self):
        remote = "user@remote.test"
        probes = [
            f"<{remote}>",
            "<@example.test:user@remote.test>",
            "<@a.test,@b.test:user@remote.test>",
            "<user%remote.test@example.test>",
            "<user@remote.test@example.test>",
            "<remote.test!user@example.test>",
            '<"user@remote.test"@example.test>',
            '<"user%remote.test"@example.test>',
            "<user%remote.test>",
            '<"user@remote.test">',
            "<user@remote.test.>",
            "<USER@REMOTE.TEST>",
            "<user@[192.0.2.1]>",
            "<user@[IPv6:2001:db8::1]>",
            "<user@remote.test> NOTIFY=NEVER",
            "<user@example.test@remote.test>",
        ]

        def refused(cmd, probe):
            r = cmd(f"RCPT TO:{probe}")
            self.assertFalse(r.startswith(b"2"), f"RCPT TO:{probe} accepted: {r!r}")
            return r

        # Directly from loopback (kite-mta is not "trusted" for relaying by address at all).
        sock, reply, cmd = self.smtp_raw()
        try:
            self.assertTrue(reply().startswith(b"220"))
            ehlo = cmd("EHLO client.test")
            self.assertTrue(ehlo.startswith(b"250"), ehlo)
            self.assertNotIn(b"AUTH", ehlo)
            self.assertTrue(cmd("MAIL FROM:<sender@client.test>").startswith(b"250"))
            r = refused(cmd, f"<{remote}>")
            self.assertTrue(r.startswith(b"554 5.7.1"), r)
            for probe in probes:
                r = refused(cmd, probe)
                # Either relay denied (5.7.1) or not a deliverable local address / bad syntax.
                self.assertRegex(r, rb"^(554 5\.7\.1|550 5\.1\.1|501 5\.1\.3|553 5\.1\.3|501|553|550)", probe)
            # DATA with no accepted recipient goes nowhere.
            self.assertFalse(cmd("DATA").startswith(b"354"))
        finally:
            sock.close()
        # The same as an SMTP client sees it (smtplib), with a message.
        s = self.smtp()
        try:
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as e:
                s.sendmail("sender@client.test", [remote], self.message(remote, "relay?", "relay-probe"))
            code, resp = e.exception.recipients[remote]
            self.assertEqual(code, 554, resp)
            self.assertIn(b"5.7.1", resp)
        finally:
            s.quit()
        # swaks too.
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{self.port('smtp')}", "--helo", "client.test",
                            "--from", "sender@client.test", "--to", remote, "--timeout", "30"],
                           capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"<\*\* +554 5\.7\.1")

        # PROXY headers from a source that is not the trusted proxy: never honoured (the
        # header is just a bad command), and the session is no more privileged for it.
        v1 = b"PROXY TCP4 127.0.0.1 127.0.0.1 40000 25\r\n"
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + (12).to_bytes(2, "big")
              + socket.inet_aton("127.0.0.1") + socket.inet_aton("127.0.0.1")
              + (40000).to_bytes(2, "big") + (25).to_bytes(2, "big"))
        for header in (v1, v2):
            sock, reply, cmd = self.smtp_raw(source="127.0.0.1", preamble=header)
            try:
                greeting = reply()
                self.assertTrue(greeting.startswith(b"220"), greeting)
                # Whatever the server made of the header bytes, they were no PROXY header
                # (errors, or a QUIT hidden in the v2 signature); skip those answers up to
                # the one for our NOOP, then go on.
                r = cmd("NOOP")
                while not r.startswith((b"250", b"<closed>", b"221")):
                    r = reply()
                r = cmd("EHLO client.test")
                if r.startswith(b"250"):
                    self.assertNotIn(b"AUTH", r)
                    self.assertTrue(cmd("MAIL FROM:<sender@client.test>").startswith(b"250"))
                    for probe in (f"<{remote}>", "<@example.test:user@remote.test>"):
                        refused(cmd, probe)
            finally:
                sock.close()
        # From the trusted proxy, claiming a loopback client: the claim is believed, and a
        # loopback client is still no relay client.
        for header in (v1, v2):
            sock, reply, cmd = self.smtp_raw(source=PROXY_SOURCE, preamble=header)
            try:
                self.assertTrue(reply().startswith(b"220"))
                r = cmd("EHLO client.test")
                self.assertTrue(r.startswith(b"250"), r)
                self.assertNotIn(b"AUTH", r)
                self.assertTrue(cmd("MAIL FROM:<sender@client.test>").startswith(b"250"))
                for probe in (f"<{remote}>", "<@example.test:user@remote.test>", "<user%remote.test@example.test>"):
                    refused(cmd, probe)
            finally:
                sock.close()

        # Unauthenticated submission: no transaction at all, with or without TLS.
        for tls in (False, True):
            s = self.smtp("sub_starttls")
            try:
                if tls:
                    s.starttls(context=insecure_context())
                    s.ehlo()
                code, resp = s.mail("sender@client.test")
                self.assertEqual(code, 530, resp)
                code, resp = s.rcpt(remote)
                self.assertGreaterEqual(code, 500, resp)
            finally:
                s.quit()
        # Nothing of it reached the spool.
        rows = psql(self, "SELECT recipient, kind, state FROM spool_recipients "
                          "WHERE recipient ILIKE '%remote.test%' OR recipient ILIKE '%@a.test%' "
                          "OR recipient ILIKE '%@b.test%' OR (kind = 'remote' AND recipient NOT ILIKE '%@other.test')")
        self.assertEqual(rows, [])
        queue = self.ok("queue", "stats").stdout
        self.assertNotRegex(queue, r"remote/(queued|deferred)\s+[1-9]", queue)

    # ------------------------------------------------------------------ b) no AUTH before TLS
    @record_failure
    def test_b_no_auth_before_tls(self):
        plain_ir = b64(f"\0{ALICE}\0{PASSWORD}")
        # Submission 587: not offered, refused, offered after STARTTLS.
        s = self.smtp("sub_starttls")
        try:
            self.assertIn("starttls", s.esmtp_features)
            self.assertNotIn("auth", s.esmtp_features)
            for args in (f"PLAIN {plain_ir}", "LOGIN", "SCRAM-SHA-256 " + b64(f"n,,n={ALICE},r=abcdefgh")):
                code, resp = s.docmd("AUTH", args)
                self.assertIn(code, (530, 538), (args, resp))
                self.assertRegex(resp, rb"5\.7\.(0|11)")
            s.starttls(context=insecure_context())
            s.ehlo()
            self.assertIn("auth", s.esmtp_features)
            code, resp = s.login(ALICE, PASSWORD)
            self.assertEqual(code, 235, resp)
        finally:
            s.quit()
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{self.port('sub_starttls')}", "--helo", "client.test",
                            "--auth", "PLAIN", "--auth-user", ALICE, "--auth-password", PASSWORD,
                            "--from", ALICE, "--to", ALICE, "--timeout", "30"], capture_output=True, text=True,
                           timeout=120)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertNotRegex(r.stdout, r"<~?\s+250[- ]AUTH")
        # kite-mta: no AUTH, plain or after STARTTLS.
        s = self.smtp("smtp")
        try:
            self.assertNotIn("auth", s.esmtp_features)
            code, resp = s.docmd("AUTH", f"PLAIN {plain_ir}")
            self.assertGreaterEqual(code, 500, resp)
            if "starttls" in s.esmtp_features:
                s.starttls(context=insecure_context())
                s.ehlo()
                self.assertNotIn("auth", s.esmtp_features)
                code, resp = s.docmd("AUTH", f"PLAIN {plain_ir}")
                self.assertGreaterEqual(code, 500, resp)
        finally:
            s.quit()
        # IMAP 143.
        c = Lines(self.port("imap_starttls"))
        try:
            greeting = c.line()
            self.assertIn(b"LOGINDISABLED", greeting)
            self.assertNotIn(b"AUTH=", greeting)
            lines, tagged = c.imap("a1", "CAPABILITY")
            caps = b"".join(lines)
            self.assertIn(b"LOGINDISABLED", caps)
            self.assertIn(b"STARTTLS", caps)
            self.assertNotIn(b"AUTH=", caps)
            _, tagged = c.imap("a2", f'LOGIN "{ALICE}" "{PASSWORD}"')
            self.assertRegex(tagged, rb"^a2 (NO|BAD)")
            _, tagged = c.imap("a3", f"AUTHENTICATE PLAIN {plain_ir}")
            self.assertRegex(tagged, rb"^a3 (NO|BAD)")
            c.send("a4 AUTHENTICATE PLAIN\r\n")
            answer = c.line()
            self.assertFalse(answer.startswith(b"+"), answer)
            _, tagged = c.imap("a5", "SELECT INBOX")
            self.assertRegex(tagged, rb"^a5 (NO|BAD)")
        finally:
            c.close()
        m = imaplib.IMAP4("127.0.0.1", self.port("imap_starttls"), timeout=60)
        try:
            with self.assertRaises(imaplib.IMAP4.error):
                m.login(ALICE, PASSWORD)
        finally:
            m.shutdown()
        m = imaplib.IMAP4("127.0.0.1", self.port("imap_starttls"), timeout=60)
        try:
            m.starttls(ssl_context=insecure_context())
            self.assertIn("AUTH=PLAIN", m.capabilities)
            self.assertEqual(m.login(ALICE, PASSWORD)[0], "OK")
        finally:
            m.logout()
        # POP3 110.
        p = poplib.POP3("127.0.0.1", self.port("pop3"), timeout=60)
        try:
            caps = p.capa()
            self.assertIn("STLS", caps)
            self.assertNotIn("USER", caps)
            self.assertNotIn("SASL", caps)
            for send in (lambda: p.user(ALICE), lambda: p.pass_(PASSWORD),
                         lambda: p._shortcmd(f"AUTH PLAIN {plain_ir}"), lambda: p._shortcmd("APOP alice 0123"),
                         lambda: p.stat()):
                with self.assertRaises(poplib.error_proto):
                    send()
            p.stls(context=insecure_context())
            self.assertIn("USER", p.capa())
            p.user(ALICE)
            p.pass_(PASSWORD)
            p.stat()
        finally:
            p.quit()
        # ManageSieve 4190.
        c = Lines(self.port("managesieve"))
        try:
            lines, status = c.sieve_response()
            self.assertTrue(status.startswith(b"OK"), status)
            self.assertIn(b'"SASL" ""\r\n', lines)
            self.assertIn(b'"STARTTLS"\r\n', lines)
            _, status = c.sieve(f'AUTHENTICATE "PLAIN" "{plain_ir}"')
            self.assertTrue(status.startswith(b"NO"), status)
            _, status = c.sieve("LISTSCRIPTS")
            self.assertTrue(status.startswith(b"NO"), status)
        finally:
            c.close()
        # CalDAV: the launcher allows Basic over plain HTTP from loopback only
        # (caldav.allow_plaintext_loopback: true). With it off, as in production, a password
        # over plain HTTP is refused before kite-auth is asked.
        before = self.metric("auth", r'kite_auth_attempts_total\{.*service="caldav"')
        self.restart_caldav(allow_plaintext_loopback=False)
        try:
            status, body = self.http("PROPFIND", self.home(ALICE), headers={"Depth": "0"})
            self.assertEqual(status, 403, body)
            self.assertIn(b"HTTPS required", body)
            status, body = self.http("GET", self.home(ALICE), user=ALICE, password="wrong-password")
            self.assertEqual(status, 403, body)
            self.assertEqual(self.metric("auth", r'kite_auth_attempts_total\{.*service="caldav"'), before)
            status, body = self.http("PROPFIND", self.home(ALICE), headers={"Depth": "0"}, tls=True)
            self.assertEqual(status, 207, body)
        finally:
            self.restart_caldav(allow_plaintext_loopback=None)

    def restart_caldav(self, allow_plaintext_loopback):
        cls = type(self)
        self.kite_local("kill-daemon", "caldav")
        env = cls.env
        try:
            if allow_plaintext_loopback is not None:
                cls.env = dict(env, KITE_CALDAV_ALLOW_PLAINTEXT_LOOPBACK=str(allow_plaintext_loopback).lower())
            self.kite_local("start-daemon", "caldav")
        finally:
            cls.env = env
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = self.http("OPTIONS", "/dav/", user=None)
                if status < 500:
                    return
            except OSError:
                pass
            self.assertLess(time.monotonic(), deadline, "kite-caldav did not come back")
            time.sleep(0.3)

    # ------------------------------------------------------------------ c) throttling
    def throttle_check(self, name, attempt):
        """attempt(password) -> "ok" | "invalid" | "throttled"; 3 wrong, then throttled, then
        the right password is throttled too."""
        self.assertEqual(attempt(PASSWORD), "ok", f"{name}: the right password before any failure")
        for i in range(MAX_FAILURES):
            self.assertEqual(attempt(f"wrong-{i}"), "invalid", f"{name}: failure {i + 1}")
        self.assertEqual(attempt("wrong-again"), "throttled", f"{name}: after {MAX_FAILURES} failures")
        self.assertEqual(attempt(PASSWORD), "throttled", f"{name}: the right password while locked out")

    @record_failure
    def test_c_login_throttling(self):
        locks_before = self.metric("auth", r"kite_auth_lockouts_total")

        def smtp_attempt(password):
            s = self.smtp("sub_starttls", source=THROTTLE_SOURCE["smtp"])
            try:
                s.starttls(context=insecure_context())
                s.ehlo()
                code, resp = s.docmd("AUTH", "PLAIN " + b64(f"\0{THROTTLED['smtp']}\0{password}"))
                return {235: "ok", 535: "invalid", 454: "throttled"}.get(code, f"{code} {resp}")
            finally:
                s.close()

        def imap_attempt(password):
            c = Lines(self.port("imap_tls"), tls=True, source=THROTTLE_SOURCE["imap"])
            try:
                c.line()
                _, tagged = c.imap("t1", f'LOGIN "{THROTTLED["imap"]}" "{password}"')
                if tagged.startswith(b"t1 OK"):
                    return "ok"
                if b"[AUTHENTICATIONFAILED]" in tagged:
                    return "invalid"
                if b"[UNAVAILABLE]" in tagged and b"Too many" in tagged:
                    return "throttled"
                return tagged.decode(errors="replace")
            finally:
                c.close()

        def pop3_attempt(password):
            c = Lines(self.port("pop3_tls"), tls=True, source=THROTTLE_SOURCE["pop3"])
            try:
                c.line()
                self.assertTrue(c.cmd(f"USER {THROTTLED['pop3']}").startswith(b"+OK"))
                reply = c.cmd(f"PASS {password}")
                if reply.startswith(b"+OK"):
                    return "ok"
                if reply.startswith(b"-ERR [AUTH]"):
                    return "invalid"
                if reply.startswith(b"-ERR [SYS/TEMP] Too many"):
                    return "throttled"
                return reply.decode(errors="replace")
            finally:
                c.close()

        def caldav_attempt(password):
            status, body = self.http("PROPFIND", self.home(THROTTLED["caldav"]), headers={"Depth": "0"},
                                     user=THROTTLED["caldav"], password=password, source=THROTTLE_SOURCE["caldav"])
            if status == 207:
                return "ok"
            if status == 401:
                return "invalid"
            if status == 503 and b"Too many" in body:
                return "throttled"
            return f"{status} {body!r}"

        def sieve_attempt(password):
            c = Lines(self.port("managesieve"), source=THROTTLE_SOURCE["sieve"])
            try:
                c.sieve_response()
                _, status = c.sieve("STARTTLS")
                self.assertTrue(status.startswith(b"OK"), status)
                c.starttls()
                c.sieve_response()
                _, status = c.sieve(f'AUTHENTICATE "PLAIN" "{b64(chr(0) + THROTTLED["sieve"] + chr(0) + password)}"')
                if status.startswith(b"OK"):
                    return "ok"
                if b"TRYLATER" in status:
                    return "throttled"
                if status.startswith(b"NO"):
                    return "invalid"
                return status.decode(errors="replace")
            finally:
                c.close()

        for name, attempt in (("submission AUTH PLAIN", smtp_attempt), ("IMAP LOGIN", imap_attempt),
                              ("POP3 USER/PASS", pop3_attempt), ("CalDAV Basic", caldav_attempt),
                              ("ManageSieve AUTHENTICATE", sieve_attempt)):
            with self.subTest(name):
                self.throttle_check(name, attempt)
        self.assertGreaterEqual(self.metric("auth", r"kite_auth_lockouts_total") - locks_before, 5)
        # A locked-out account is locked from everywhere, not just the address that failed:
        # its right password from 127.0.0.1 is refused too (IMAP).
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=60)
        try:
            with self.assertRaises(imaplib.IMAP4.error) as e:
                m.login(THROTTLED["imap"], PASSWORD)
            self.assertIn("Too many", str(e.exception))
        finally:
            m.shutdown()
        # Other accounts from other addresses are not affected.
        self.imap_login(ALICE).logout()

    # ------------------------------------------------------------------ d) other users' data
    def prepare_bob(self):
        """bob's mail (INBOX + Secret folder), calendar event, Sieve script (once)."""
        if getattr(type(self), "bob_ready", False):
            return
        marker = f"BOB-MAIL-{uuid.uuid4().hex}"
        self.deliver(BOB, self.message(BOB, "for bob only", marker))
        self.wait_inbox(BOB, marker)
        m = self.imap_login(BOB)
        try:
            self.assertEqual(m.create("Secret")[0], "OK")
            typ, data = m.append("Secret", None, None, self.message(BOB, "bob secret", marker + "-secret"))
            self.assertEqual(typ, "OK", data)
        finally:
            m.logout()
        status, body = self.http("PROPFIND", self.home(BOB), headers={"Depth": "1"}, user=BOB)
        self.assertEqual(status, 207, body)
        status, body = self.http("PUT", self.home(BOB) + "calendar/secret.ics", secret_event("bob-secret@example.test"),
                                 {"Content-Type": "text/calendar; charset=utf-8"}, user=BOB)
        self.assertEqual(status, 201, body)
        c = Lines(self.port("managesieve"))
        try:
            c.sieve_response()
            c.sieve("STARTTLS")
            c.starttls()
            c.sieve_response()
            _, status = c.sieve(f'AUTHENTICATE "PLAIN" "{b64(chr(0) + BOB + chr(0) + PASSWORD)}"')
            self.assertTrue(status.startswith(b"OK"), status)
            _, status = c.sieve('PUTSCRIPT "bob-private" "keep;"')
            self.assertTrue(status.startswith(b"OK"), status)
        finally:
            c.close()
        type(self).bob_marker = marker
        type(self).bob_ready = True

    @record_failure
    def test_d_other_users_data_refused(self):
        self.prepare_bob()
        marker = type(self).bob_marker
        # ---- IMAP
        m = self.imap_login(ALICE)
        try:
            own_uid = m.append("INBOX", None, None, self.message(ALICE, "alice's", "ALICE-OWN"))
            self.assertEqual(own_uid[0], "OK")
            for box in (f"Shared/{BOB}/INBOX", f"Shared/{BOB}/Secret", f"Shared/{BOB}", f"../{BOB}/INBOX",
                        f"{BOB}/INBOX", "Shared/example.test/INBOX", f'"Other Users/{BOB}/INBOX"',
                        f"SHARED/{BOB.upper()}/INBOX", f"Shared/{BOB}/./INBOX", f"Shared/{BOB}//INBOX"):
                t = self.imap_try
                for typ, data in (t(m.select, box), t(m.select, box, True), t(m.status, box, "(MESSAGES UIDNEXT)"),
                                  t(m.append, box, None, None, self.message(BOB, "planted", "PLANTED")),
                                  t(m.getacl, box), t(m.setacl, box, ALICE, "lrswipkxtea"), t(m.myrights, box),
                                  t(m.delete, box), t(m.rename, box, "Stolen"), t(m.getquotaroot, box)):
                    self.assertIn(typ, ("NO", "BAD"), (box, typ, data))
                    self.assert_no_markers(b"".join(x if isinstance(x, bytes) else b"" for x in data), box)
            # Own mailbox: ACL changes for others are refused; rights are the owner's only.
            self.assertEqual(m.setacl("INBOX", BOB, "lr")[0], "NO")
            m.select("INBOX")
            for target in (f"Shared/{BOB}/INBOX", f"Shared/{BOB}/Secret"):
                for typ, data in (self.imap_try(m.copy, "1:*", target),
                                  self.imap_try(m._simple_command, "MOVE", "1:*", target),
                                  self.imap_try(m.uid, "COPY", "1:*", target)):
                    self.assertIn(typ, ("NO", "BAD"), (target, data))
            typ, data = m.list('""', "*")
            self.assertEqual(typ, "OK")
            self.assertFalse([x for x in data if x and BOB.encode() in x], data)
            typ, data = m.list('""', "Shared/*")
            self.assertFalse([x for x in data if x and BOB.encode() in x], data)
        finally:
            m.logout()
        m = self.imap_login(BOB)
        try:
            typ, data = m.select("INBOX", readonly=True)
            self.assertEqual(typ, "OK")
            typ, data = m.fetch("1:*", "(BODY.PEEK[])")
            blob = b"".join(x[1] for x in data if isinstance(x, tuple))
            self.assertIn(marker.encode(), blob)
            self.assertNotIn(b"PLANTED", blob)
            self.assertNotIn(b"ALICE-OWN", blob)
            typ, data = m.status("Secret", "(MESSAGES)")
            self.assertIn(b"MESSAGES 1", data[0])
            typ, data = m.getacl("INBOX")
            self.assertNotIn(ALICE.encode(), data[0])
        finally:
            m.logout()
        # ---- SASL authorization identities: alice's password never opens bob's data.
        as_bob = b64(f"{BOB}\0{ALICE}\0{PASSWORD}")
        c = Lines(self.port("imap_tls"), tls=True)
        try:
            c.line()
            _, tagged = c.imap("z1", f"AUTHENTICATE PLAIN {as_bob}")
            self.assertTrue(tagged.startswith(b"z1 NO"), tagged)
        finally:
            c.close()
        s = self.smtp("sub_starttls")
        try:
            s.starttls(context=insecure_context())
            s.ehlo()
            code, resp = s.docmd("AUTH", f"PLAIN {as_bob}")
            self.assertEqual(code, 535, resp)
        finally:
            s.quit()
        c = Lines(self.port("pop3_tls"), tls=True)
        try:
            c.line()
            self.assertTrue(c.cmd(f"AUTH PLAIN {as_bob}").startswith(b"-ERR"))
            self.assertTrue(c.cmd(f"USER {BOB}").startswith(b"+OK"))
            self.assertTrue(c.cmd(f"PASS {PASSWORD}x").startswith(b"-ERR"))
        finally:
            c.close()
        # ---- POP3: alice's maildrop is alice's only.
        p = poplib.POP3_SSL("127.0.0.1", self.port("pop3_tls"), context=insecure_context(), timeout=60)
        try:
            p.user(ALICE)
            p.pass_(PASSWORD)
            count, _ = p.stat()
            for i in range(1, count + 1):
                _, lines, _ = p.retr(i)
                self.assertNotIn(marker.encode(), b"\n".join(lines))
            _, listing, _ = p.uidl()
            for probe in (f"RETR {count + 1}", "RETR 0", "RETR -1", f"TOP {count + 1} 0", "RETR 4294967297",
                          f"DELE {count + 1}"):
                with self.assertRaises(poplib.error_proto, msg=probe):
                    p._shortcmd(probe) if not probe.startswith(("RETR", "TOP")) else p._longcmd(probe)
        finally:
            p.quit()
        # ---- CalDAV
        obj = self.home(BOB) + "calendar/secret.ics"
        cal = self.home(BOB) + "calendar/"
        xml = {"Content-Type": "application/xml; charset=utf-8"}
        propfind = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                    "<D:prop><D:getetag/><C:calendar-data/><D:displayname/></D:prop></D:propfind>")
        query = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                 "<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"/>"
                 "</C:filter></C:calendar-query>")
        multiget = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                    f"<D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{obj}</D:href>"
                    f"<D:href>{self.home(BOB)}calendar/../calendar/secret.ics</D:href>"
                    f"<D:href>/dav/calendars/{BOB.upper()}/calendar/secret.ics</D:href>"
                    "</C:calendar-multiget>")
        sync = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                "<D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:calendar-data/></D:prop>"
                "</D:sync-collection>")
        proppatch = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
                     "<D:displayname>owned</D:displayname></D:prop></D:set></D:propertyupdate>")
        own_cal = self.home(ALICE) + "calendar/"
        self.assertEqual(self.http("PROPFIND", self.home(ALICE), headers={"Depth": "1"})[0], 207)
        own_obj = own_cal + "own.ics"
        status, data = self.http("PUT", own_obj, secret_event("alice-own@example.test").replace(MARKERS[0], "ALICE-OWN"),
                                 {"Content-Type": "text/calendar"})
        self.assertEqual(status, 201, data)
        requests_ = [
            ("GET", obj, None, {}), ("HEAD", obj, None, {}),
            ("PUT", obj, secret_event("bob-secret@example.test").replace(MARKERS[0], "OVERWRITTEN"),
             {"Content-Type": "text/calendar"}),
            ("PUT", cal + "planted.ics", secret_event("planted@example.test"), {"Content-Type": "text/calendar"}),
            ("DELETE", obj, None, {}), ("DELETE", cal, None, {}),
            ("PROPFIND", obj, propfind, dict(xml, Depth="0")), ("PROPFIND", cal, propfind, dict(xml, Depth="1")),
            ("PROPFIND", self.home(BOB), propfind, dict(xml, Depth="1")),
            ("PROPPATCH", cal, proppatch, xml),
            ("REPORT", cal, query, dict(xml, Depth="1")), ("REPORT", cal, multiget, dict(xml, Depth="1")),
            ("REPORT", cal, sync, dict(xml, Depth="1")),
            ("MKCALENDAR", self.home(BOB) + "planted/", None, {}),
            ("MKCOL", self.home(BOB) + "planted2/", None, {}),
            ("COPY", obj, None, {"Destination": f"http://127.0.0.1{own_cal}stolen.ics"}),
            ("MOVE", obj, None, {"Destination": f"http://127.0.0.1{own_cal}stolen.ics"}),
            ("COPY", own_cal, None, {"Destination": f"http://127.0.0.1{cal}planted3.ics"}),
            ("COPY", own_obj, None, {"Destination": f"http://127.0.0.1{cal}planted4.ics"}),
            ("MOVE", own_obj, None, {"Destination": f"http://127.0.0.1{cal}planted5.ics"}),
            ("COPY", own_obj, None, {"Destination": f"http://127.0.0.1{cal}secret.ics", "Overwrite": "T"}),
            ("POST", self.home(BOB) + "outbox/", secret_event("x@example.test"), {"Content-Type": "text/calendar"}),
            ("GET", self.home(BOB) + "inbox/", None, {}),
            # Other spellings of the same object: case, escapes, dot segments through the
            # own home, doubled slashes.
            ("GET", f"/dav/calendars/{BOB.upper()}/calendar/secret.ics", None, {}),
            ("GET", "/dav/calendars/%62ob%40example.test/calendar/secret.ics", None, {}),
            ("GET", f"{self.home(ALICE)}../{BOB}/calendar/secret.ics", None, {}),
            ("GET", f"{self.home(ALICE)}%2e%2e/{BOB}/calendar/secret.ics", None, {}),
            ("GET", f"{own_cal}..%2f..%2f{BOB}%2fcalendar%2fsecret.ics", None, {}),
            ("GET", f"/dav/calendars//{BOB}//calendar//secret.ics", None, {}),
            ("PROPFIND", f"{self.home(ALICE)}../{BOB}/calendar/", propfind, dict(xml, Depth="1")),
            ("PROPFIND", self.home(BOB) + "inbox/", propfind, dict(xml, Depth="1")),
        ]
        for method, path, body, headers in requests_:
            status, data = self.http(method, path, body, headers)
            allowed = (403, 404) if method in ("GET", "HEAD", "PUT", "DELETE", "PROPFIND", "REPORT") else (403, 404, 405)
            self.assertIn(status, allowed, (method, path, status, data[:500]))
            self.assert_no_markers(data, f"{method} {path}")
        # A multiget on alice's own calendar naming bob's objects.
        status, data = self.http("REPORT", own_cal, multiget, dict(xml, Depth="1"))
        self.assertIn(status, (207, 403), data)
        self.assert_no_markers(data, "multiget on the own calendar with the other user's hrefs")
        if status == 207:
            self.assertNotRegex(data, rb"<[^>]*status>HTTP/1\.1 200", data)
        # python3-caldav sees no calendar of bob's.
        client = caldav.DAVClient(f"http://127.0.0.1:{self.port('http')}/dav/", username=ALICE, password=PASSWORD,
                                  timeout=60)
        try:
            with self.assertRaises(caldav.lib.error.DAVError):
                caldav.Calendar(client=client, url=f"http://127.0.0.1:{self.port('http')}{cal}").events()
            names = [c.url.path for c in client.principal().calendars()]
            self.assertFalse([n for n in names if BOB in n], names)
        finally:
            client.session.close()
        # bob's calendar is untouched.
        status, data = self.http("GET", obj, user=BOB)
        self.assertEqual(status, 200)
        self.assertIn(MARKERS[0].encode(), data)
        self.assertNotIn(b"OVERWRITTEN", data)
        for name in ("planted.ics", "planted3.ics", "planted4.ics", "planted5.ics"):
            self.assertEqual(self.http("GET", cal + name, user=BOB)[0], 404, name)
        self.assertEqual(self.http("GET", own_obj)[0], 200)
        # ---- ManageSieve: scripts are per account.
        c = Lines(self.port("managesieve"))
        try:
            c.sieve_response()
            c.sieve("STARTTLS")
            c.starttls()
            c.sieve_response()
            _, status = c.sieve(f'AUTHENTICATE "PLAIN" "{as_bob}"')
            self.assertTrue(status.startswith(b"NO"), status)
            _, status = c.sieve(f'AUTHENTICATE "PLAIN" "{b64(chr(0) + ALICE + chr(0) + PASSWORD)}"')
            self.assertTrue(status.startswith(b"OK"), status)
            lines, _ = c.sieve("LISTSCRIPTS")
            self.assertNotIn(b"bob-private", b"".join(lines))
            for command in ('GETSCRIPT "bob-private"', 'DELETESCRIPT "bob-private"', 'SETACTIVE "bob-private"',
                            'RENAMESCRIPT "bob-private" "mine"', f'GETSCRIPT "{BOB}/bob-private"',
                            f'GETSCRIPT "../{BOB}/bob-private"'):
                _, status = c.sieve(command)
                self.assertTrue(status.startswith(b"NO"), (command, status))
        finally:
            c.close()
        self.assertIn("bob-private", self.ok("sieve", "list", BOB).stdout)

    # ------------------------------------------------------------------ e) free/busy
    @record_failure
    def test_e_free_busy_never_leaks_details(self):
        self.prepare_bob()
        cal = self.home(BOB) + "calendar/"
        xml = {"Content-Type": "application/xml; charset=utf-8"}
        fbq = ('<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
               '<C:time-range start="20270101T000000Z" end="20270201T000000Z"/></C:free-busy-query>')
        # Without any share: refused, no detail.
        status, data = self.http("REPORT", cal, fbq, dict(xml, Depth="1"))
        self.assertEqual(status, 403, data)
        self.assert_no_markers(data, "free-busy-query without a share")
        # With a freebusy share: periods only.
        self.ok("calendar", "share", BOB, "calendar", ALICE, "freebusy")
        status, data = self.http("REPORT", cal, fbq, dict(xml, Depth="1"))
        self.assertEqual(status, 200, data)
        self.assertIn(b"BEGIN:VFREEBUSY", data)
        self.assertIn(b"FREEBUSY", data.replace(b"BEGIN:VFREEBUSY", b"").replace(b"END:VFREEBUSY", b""))
        self.assertIn(b"20270112T100000Z", data)
        self.assert_no_markers(data, "free-busy-query")
        for prop in (b"SUMMARY", b"LOCATION", b"DESCRIPTION", b"ATTENDEE", b"UID:bob-secret"):
            self.assertNotIn(prop, data)
        # The freebusy grantee reads nothing else.
        propfind = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                    "<D:prop><D:getetag/><C:calendar-data/></D:prop></D:propfind>")
        query = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                 "<D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"/></C:filter>"
                 "</C:calendar-query>")
        multiget = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                    f"<D:prop><C:calendar-data/></D:prop><D:href>{cal}secret.ics</D:href></C:calendar-multiget>")
        for method, path, body, headers in (("GET", cal + "secret.ics", None, {}),
                                            ("PROPFIND", cal, propfind, dict(xml, Depth="1")),
                                            ("PROPFIND", cal + "secret.ics", propfind, dict(xml, Depth="0")),
                                            ("REPORT", cal, query, dict(xml, Depth="1")),
                                            ("REPORT", cal, multiget, dict(xml, Depth="1"))):
            status, data = self.http(method, path, body, headers)
            self.assertIn(status, (207, 403, 404), (method, path, data))
            self.assert_no_markers(data, f"freebusy grantee {method} {path}")
        self.ok("calendar", "unshare", BOB, "calendar", ALICE)
        # The scheduling outbox (RFC 6638 VFREEBUSY request).
        self.assertEqual(self.http("PROPFIND", self.home(ALICE), headers={"Depth": "1"})[0], 207)
        request = crlf("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Kite security e2e//EN\nMETHOD:REQUEST\n"
                       "BEGIN:VFREEBUSY\nUID:fb-probe@example.test\nDTSTAMP:20261101T090000Z\n"
                       "DTSTART:20270110T000000Z\nDTEND:20270117T000000Z\n"
                       f"ORGANIZER:mailto:{ALICE}\nATTENDEE:mailto:{BOB}\nEND:VFREEBUSY\nEND:VCALENDAR\n")
        status, data = self.http("POST", self.home(ALICE) + "outbox/", request,
                                 {"Content-Type": "text/calendar; charset=utf-8",
                                  "Originator": f"mailto:{ALICE}", "Recipient": f"mailto:{BOB}"})
        self.assertEqual(status, 200, data)
        self.assertIn(b"FREEBUSY", data)
        self.assertIn(b"20270112T100000Z", data)
        self.assert_no_markers(data, "outbox POST")
        # The external URL (no authentication: the token is the key).
        out = self.ok("freebusy", "token", "create", BOB).stdout.strip()
        token = re.search(r"/freebusy/([A-Za-z0-9_-]+)\.ifb", out).group(1)
        status, data = self.http("GET", f"/freebusy/{token}.ifb", user=None)
        self.assertEqual(status, 200, data)
        self.assertIn(b"BEGIN:VFREEBUSY", data)
        self.assert_no_markers(data, "external free/busy URL")
        for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), "../calendars/" + BOB, token + "/../x"):
            status, data = self.http("GET", f"/freebusy/{bad}.ifb", user=None)
            self.assertIn(status, (400, 403, 404), (bad, data))
            self.assert_no_markers(data, "external free/busy URL, bad token")
        self.ok("freebusy", "token", "revoke", BOB)
        self.assertEqual(self.http("GET", f"/freebusy/{token}.ifb", user=None)[0], 404)
        # kite-freebusy over gRPC, as the suite's daemons call it.
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port('freebusy_grpc')}")
        try:
            availability = channel.unary_unary("/kite.freebusy.v1.FreeBusy/Availability",
                                               request_serializer=fbpb.AvailabilityRequest.SerializeToString,
                                               response_deserializer=fbpb.AvailabilityResponse.FromString)
            doc = self.ok("user", "show", ALICE, "--json").json()
            viewer = int(doc.get("id") or doc.get("account", {}).get("id"))
            req = fbpb.AvailabilityRequest(viewer_account_id=viewer, targets=[BOB])
            req.start.seconds = 1799539200  # 2027-01-10
            req.end.seconds = 1799539200 + 7 * 86400
            resp = availability(req, timeout=60)
            self.assertTrue(resp.results[0].visible)
            self.assertTrue(resp.results[0].busy)
            self.assert_no_markers(resp.SerializeToString(), "gRPC Availability")
            self.assert_no_markers(str(resp), "gRPC Availability")
        finally:
            channel.close()
        # kitectl freebusy query.
        out = self.ok("freebusy", "query", "--viewer", ALICE, "--start", "20270110T000000Z", "--end",
                      "20270117T000000Z", BOB, "--json").stdout
        self.assertIn("BUSY", out)
        self.assert_no_markers(out, "kitectl freebusy query")

    # ------------------------------------------------------------------ f) header injection
    def sieve_put(self, user, name, script):
        c = Lines(self.port("managesieve"))
        try:
            c.sieve_response()
            c.sieve("STARTTLS")
            c.starttls()
            c.sieve_response()
            _, status = c.sieve(f'AUTHENTICATE "PLAIN" "{b64(chr(0) + user + chr(0) + PASSWORD)}"')
            self.assertTrue(status.startswith(b"OK"), status)
            data = script.encode()
            c.send(f'PUTSCRIPT "{name}" {{{len(data)}+}}\r\n'.encode() + data + b"\r\n")
            _, status = c.sieve_response()
            if not status.startswith(b"OK"):
                return status
            _, status = c.sieve(f'SETACTIVE "{name}"')
            self.assertTrue(status.startswith(b"OK"), status)
            return None
        finally:
            c.close()

    @record_failure
    def test_f_no_header_injection(self):
        tag = uuid.uuid4().hex[:8]
        # 1. Raw CR/LF in :subject and :from, through ManageSieve.
        raw_script = ('require ["vacation"];\r\n'
                      'vacation :days 1 :subject "Away\r\nBcc: injected@other.test\r\nX-Injected: yes"\r\n'
                      f'  "VAC-RAW-{tag}: I am away.";\r\n')
        refused = self.sieve_put(VAC_RAW, "away", raw_script)
        # 2. An encoded word whose text holds CR/LF, through kitectl.
        ctl_script = ('require ["vacation"];\n'
                      'vacation :days 1 :subject "=?UTF-8?Q?Away=0D=0ABcc:_injected@other.test?= =?UTF-8?B?'
                      + b64("\r\nX-Injected: yes") + '?=" "VAC-CTL-' + tag + ': I am away.";\n')
        self.ok("sieve", "put", VAC_CTL, "away", "-", "--activate", stdin=ctl_script)
        # 3. No :subject: the reply's "Auto: <original subject>", which the sender controls.
        self.ok("sieve", "put", VAC_ORIG, "away", "-", "--activate",
                stdin=f'require ["vacation"];\nvacation :days 1 "VAC-ORIG-{tag}: I am away.";\n')
        for user, subject, sender in (
                (VAC_RAW, "hello", f"raw-{tag}@other.test"),
                (VAC_CTL, "hello", f"ctl-{tag}@other.test"),
                (VAC_ORIG, "=?UTF-8?Q?hi=0D=0ABcc:_injected@other.test=0D=0AX-Injected:_yes?=",
                 f"orig-{tag}@other.test")):
            body = self.message(user, subject, f"to {user}", sender=sender)
            self.deliver(user, body, sender=sender)
        checks = [("ctl", f"VAC-CTL-{tag}"), ("orig", f"VAC-ORIG-{tag}")]
        if refused is None:
            checks.insert(0, ("raw", f"VAC-RAW-{tag}"))
        else:
            print(f"[Security] ManageSieve refused the raw CR/LF vacation script: {refused!r}", file=sys.stderr)
            # Then :from with CR/LF (the sender's own address line) on that account instead.
            from_script = ('require ["vacation"];\n'
                           f'vacation :days 1 :from "{VAC_RAW}\r\nReply-To: injected@other.test"\n'
                           f'  "VAC-FROM-{tag}: I am away.";\n')
            r = self.kitectl("sieve", "put", VAC_RAW, "away-from", "-", "--activate", stdin=from_script)
            if r.returncode == 0:
                sender = f"from-{tag}@other.test"
                self.deliver(VAC_RAW, self.message(VAC_RAW, "hello", f"to {VAC_RAW}", sender=sender), sender=sender)
                checks.insert(0, ("from", f"VAC-FROM-{tag}"))
            else:
                print(f"[Security] kitectl refused a :from with CR/LF: {r.stderr.strip()}", file=sys.stderr)
        for what, needle in checks:
            raw = self.wait_sink(needle)
            msg = self.assert_no_injected_header(raw, f"vacation reply ({what})")
            self.assertIn("auto-replied", str(msg["Auto-Submitted"]))
            self.assertEqual([a.addr_spec for a in msg["To"].addresses], [f"{what}-{tag}@other.test"])
            self.assertEqual(len(msg["From"].addresses), 1)
            print(f"[Security] vacation reply ({what}) header:\n{header_block(raw).decode(errors='replace')}",
                  file=sys.stderr)
        # iMIP: an invitation whose texts carry line breaks and header-looking text.
        uid = f"imip-{tag}"
        carol = f"carol-{tag}@other.test"
        self.assertEqual(self.http("PROPFIND", self.home(OLGA), headers={"Depth": "1"}, user=OLGA)[0], 207)
        ics = crlf("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Kite security e2e//EN\nBEGIN:VEVENT\n"
                   f"UID:{uid}\nDTSTAMP:20261101T090000Z\nDTSTART:20270301T100000Z\nDTEND:20270301T110000Z\n"
                   "SUMMARY:Plan\\nBcc: injected@other.test\\NX-Injected: yes\n"
                   "DESCRIPTION:line one\\nBcc: injected@other.test\n"
                   f'ORGANIZER;CN="Olga^nBcc: injected@other.test^nX-Injected: yes":mailto:{OLGA}\n'
                   f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{OLGA}\n"
                   f'ATTENDEE;CN="Carol^nReply-To: injected@other.test";RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{carol}\n'
                   "END:VEVENT\nEND:VCALENDAR\n")
        status, data = self.http("PUT", self.home(OLGA) + f"calendar/{uid}.ics", ics,
                                 {"Content-Type": "text/calendar; charset=utf-8"}, user=OLGA)
        self.assertIn(status, (201, 204), data)
        raw = self.wait_sink(uid)
        msg = self.assert_no_injected_header(raw, "iMIP invitation")
        print(f"[Security] iMIP header:\n{header_block(raw).decode(errors='replace')}", file=sys.stderr)
        self.assertEqual([a.addr_spec for a in msg["To"].addresses], [carol])
        self.assertEqual([a.addr_spec for a in msg["From"].addresses], [OLGA])
        parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        self.assertEqual(len(parts), 1)
        # Nobody schedules in another user's name: alice's event naming bob as ORGANIZER
        # sends no invitation (iMIP is spooled in the PUT's own transaction, so the spool
        # shows it at once).
        spoofed = f"spoofed-{tag}@other.test"
        spoof = crlf("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Kite security e2e//EN\nBEGIN:VEVENT\n"
                     f"UID:spoof-{tag}\nDTSTAMP:20261101T090000Z\nDTSTART:20270302T100000Z\n"
                     f"DTEND:20270302T110000Z\nSUMMARY:From bob, honestly\nORGANIZER:mailto:{BOB}\n"
                     f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{BOB}\n"
                     f"ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{spoofed}\n"
                     f"ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{OLGA}\nEND:VEVENT\nEND:VCALENDAR\n")
        self.assertEqual(self.http("PROPFIND", self.home(ALICE), headers={"Depth": "1"})[0], 207)
        status, data = self.http("PUT", self.home(ALICE) + f"calendar/spoof-{tag}.ics", spoof,
                                 {"Content-Type": "text/calendar; charset=utf-8"})
        self.assertIn(status, (201, 204, 403), data)
        self.assertEqual(psql(self, "SELECT recipient FROM spool_recipients WHERE recipient = :'v1'", spoofed), [])
        # Nor does it reach the local attendee, nor bob's own calendar.
        rows = psql(self, "SELECT a.address FROM calendar_objects o JOIN accounts a ON a.id = o.account_id "
                          "WHERE o.uid = :'v1'", f"spoof-{tag}")
        self.assertEqual(sorted(r[0] for r in rows), [ALICE] if status in (201, 204) else [], rows)
        self.assertEqual(psql(self, "SELECT recipient FROM spool_recipients WHERE recipient ILIKE '%injected%'"), [])
        self.assertEqual(parts[0].get_param("method"), "REQUEST")


if __name__ == "__main__":
    unittest.main(verbosity=2)

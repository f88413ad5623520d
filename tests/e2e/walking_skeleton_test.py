#!/usr/bin/python3
# ctest-quick: part of `scripts/test --quick` (a fresh machine's first look, scripts/check-fresh)
"""End-to-end walking skeleton: the whole suite started by scripts/kite-local on loopback.

Needs KITE_BIN_DIR (the daemons and kitectl) and optionally KITE_SOURCE_DIR (the repository).
Starts PostgreSQL, Redis and every daemon in a temporary folder with a random port offset,
then checks with real clients (smtplib, imaplib, a raw socket, curl-like HTTP, promtool):
  a) SMTP in -> delivery -> IMAP out, byte for byte; LOGIN refused before STARTTLS
  b) RCPT checks (550 unknown local, 554 relay denied) and bare-LF DATA smuggling
  c) kill -9 of kite-delivery before and during delivery: every message exactly once
  d) every daemon's /metrics passes promtool; kitectl health exits 0
Never uses DNS: every address is 127.0.0.1 and every domain ends in .test or .example.
"""
import imaplib
import os
import re
import socket
import smtplib
import subprocess
import sys
import time
import unittest
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import DAEMONS, SuiteTestCase, insecure_context, record_failure  # noqa: E402

USER = "demo@example.test"
PASSWORD = "demo-password-123"


def make_message(tag):
    msgid = f"<{tag}.{uuid.uuid4().hex}@client.test>"
    body = (
        "From: Sender <sender@client.test>\r\n"
        "To: Demo User <demo@example.test>\r\n"
        f"Subject: e2e {tag}\r\n"
        f"Message-ID: {msgid}\r\n"
        "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"Hello from the walking skeleton ({tag}).\r\n"
        "A line with trailing spaces   \r\n"
        "\r\n"
        "Last line.\r\n"
    ).encode("ascii")
    return msgid, body


class WalkingSkeleton(SuiteTestCase):
    # Fast claiming and reconciling so the kill test does not wait a minute.
    extra_env = {"KITE_DELIVERY_CLAIM_IDLE": "2s", "KITE_DELIVERY_RECONCILE_INTERVAL": "2s"}

    # ------------------------------------------------------------------ helpers
    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=30)
        code, _ = s.ehlo()
        self.assertEqual(code, 250)
        return s

    def send(self, s, body, rcpt=USER):
        code, resp = s.mail("sender@client.test")
        self.assertEqual(code, 250, resp)
        code, resp = s.rcpt(rcpt)
        self.assertEqual(code, 250, resp)
        code, resp = s.data(body)
        self.assertEqual(code, 250, resp)

    def imap(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(),
                              timeout=30)
        typ, _ = m.login(USER, PASSWORD)
        self.assertEqual(typ, "OK")
        typ, data = m.select("INBOX", readonly=True)
        self.assertEqual(typ, "OK", data)
        return m, int(data[0])

    def inbox_message_ids(self):
        """UID -> Message-ID of every message in INBOX (a fresh session each call)."""
        m, exists = self.imap()
        try:
            if exists == 0:
                return {}
            typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            self.assertEqual(typ, "OK", data)
            result = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = re.search(rb"UID (\d+)", item[0])
                mid = re.search(rb"(?im)^Message-ID:\s*(<[^>\r\n]+>)", item[1])
                if uid and mid:
                    result[int(uid.group(1))] = mid.group(1).decode()
            return result
        finally:
            m.logout()

    def wait_for(self, msgids, timeout):
        """Polls INBOX until every Message-ID in msgids is present; returns UID -> Message-ID."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.inbox_message_ids()
            if set(msgids) <= set(found.values()) or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_a_smtp_to_imap_byte_for_byte(self):
        msgid, body = make_message("a")
        s = self.smtp()
        try:
            self.send(s, body)
        finally:
            s.quit()
        found = self.wait_for([msgid], 30)
        uids = [u for u, mid in found.items() if mid == msgid]
        self.assertEqual(len(uids), 1, f"{msgid} in INBOX {len(uids)} times after 30 s")

        m, _ = self.imap()
        try:
            typ, data = m.uid("FETCH", str(uids[0]), "(BODY.PEEK[])")
            self.assertEqual(typ, "OK", data)
            fetched = next(item[1] for item in data if isinstance(item, tuple))
        finally:
            m.logout()
        self.assertTrue(fetched.startswith(b"Received: "), fetched[:200])
        self.assertTrue(fetched.endswith(body),
                        f"fetched message does not end with the sent bytes:\n{fetched!r}\nsent:\n{body!r}")

        # STARTTLS port: LOGIN before STARTTLS is refused, and works after it.
        m = imaplib.IMAP4("127.0.0.1", self.port("imap_starttls"), timeout=30)
        try:
            with self.assertRaises(imaplib.IMAP4.error):
                m.login(USER, PASSWORD)
            typ, _ = m.starttls(ssl_context=insecure_context())
            self.assertEqual(typ, "OK")
            typ, _ = m.login(USER, PASSWORD)
            self.assertEqual(typ, "OK")
            typ, data = m.select("INBOX", readonly=True)
            self.assertEqual(typ, "OK", data)
        finally:
            m.logout()

    @record_failure
    def test_b_recipients_and_bare_lf_smuggling(self):
        s = self.smtp()
        try:
            code, resp = s.mail("sender@client.test")
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt("unknown@example.test")
            self.assertEqual(code, 550, resp)
            code, resp = s.rcpt("someone@remote.example")
            self.assertEqual(code, 554, resp)
            s.rset()
        finally:
            s.quit()

        with socket.create_connection(("127.0.0.1", self.port("smtp")), timeout=30) as sock:
            f = sock.makefile("rb")

            def reply():
                lines = []
                while True:
                    line = f.readline()
                    self.assertTrue(line, f"connection closed; so far {lines}")
                    lines.append(line)
                    if len(line) < 4 or line[3:4] != b"-":
                        return b"".join(lines)

            self.assertTrue(reply().startswith(b"220"))
            for cmd, code in [(b"EHLO client.test", b"250"), (b"MAIL FROM:<sender@client.test>", b"250"),
                              (b"RCPT TO:<demo@example.test>", b"250"), (b"DATA", b"354")]:
                sock.sendall(cmd + b"\r\n")
                r = reply()
                self.assertTrue(r.startswith(code), f"{cmd!r} -> {r!r}")
            smuggled = (b"From: sender@client.test\r\nTo: demo@example.test\r\nSubject: smuggle\r\n\r\n"
                        b"first part\n.\n"
                        b"MAIL FROM:<evil@client.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n"
                        b"Subject: smuggled\r\n\r\nsmuggled body\r\n")
            sock.sendall(smuggled)
            # The server must not have treated "\n.\n" as the end of data: nothing may arrive yet.
            sock.settimeout(2)
            try:
                early = sock.recv(4096, socket.MSG_PEEK)
            except socket.timeout:
                early = b""
            sock.settimeout(30)
            self.assertEqual(early, b"", f"server answered before the real end of data: {early!r}")
            sock.sendall(b".\r\n")
            r = reply()
            self.assertTrue(r.startswith(b"550 5.6.11"), f"after the real end of data: {r!r}")
            # Nothing else (no 250 for a smuggled transaction) may follow.
            sock.settimeout(2)
            try:
                extra = sock.recv(4096, socket.MSG_PEEK)
            except socket.timeout:
                extra = b""
            self.assertNotIn(b"250", extra, f"extra replies after the end of data: {extra!r}")
            sock.settimeout(30)
            sock.sendall(b"QUIT\r\n")

    @record_failure
    def test_c_kill_delivery_exactly_once(self):
        self.kite_local("kill-daemon", "kite-delivery", "KILL")
        msgids = []
        s = self.smtp()
        try:
            for i in range(20):
                msgid, body = make_message(f"c{i}")
                self.send(s, body)
                msgids.append(msgid)
        finally:
            s.quit()

        self.kite_local("start-daemon", "kite-delivery")
        # Kill it again as soon as it has delivered something (best effort: "while delivering").
        deadline = time.monotonic() + 30
        present = 0
        while time.monotonic() < deadline:
            present = len(set(msgids) & set(self.inbox_message_ids().values()))
            if present > 0:
                break
            time.sleep(0.1)
        self.kite_local("kill-daemon", "kite-delivery", "KILL")
        print(f"\n[e2e] kite-delivery killed with {present}/20 messages delivered", file=sys.stderr)
        self.kite_local("start-daemon", "kite-delivery")

        found = self.wait_for(msgids, 120)
        counts = {mid: list(found.values()).count(mid) for mid in msgids}
        missing = [mid for mid, n in counts.items() if n == 0]
        duplicated = {mid: n for mid, n in counts.items() if n > 1}
        self.assertEqual(missing, [], "messages never delivered")
        self.assertEqual(duplicated, {}, "messages delivered more than once")

    @record_failure
    def test_d_metrics_and_health(self):
        problems = []
        for d in DAEMONS:
            url = f"http://127.0.0.1:{self.port(d + '_metrics')}/metrics"
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    status, text = r.status, r.read()
            except Exception as e:  # noqa: BLE001 - report every daemon, then fail
                problems.append(f"kite-{d}: GET {url}: {e}")
                continue
            if status != 200:
                problems.append(f"kite-{d}: GET {url}: HTTP {status}")
                continue
            p = subprocess.run(["promtool", "check", "metrics"], input=text, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            if p.returncode != 0:
                problems.append(f"kite-{d}: promtool check metrics exited {p.returncode}:\n"
                                f"{p.stdout.decode(errors='replace')}")
        self.assertEqual(problems, [], "\n".join(problems))
        env = dict(self.env, KITE_CONFIG=os.path.join(self.data, "kite.yaml"))
        p = subprocess.run([self.kitectl_path, "health"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace"))
        # One address (what the container HEALTHCHECK runs), and a dead one.
        p = subprocess.run([self.kitectl_path, "health", f"127.0.0.1:{self.port('mta_grpc')}"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace"))
        self.assertIn(b"SERVING", p.stdout)
        p = subprocess.run([self.kitectl_path, "health", "127.0.0.1:1"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout.decode(errors="replace"))
        self.assertIn(b"DOWN", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)

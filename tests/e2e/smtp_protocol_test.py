#!/usr/bin/python3
"""End-to-end: the SMTP protocol claims of issue 4 over real sockets, against the whole suite.

Needs KITE_BIN_DIR (the daemons and kitectl) and optionally KITE_SOURCE_DIR (the repository).
Complements walking_skeleton_test.py (bare-LF smuggling, RCPT checks) and submission_test.py
(AUTH, sender checks, DKIM). Talks to kite-mta with smtplib and raw sockets and reads the
result back with imaplib:
  - smuggling: "\\n.\\n", "\\r.\\r", "\\n.\\r\\n", "\\r\\n.\\n" never end DATA; nothing smuggled
    is delivered
  - SIZE: 552 at MAIL (SIZE=) and while reading DATA; 452 beyond max_recipients
  - a 10 MB message and one with 8-bit / UTF-8 headers (SMTPUTF8) arrive byte for byte
  - PIPELINING replies in order; VRFY/EXPN 252; HELP 214; too many errors: 421 and close
  - CHUNKING: BDAT in several chunks with a 0-octet LAST arrives byte for byte; BDAT without
    a transaction 503 (chunk dropped, still in sync), DATA after BDAT 503, RSET drops chunks,
    an over-size chunk 552 and the connection stays in sync
  - kite-submission adds Message-ID and Date when missing; its per-user rate limits answer
    450 4.7.1 at MAIL and 452 4.5.3 at RCPT (and count in kite_smtp_policy_refusals_total)
  - greylisting (2 s delay): first 451 4.7.1, accepted on a later retry, then at once
  - a DNS blocklist served by this test's own dnsmasq: a listed client gets 554 5.7.1
The mta trusts 127.0.0.1 (exempt from greylisting and blocklists); the greylisting and
blocklist tests connect from 127.0.0.2 and 127.0.0.3. Never uses the system resolver.
"""
import imaplib
import os
import re
import shutil
import smtplib
import socket
import sys
import tempfile
import time
import unittest
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, insecure_context, record_failure  # noqa: E402
from loopback_peers import start_dnsmasq, stop  # noqa: E402

USER = "demo@example.test"
PASSWORD = "demo-password-123"
MAX_SIZE = 12 * 1024 * 1024
MAX_RCPTS = 5
ZONE = "bl.test"


def text_message(tag, extra_body=b"", headers=b""):
    msgid = f"<{tag}.{uuid.uuid4().hex}@client.test>"
    body = (
        b"From: Sender <sender@client.test>\r\n"
        b"To: Demo User <demo@example.test>\r\n"
        + f"Subject: protocol {tag}\r\nMessage-ID: {msgid}\r\n".encode()
        + b"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
        + headers
        + b"\r\n"
        + f"Body of {tag}.\r\n".encode()
        + extra_body
    )
    return msgid, body


class Raw:
    """A raw SMTP connection: send bytes, read whole (multi-line) replies."""

    def __init__(self, test, port, source="127.0.0.1"):
        self.test = test
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0))
        self.f = self.sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            self.test.assertTrue(line, f"connection closed; so far {lines}")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return b"".join(lines)

    def cmd(self, line, expect):
        self.sock.sendall(line + b"\r\n")
        r = self.reply()
        self.test.assertTrue(r.startswith(expect), f"{line[:80]!r} -> {r!r}")
        return r

    def quiet(self, wait=1.5):
        """Bytes the server sent without being asked (b"" when none within `wait`)."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(4096, socket.MSG_PEEK)
        except socket.timeout:
            return b""
        finally:
            self.sock.settimeout(60)

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.f.close()
        self.sock.close()


class SmtpProtocol(SuiteTestCase):
    dns_dir = None
    dnsmasq = None

    @classmethod
    def setUpClass(cls):
        # This test's own DNS server: 127.0.0.3 is listed in bl.test, nothing else is.
        cls.dns_dir = tempfile.mkdtemp(prefix="kite-smtp-dns-")
        cls.dnsmasq, port = start_dnsmasq(f"local=/{ZONE}/\naddress=/3.0.0.127.{ZONE}/127.0.0.2\n", cls.dns_dir)
        cls.extra_env = {
            "KITE_GLOBAL_DNS_SERVERS": f"127.0.0.1:{port}",
            "KITE_MTA_MAX_MESSAGE_SIZE": str(MAX_SIZE),
            "KITE_MTA_MAX_RECIPIENTS": str(MAX_RCPTS),
            "KITE_MTA_GREYLIST": "true",
            "KITE_MTA_GREYLIST_DELAY": "2s",
            "KITE_MTA_GREYLIST_RETRY_WINDOW": "10m",
            "KITE_MTA_DNSBL_ZONES": ZONE,
            "KITE_MTA_TRUSTED_NETWORKS": "127.0.0.1/32",
            "KITE_SUBMISSION_MESSAGES_PER_HOUR": "3",
            "KITE_SUBMISSION_RECIPIENTS_PER_HOUR": "4",
        }
        try:
            super().setUpClass()
        except BaseException:
            cls.stop_dns()
            raise

    @classmethod
    def stop_dns(cls):
        if cls.dnsmasq is not None:
            stop([cls.dnsmasq])
            cls.dnsmasq = None
        if cls.dns_dir:
            shutil.rmtree(cls.dns_dir, ignore_errors=True)
            cls.dns_dir = None

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.stop_dns()

    # ------------------------------------------------------------------ helpers
    def smtp(self, source="127.0.0.1"):
        s = smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=120,
                         source_address=(source, 0))
        code, _ = s.ehlo()
        self.assertEqual(code, 250)
        return s

    def raw(self, source="127.0.0.1"):
        r = Raw(self, self.port("smtp"), source)
        self.assertTrue(r.reply().startswith(b"220"))
        return r

    def submission(self, user=USER, password=PASSWORD):
        s = smtplib.SMTP("127.0.0.1", self.port("sub_starttls"), local_hostname="client.test", timeout=60)
        s.ehlo()
        code, resp = s.starttls(context=insecure_context())
        self.assertEqual(code, 220, resp)
        s.ehlo()
        code, resp = s.login(user, password)
        self.assertEqual(code, 235, resp)
        return s

    def fetch(self, marker, timeout=60, user=USER, password=PASSWORD):
        """The full message of `user`'s INBOX containing `marker` (bytes), polled until it arrives."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.search(marker, user, password)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                self.fail(f"{marker!r} not in INBOX after {timeout} s")
            time.sleep(0.5)

    def search(self, marker, user=USER, password=PASSWORD):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=120)
        try:
            typ, _ = m.login(user, password)
            self.assertEqual(typ, "OK")
            typ, data = m.select("INBOX", readonly=True)
            self.assertEqual(typ, "OK", data)
            if int(data[0]) == 0:
                return None
            # Markers are in the header (a message without an empty line is all header).
            typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER])")
            self.assertEqual(typ, "OK", data)
            for item in data:
                if isinstance(item, tuple) and marker in item[1]:
                    uid = re.search(rb"UID (\d+)", item[0]).group(1).decode()
                    typ, full = m.uid("FETCH", uid, "(BODY.PEEK[])")
                    self.assertEqual(typ, "OK", full)
                    return next(x[1] for x in full if isinstance(x, tuple))
            return None
        finally:
            m.logout()

    def deliver_raw(self, body):
        s = self.smtp()
        try:
            code, resp = s.mail("sender@client.test")
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 250, resp)
            code, resp = s.data(body)
            self.assertEqual(code, 250, resp)
        finally:
            s.quit()

    def metric(self, daemon, pattern):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port(daemon + '_metrics')}/metrics", timeout=30) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            if re.match(pattern, line):
                total += float(line.rsplit(" ", 1)[1])
        return total

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_a_smuggling_never_ends_data(self):
        sentinel_msgid, sentinel = text_message("smuggle-sentinel")
        markers = []
        for seq in [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n"]:
            marker = f"SMUGGLED-{uuid.uuid4().hex}".encode()
            markers.append(marker)
            r = self.raw()
            try:
                for line, code in [(b"EHLO client.test", b"250"), (b"MAIL FROM:<sender@client.test>", b"250"),
                                   (b"RCPT TO:<demo@example.test>", b"250"), (b"DATA", b"354")]:
                    r.cmd(line, code)
                r.sock.sendall(b"From: sender@client.test\r\nTo: demo@example.test\r\nSubject: outer\r\n\r\n"
                               b"first part" + seq
                               + b"MAIL FROM:<evil@client.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n"
                               + b"Subject: " + marker + b"\r\n\r\n" + marker + b"\r\n")
                early = r.quiet()
                self.assertEqual(early, b"", f"{seq!r}: server answered before the real end of data: {early!r}")
                r.sock.sendall(b".\r\n")
                end = r.reply()
                self.assertTrue(end.startswith(b"550 5.6.11"), f"{seq!r}: after the real end of data: {end!r}")
                extra = r.quiet()
                self.assertNotIn(b"250", extra, f"{seq!r}: extra replies after the end of data: {extra!r}")
                r.cmd(b"NOOP", b"250")
            finally:
                r.close()
        # Delivery is in order per recipient stream: once the sentinel is in, nothing
        # smuggled can still be on its way.
        self.deliver_raw(sentinel)
        self.fetch(sentinel_msgid.encode())
        for marker in markers:
            self.assertIsNone(self.search(marker), f"{marker!r} was delivered")

    @record_failure
    def test_b_size_limits_and_recipients(self):
        s = self.smtp()
        try:
            self.assertEqual(int(s.esmtp_features["size"]), MAX_SIZE)
            code, resp = s.mail("sender@client.test", [f"SIZE={MAX_SIZE + 1}"])
            self.assertEqual(code, 552, resp)
            self.assertIn(b"5.3.4", resp)
            # Declared small, sent big: refused while reading, after the real end of data.
            code, resp = s.mail("sender@client.test", ["SIZE=1000"])
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 250, resp)
            marker = f"OVERSIZE-{uuid.uuid4().hex}".encode()
            line = b"x" * 998 + b"\r\n"
            big = b"Subject: " + marker + b"\r\n\r\n" + line * (MAX_SIZE // len(line) + 10)
            code, resp = s.data(big)
            self.assertEqual(code, 552, resp)
            self.assertIn(b"5.3.4", resp)
            code, resp = s.noop()
            self.assertEqual(code, 250, resp)
            # Recipients per message.
            code, resp = s.mail("sender@client.test")
            self.assertEqual(code, 250, resp)
            for i in range(MAX_RCPTS):
                code, resp = s.rcpt(USER)
                self.assertEqual(code, 250, (i, resp))
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 452, resp)
            self.assertIn(b"4.5.3", resp)
            code, resp = s.rset()
            self.assertEqual(code, 250, resp)
        finally:
            s.quit()
        self.assertIsNone(self.search(marker))

    @record_failure
    def test_c_ten_megabytes_byte_for_byte(self):
        line = b" the quick brown fox jumps over the lazy dog 0123456789\r\n"
        lines = b"".join(b"%08d" % i + line for i in range(10 * 1024 * 1024 // (8 + len(line)) + 1))
        lines += b".leading dot line\r\n..two dots\r\n"
        msgid, body = text_message("ten-mb", extra_body=lines)
        self.assertGreater(len(body), 10 * 1024 * 1024)
        self.deliver_raw(body)
        fetched = self.fetch(msgid.encode(), timeout=120)
        self.assertTrue(fetched.startswith(b"Received: "), fetched[:200])
        self.assertTrue(fetched.endswith(body), "the 10 MB message changed on the way")
        self.assertEqual(len(fetched) - len(body), fetched.index(b"From: Sender"))

    @record_failure
    def test_d_eight_bit_and_utf8_headers(self):
        msgid, body = text_message(
            "utf8", headers="X-Greeting: Grüße aus Köln, 日本語\r\n".encode("utf-8"),
            extra_body="8-bit body: naïve café — ½\r\n".encode("utf-8") + b"latin-1 byte: \xe9\r\n")
        body = body.replace(b"Subject: protocol utf8", "Subject: protocol utf8 Ünïcödé".encode("utf-8"))
        s = self.smtp()
        try:
            self.assertTrue(s.has_extn("smtputf8"))
            self.assertTrue(s.has_extn("8bitmime"))
            code, resp = s.mail("sender@client.test", ["SMTPUTF8", "BODY=8BITMIME"])
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 250, resp)
            code, resp = s.data(body)
            self.assertEqual(code, 250, resp)
        finally:
            s.quit()
        fetched = self.fetch(msgid.encode())
        self.assertTrue(fetched.endswith(body), f"{fetched!r}\nsent:\n{body!r}")
        self.assertIn(b"with UTF8SMTP", fetched[:len(fetched) - len(body)])

    @record_failure
    def test_e_pipelining_replies_in_order(self):
        msgid, body = text_message("pipelined")
        r = self.raw()
        try:
            ehlo = r.cmd(b"EHLO client.test", b"250")
            self.assertIn(b"PIPELINING", ehlo)
            r.sock.sendall(b"MAIL FROM:<sender@client.test>\r\nRCPT TO:<nobody@example.test>\r\n"
                           b"RCPT TO:<demo@example.test>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\n")
            got = [r.reply() for _ in range(5)]
            for reply, code in zip(got, [b"250", b"550", b"250", b"554", b"354"]):
                self.assertTrue(reply.startswith(code), got)
            r.sock.sendall(body + b".\r\nNOOP\r\nRSET\r\nVRFY demo\r\n")
            got = [r.reply() for _ in range(4)]
            for reply, code in zip(got, [b"250 2.0.0 Ok: queued", b"250", b"250", b"252"]):
                self.assertTrue(reply.startswith(code), got)
        finally:
            r.close()
        fetched = self.fetch(msgid.encode())
        self.assertTrue(fetched.endswith(body))

    @record_failure
    def test_f_vrfy_expn_help(self):
        r = self.raw()
        try:
            r.cmd(b"EHLO client.test", b"250")
            for line in [b"VRFY demo@example.test", b"VRFY nobody@example.test", b"EXPN staff"]:
                reply = r.cmd(line, b"252")
                self.assertNotIn(b"demo", reply)
            r.cmd(b"HELP", b"214")
        finally:
            r.close()

    @record_failure
    def test_g_too_many_errors_then_421_and_close(self):
        r = self.raw()
        try:
            r.cmd(b"EHLO client.test", b"250")
            r.sock.sendall(b"BOGUS command\r\n" * 10)
            replies = []
            while True:
                line = r.f.readline()
                if not line:
                    break
                replies.append(line)
            self.assertEqual(len(replies), 11, replies)
            self.assertTrue(all(x.startswith(b"5") for x in replies[:10]), replies)
            self.assertTrue(replies[10].startswith(b"421"), replies)
        finally:
            r.close()

    @record_failure
    def test_h_bdat_chunks_byte_for_byte(self):
        msgid, body = text_message("bdat", extra_body=b"..not unstuffed\r\n.\r\nstill the body\r\n")
        cut1, cut2 = 37, len(body) - 1  # inside a header line, and between the final CR and LF
        self.assertEqual(body[cut2 - 1:cut2 + 1], b"\r\n")
        r = self.raw()
        try:
            ehlo = r.cmd(b"EHLO client.test", b"250")
            self.assertIn(b"CHUNKING", ehlo)
            self.assertNotIn(b"BINARYMIME", ehlo)
            # No transaction: 503, and the chunk's octets are dropped, not read as commands.
            r.sock.sendall(b"BDAT 6\r\nNOOP\r\n")
            self.assertTrue(r.reply().startswith(b"503"))
            r.cmd(b"NOOP", b"250")
            # RSET drops the chunks received so far.
            r.cmd(b"MAIL FROM:<sender@client.test>", b"250")
            r.cmd(b"RCPT TO:<demo@example.test>", b"250")
            r.sock.sendall(b"BDAT 10\r\nDiscarded!")
            self.assertTrue(r.reply().startswith(b"250"))
            r.cmd(b"DATA", b"503")
            r.cmd(b"RSET", b"250")
            # Pipelined chunks, the last one empty.
            r.cmd(b"MAIL FROM:<sender@client.test>", b"250")
            r.cmd(b"RCPT TO:<demo@example.test>", b"250")
            chunks = [body[:cut1], body[cut1:cut2], body[cut2:]]
            wire = b"".join(b"BDAT %d\r\n" % len(c) + c for c in chunks) + b"BDAT 0 LAST\r\n"
            r.sock.sendall(wire)
            got = [r.reply() for _ in range(4)]
            for reply in got[:3]:
                self.assertTrue(reply.startswith(b"250 2.0.0"), got)
            self.assertTrue(got[3].startswith(b"250 2.0.0 Ok: queued"), got)
            # Over the size limit: 552, the whole chunk is still read; the session stays usable.
            r.cmd(b"MAIL FROM:<sender@client.test>", b"250")
            r.cmd(b"RCPT TO:<demo@example.test>", b"250")
            r.sock.sendall(b"BDAT %d LAST\r\n" % (MAX_SIZE + 1) + b"y" * (MAX_SIZE + 1))
            self.assertTrue(r.reply().startswith(b"552 5.3.4"))
            r.cmd(b"NOOP", b"250")
        finally:
            r.close()
        fetched = self.fetch(msgid.encode())
        self.assertTrue(fetched.endswith(body), f"{fetched!r}\nsent:\n{body!r}")
        self.assertIsNone(self.search(b"Discarded!"))

    @record_failure
    def test_i_submission_adds_message_id_and_date(self):
        marker = f"NOIDS-{uuid.uuid4().hex}"
        body = (f"From: Demo User <{USER}>\r\nTo: <{USER}>\r\nSubject: {marker}\r\n\r\nno ids here\r\n").encode()
        s = self.submission()
        try:
            code, resp = s.mail(USER)
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 250, resp)
            code, resp = s.data(body)
            self.assertEqual(code, 250, resp)
        finally:
            s.quit()
        fetched = self.fetch(marker.encode())
        head = fetched[:fetched.index(b"\r\n\r\n")]
        self.assertRegex(head, rb"(?m)^Message-ID: <[0-9a-f]{32}@[^>\s]+>\r$")
        self.assertRegex(head, rb"(?m)^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                               rb"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000\r$")
        self.assertTrue(fetched.endswith(body))
        # DKIM (when the domain has a key) signs what is delivered: the added fields sit
        # below any DKIM-Signature, inside what it covers.
        self.assertLess(head.index(b"Message-ID:"), head.index(b"Subject:"))

    @record_failure
    def test_j_submission_rate_limits(self):
        user, password = f"rate-{uuid.uuid4().hex[:8]}@example.test", "rate-password-123"
        self.ok("user", "add", user, "--password-stdin", stdin=password + "\n")
        before = self.metric("submission", r'^kite_smtp_policy_refusals_total\{.*policy="rate_messages"')
        s = self.submission(user, password)
        try:
            for i in range(3):
                code, resp = s.mail(user)
                self.assertEqual(code, 250, (i, resp))
                code, resp = s.rset()
                self.assertEqual(code, 250, resp)
            code, resp = s.mail(user)
            self.assertEqual(code, 450, resp)
            self.assertIn(b"4.7.1", resp)
        finally:
            s.quit()
        after = self.metric("submission", r'^kite_smtp_policy_refusals_total\{.*policy="rate_messages"')
        self.assertEqual(after, before + 1)

        user2 = f"rcpt-{uuid.uuid4().hex[:8]}@example.test"
        self.ok("user", "add", user2, "--password-stdin", stdin=password + "\n")
        s = self.submission(user2, password)
        try:
            code, resp = s.mail(user2)
            self.assertEqual(code, 250, resp)
            for i in range(4):
                code, resp = s.rcpt(f"someone{i}@remote.example")
                self.assertEqual(code, 250, (i, resp))
            code, resp = s.rcpt("one-more@remote.example")
            self.assertEqual(code, 452, resp)
            self.assertIn(b"4.5.3", resp)
            s.rset()
        finally:
            s.quit()

    @record_failure
    def test_k_greylisting(self):
        sender = f"grey-{uuid.uuid4().hex[:8]}@client.test"
        s = self.smtp(source="127.0.0.2")
        try:
            code, resp = s.mail(sender)
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 451, resp)
            self.assertIn(b"4.7.1", resp)
            s.rset()
        finally:
            s.quit()
        # The delay is 2 s: retry (bounded) until accepted, as a real MTA would.
        accepted = False
        for _ in range(60):
            time.sleep(1)
            s = self.smtp(source="127.0.0.2")
            try:
                s.mail(sender)
                code, resp = s.rcpt(USER)
                s.rset()
            finally:
                s.quit()
            if code == 250:
                accepted = True
                break
            self.assertEqual(code, 451, resp)
        self.assertTrue(accepted, "never accepted after greylisting")
        # Remembered: at once now, and the message goes through.
        msgid, body = text_message("greylisted")
        s = self.smtp(source="127.0.0.2")
        try:
            code, resp = s.mail(sender)
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 250, resp)
            code, resp = s.data(body)
            self.assertEqual(code, 250, resp)
        finally:
            s.quit()
        self.fetch(msgid.encode())
        self.assertGreaterEqual(self.metric("mta", r'^kite_smtp_policy_refusals_total\{.*policy="greylist"'), 1)

    @record_failure
    def test_l_dns_blocklist(self):
        s = self.smtp(source="127.0.0.3")
        try:
            code, resp = s.mail("sender@client.test")
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 554, resp)
            self.assertIn(b"5.7.1", resp)
            self.assertIn(ZONE.encode(), resp)
        finally:
            s.quit()
        self.assertGreaterEqual(self.metric("mta", r'^kite_smtp_policy_refusals_total\{.*policy="dnsbl"'), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)

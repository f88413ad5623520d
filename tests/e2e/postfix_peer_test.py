#!/usr/bin/python3
# ctest-quick: part of `scripts/test --quick` (a fresh machine's first look, scripts/check-fresh)
"""A real Postfix as the sending MTA into kite-mta.

A private Postfix instance (tests/fixtures/postfix_instance.py: its own config, queue and log
folders under a temporary directory, `postfix -c DIR start|stop`) listens on a free loopback
port and relays example.test to [127.0.0.1]:<kite-mta port>. The test hands it messages with
smtplib and reads them back from demo@example.test's INBOX over IMAP: Postfix's Received
header is there (Kite's on top of it), the body is intact, and Postfix's queue is empty
afterwards (kite-mta answered 250). A second message with 8-bit UTF-8 content and several
recipients checks what Postfix sends with SMTPUTF8/8BITMIME, and an unknown recipient is
bounced by Postfix after kite-mta's 550 (never accepted by Kite).
Never reaches a resolver: Postfix's DNS support is disabled and every next hop is an IP
literal; all domains end in .test.
"""
import os
import smtplib
import socket
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402
from kite_ops import DEMO, imap, wait_until  # noqa: E402
import postfix_instance  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@unittest.skipUnless(postfix_instance.available(), "postfix is not installed (scripts/install-deps) or not root")
class PostfixPeerTest(SuiteTestCase):
    postfix = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.postfix = postfix_instance.PostfixInstance(
                smtpd_port=free_port(), relay_to=("127.0.0.1", cls.port("smtp"))).start()
        except BaseException:
            cls.failed = True
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.postfix is not None:
            if cls.failed:
                print("---- postfix log ----\n" + cls.postfix.log()[-6000:], file=sys.stderr)
            cls.postfix.stop()
            cls.postfix = None
        super().tearDownClass()

    def send_via_postfix(self, sender, rcpts, body):
        with smtplib.SMTP("127.0.0.1", self.postfix.smtpd_port, local_hostname="client.test", timeout=30) as s:
            return s.sendmail(sender, rcpts, body)

    def fetch_by_msgid(self, msgid, timeout=60):
        """The full message with this Message-ID from demo's INBOX, or None."""
        def find():
            m = imap(self)
            try:
                typ, data = m.select("INBOX", readonly=True)
                if typ != "OK" or int(data[0]) == 0:
                    return None
                # (No IMAP SEARCH yet: find the sequence number from the Message-ID headers.)
                typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                nums = [part[0].split()[0] for part in data
                        if typ == "OK" and isinstance(part, tuple) and msgid.encode() in part[1]]
                if not nums:
                    return None
                typ, data = m.fetch(nums[0], "(BODY.PEEK[])")
                return data[0][1] if typ == "OK" else None
            finally:
                m.logout()
        return wait_until(find, timeout, 1)

    @record_failure
    def test_postfix_relays_into_kite(self):
        msgid = f"<postfix-peer.{uuid.uuid4().hex}@client.test>"
        body = (
            "From: Peer Sender <peer@client.test>\r\n"
            f"To: <{DEMO}>\r\n"
            "Subject: relayed by postfix\r\n"
            f"Message-ID: {msgid}\r\n"
            "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
            "\r\n"
            "Line one.\r\n"
            ".leading dot survives\r\n"
            "Last line.\r\n"
        ).encode()
        self.assertEqual(self.send_via_postfix("peer@client.test", [DEMO], body), {})
        got = self.fetch_by_msgid(msgid)
        self.assertIsNotNone(got, f"not delivered; postfix log:\n{self.postfix.log()[-3000:]}")
        head, _, text = got.partition(b"\r\n\r\n")
        received = (b"\r\n" + head).split(b"\r\nReceived:")[1:]
        self.assertGreaterEqual(len(received), 2, head)
        # Kite's Received header on top names Postfix's HELO; Postfix's own below it.
        self.assertIn(b"postfix.test", received[0], head)
        self.assertTrue(any(b"by postfix.test (Postfix" in r for r in received), head)
        self.assertEqual(text, b"Line one.\r\n.leading dot survives\r\nLast line.\r\n")
        self.assertTrue(wait_until(lambda: self.postfix.queue_count() == 0, 30), "postfix still holds the message")
        self.assertIn("status=sent (250", self.postfix.log())

    @record_failure
    def test_utf8_and_unknown_recipient(self):
        msgid = f"<postfix-utf8.{uuid.uuid4().hex}@client.test>"
        body = (
            "From: =?UTF-8?Q?J=C3=BCrgen?= <peer@client.test>\r\n"
            f"To: <{DEMO}>\r\n"
            "Subject: Grüße aus Köln\r\n"
            f"Message-ID: {msgid}\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n"
            "\r\n"
            "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.\r\n"
        ).encode("utf-8")
        missing = f"nobody-{uuid.uuid4().hex[:8]}@example.test"
        # Postfix accepts both (it relays example.test); kite-mta refuses the unknown one.
        self.assertEqual(self.send_via_postfix("peer@client.test", [DEMO, missing], body), {})
        got = self.fetch_by_msgid(msgid)
        self.assertIsNotNone(got, f"not delivered; postfix log:\n{self.postfix.log()[-3000:]}")
        self.assertTrue(got.endswith("Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.\r\n".encode()))
        self.assertIn("Subject: Grüße aus Köln".encode(), got)

        def bounced():
            log = self.postfix.log()
            return f"to=<{missing}>" in log and "status=bounced" in log and "550" in log
        self.assertTrue(wait_until(bounced, 30, 1), self.postfix.log()[-3000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)

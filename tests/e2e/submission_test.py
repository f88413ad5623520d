#!/usr/bin/python3
"""End-to-end: kite-submission (587 STARTTLS / 465 implicit TLS) against the whole suite.

Needs KITE_BIN_DIR (the daemons and kitectl) and optionally KITE_SOURCE_DIR (the repository).
Talks to kite-submission with smtplib and reads the result back with imaplib:
  - no AUTH offered or accepted before STARTTLS (530), AUTH PLAIN / LOGIN / SCRAM-SHA-256 after
  - wrong password 535; MAIL before AUTH 530; someone else's MAIL FROM 553; someone else's
    header From 550 at the end of DATA; own From delivered with a "with ESMTPSA" Received
  - implicit TLS on the 465 port; a remote recipient accepted when authenticated (spool:
    remote/queued, waiting for the outbound relay)
Never uses DNS: every address is 127.0.0.1 and every domain ends in .test or .example.
"""
import base64
import hashlib
import hmac
import imaplib
import os
import re
import smtplib
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, insecure_context, record_failure  # noqa: E402

USER = "demo@example.test"
PASSWORD = "demo-password-123"


def b64(b):
    return base64.b64encode(b).decode()


def make_message(tag, sender=USER, to=USER):
    msgid = f"<{tag}.{uuid.uuid4().hex}@client.test>"
    body = (
        f"From: Demo User <{sender}>\r\n"
        f"To: <{to}>\r\n"
        f"Subject: submission {tag}\r\n"
        f"Message-ID: {msgid}\r\n"
        "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
        "\r\n"
        f"Hello from the submission test ({tag}).\r\n"
    ).encode("ascii")
    return msgid, body


class Submission(SuiteTestCase):
    # ------------------------------------------------------------------ helpers
    def plain(self):
        s = smtplib.SMTP("127.0.0.1", self.port("sub_starttls"), local_hostname="client.test", timeout=30)
        code, _ = s.ehlo()
        self.assertEqual(code, 250)
        return s

    def tls(self):
        s = self.plain()
        code, resp = s.starttls(context=insecure_context())
        self.assertEqual(code, 220, resp)
        code, _ = s.ehlo()
        self.assertEqual(code, 250)
        return s

    def logged_in(self):
        s = self.tls()
        code, resp = s.login(USER, PASSWORD)
        self.assertEqual(code, 235, resp)
        return s

    def fetch_by_message_id(self, msgid, timeout=30):
        """The full message with this Message-ID from the demo INBOX (polls until it arrives)."""
        deadline = time.monotonic() + timeout
        while True:
            m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=30)
            try:
                typ, _ = m.login(USER, PASSWORD)
                self.assertEqual(typ, "OK")
                typ, data = m.select("INBOX", readonly=True)
                self.assertEqual(typ, "OK", data)
                if int(data[0]) > 0:
                    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
                    self.assertEqual(typ, "OK", data)
                    for item in data:
                        if isinstance(item, tuple) and msgid.encode() in item[1]:
                            return item[1]
            finally:
                m.logout()
            if time.monotonic() > deadline:
                self.fail(f"{msgid} not in INBOX after {timeout} s")
            time.sleep(0.5)

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_a_no_auth_before_starttls(self):
        s = self.plain()
        try:
            self.assertIn("starttls", s.esmtp_features)
            self.assertNotIn("auth", s.esmtp_features)
            code, resp = s.docmd("AUTH", "PLAIN " + b64(f"\0{USER}\0{PASSWORD}".encode()))
            self.assertEqual(code, 530, resp)
            self.assertIn(b"5.7.0", resp)
            code, resp = s.mail(USER)
            self.assertEqual(code, 530, resp)
        finally:
            s.quit()

    @record_failure
    def test_b_auth_plain_and_login_after_starttls(self):
        s = self.tls()
        try:
            mechanisms = s.esmtp_features.get("auth", "").split()
            for m in ("PLAIN", "LOGIN", "SCRAM-SHA-256"):
                self.assertIn(m, mechanisms)
            code, resp = s.mail(USER)
            self.assertEqual(code, 530, resp)
            self.assertIn(b"Authentication required", resp)
            s.rset()
            code, resp = s.docmd("AUTH", "PLAIN " + b64(f"\0{USER}\0{PASSWORD}".encode()))
            self.assertEqual(code, 235, resp)
            self.assertIn(b"2.7.0", resp)
        finally:
            s.quit()
        # LOGIN through smtplib's own continuation handling.
        s = self.tls()
        try:
            s.user, s.password = USER, PASSWORD
            code, resp = s.auth("LOGIN", s.auth_login)
            self.assertEqual(code, 235, resp)
        finally:
            s.quit()
        # PLAIN without an initial response: an empty 334, then the credentials; "*" cancels.
        s = self.tls()
        try:
            code, resp = s.docmd("AUTH", "PLAIN")
            self.assertEqual(code, 334, resp)
            code, resp = s.docmd("*")
            self.assertEqual(code, 501, resp)
            self.assertIn(b"5.7.0", resp)
            code, resp = s.docmd("AUTH", "PLAIN")
            self.assertEqual(code, 334, resp)
            code, resp = s.docmd("not base64 !!")
            self.assertEqual(code, 501, resp)
            self.assertIn(b"5.5.2", resp)
            code, resp = s.docmd("AUTH", "PLAIN")
            self.assertEqual(code, 334, resp)
            code, resp = s.docmd(b64(f"\0{USER}\0{PASSWORD}".encode()))
            self.assertEqual(code, 235, resp)
        finally:
            s.quit()

    @record_failure
    def test_c_wrong_password(self):
        s = self.tls()
        try:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login(USER, "not-the-password")
            self.assertEqual(cm.exception.smtp_code, 535)
            self.assertIn(b"5.7.8", cm.exception.smtp_error)
        finally:
            s.quit()

    @record_failure
    def test_d_sender_checks(self):
        s = self.logged_in()
        try:
            code, resp = s.mail("someone-else@example.test")
            self.assertEqual(code, 553, resp)
            self.assertIn(b"5.7.1", resp)
            self.assertIn(b"not owned by user", resp)
            code, resp = s.mail(USER)
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 250, resp)
            _, body = make_message("forged", sender="ceo@example.test")
            code, resp = s.data(body)
            self.assertEqual(code, 550, resp)
            self.assertIn(b"5.7.1", resp)
        finally:
            s.quit()

    @record_failure
    def test_e_own_from_delivered_with_esmtpsa(self):
        msgid, body = make_message("own")
        s = self.logged_in()
        try:
            code, resp = s.mail(USER)
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(USER)
            self.assertEqual(code, 250, resp)
            code, resp = s.data(body)
            self.assertEqual(code, 250, resp)
        finally:
            s.quit()
        fetched = self.fetch_by_message_id(msgid)
        self.assertTrue(fetched.startswith(b"Received: "), fetched[:300])
        headers = fetched.split(b"\r\n\r\n", 1)[0]
        self.assertRegex(headers, rb"with ESMTPSA id ")
        self.assertIn(f"(Authenticated sender: {USER})".encode(), headers)
        self.assertTrue(fetched.endswith(body), fetched)

    @record_failure
    def test_f_implicit_tls(self):
        msgid, body = make_message("smtps")
        s = smtplib.SMTP_SSL("127.0.0.1", self.port("sub_tls"), local_hostname="client.test",
                             context=insecure_context(), timeout=30)
        try:
            code, _ = s.ehlo()
            self.assertEqual(code, 250)
            self.assertNotIn("starttls", s.esmtp_features)
            self.assertIn("PLAIN", s.esmtp_features.get("auth", "").split())
            code, resp = s.login(USER, PASSWORD)
            self.assertEqual(code, 235, resp)
            s.sendmail(USER, [USER], body)
        finally:
            s.quit()
        self.assertIn(b"with ESMTPSA", self.fetch_by_message_id(msgid))

    @record_failure
    def test_g_remote_recipient_when_authenticated(self):
        # Unauthenticated: even over TLS the transaction cannot start.
        s = self.tls()
        try:
            code, resp = s.mail(USER)
            self.assertEqual(code, 530, resp)
        finally:
            s.quit()
        _, body = make_message("remote", to="friend@remote.example")
        s = self.logged_in()
        try:
            code, resp = s.mail(USER)
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt("friend@remote.example")
            self.assertEqual(code, 250, resp)
            code, resp = s.data(body)
            self.assertEqual(code, 250, resp)
        finally:
            s.quit()
        r = self.ok("queue", "stats")
        m = re.search(r"remote/queued\s+(\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        self.assertGreaterEqual(int(m.group(1)), 1, r.stdout)

    @record_failure
    def test_h_scram_sha_256(self):
        s = self.tls()
        try:
            nonce = b64(os.urandom(18))
            gs2 = "n,,"
            first_bare = f"n={USER},r={nonce}"
            code, resp = s.docmd("AUTH", "SCRAM-SHA-256 " + b64((gs2 + first_bare).encode()))
            self.assertEqual(code, 334, resp)
            server_first = base64.b64decode(resp).decode()
            attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
            self.assertTrue(attrs["r"].startswith(nonce))
            salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = hmac.new(salted, b"Client Key", "sha256").digest()
            stored_key = hashlib.sha256(client_key).digest()
            without_proof = f"c={b64(gs2.encode())},r={attrs['r']}"
            auth_message = f"{first_bare},{server_first},{without_proof}".encode()
            signature = hmac.new(stored_key, auth_message, "sha256").digest()
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            server_key = hmac.new(salted, b"Server Key", "sha256").digest()
            verifier = "v=" + b64(hmac.new(server_key, auth_message, "sha256").digest())
            code, resp = s.docmd(b64(f"{without_proof},p={b64(proof)}".encode()))
            self.assertEqual(code, 334, resp)
            self.assertEqual(base64.b64decode(resp).decode(), verifier)
            code, resp = s.docmd("")
            self.assertEqual(code, 235, resp)
            code, resp = s.mail(USER)
            self.assertEqual(code, 250, resp)
        finally:
            s.quit()

    @record_failure
    def test_i_send_as_and_send_on_behalf(self):
        self.ok("shared", "add", "sales@example.test")
        self.ok("shared", "grant", "sales@example.test", USER, "--send-as")
        self.ok("shared", "add", "team@example.test")
        self.ok("shared", "grant", "team@example.test", USER, "--send-on-behalf")
        sent = {}
        s = self.logged_in()
        try:
            for shared in ("sales@example.test", "team@example.test"):
                msgid, body = make_message(shared.split("@")[0], sender=shared)
                code, resp = s.mail(shared)
                self.assertEqual(code, 250, resp)
                code, resp = s.rcpt(USER)
                self.assertEqual(code, 250, resp)
                # The client's own Sender field is replaced where Kite adds one.
                code, resp = s.data(b"Sender: <forged@client.test>\r\n" + body if shared.startswith("team") else body)
                self.assertEqual(code, 250, resp)
                sent[shared] = (msgid, body)
        finally:
            s.quit()
        # Send-as: no Sender header. Send-on-behalf: Sender names the user, right after Received.
        fetched = self.fetch_by_message_id(sent["sales@example.test"][0])
        self.assertNotRegex(fetched.split(b"\r\n\r\n", 1)[0], rb"(?im)^Sender:")
        fetched = self.fetch_by_message_id(sent["team@example.test"][0])
        self.assertEqual(len(re.findall(rb"(?im)^Sender:", fetched.split(b"\r\n\r\n", 1)[0])), 1, fetched)
        self.assertTrue(fetched.endswith(b"Sender: <" + USER.encode() + b">\r\n" + sent["team@example.test"][1]),
                        fetched)


if __name__ == "__main__":
    unittest.main(verbosity=2)

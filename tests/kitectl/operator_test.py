#!/usr/bin/python3
"""kitectl driven as an operator would, with the effect checked through the daemons.

Starts the suite with scripts/kite-local (see kite_suite.py), then, with real clients:
  - `domain add` + `user add`: the new user logs in over IMAP (implicit TLS) and receives a
    message sent with smtplib to kite-mta;
  - `user passwd`: the old password is refused, the new one works;
  - `app-password add|revoke` (when kitectl has it): the app password logs in until revoked;
  - `user disable|enable` (when kitectl has it): a disabled user cannot log in and RCPT to
    them gets 550; enabled again, both work;
  - refusals are one clear line with a non-zero exit.
Never uses DNS: every address is 127.0.0.1 and every domain ends in .test.
"""
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

DOMAIN = "ops.test"


def message(to, tag):
    msgid = f"<{tag}.{uuid.uuid4().hex}@client.test>"
    body = (
        "From: Sender <sender@client.test>\r\n"
        f"To: <{to}>\r\n"
        f"Subject: operator test {tag}\r\n"
        f"Message-ID: {msgid}\r\n"
        "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
        "\r\n"
        f"Hello {to}.\r\n"
    ).encode("ascii")
    return msgid, body


class OperatorTest(SuiteTestCase):
    # Every refused login below counts against 127.0.0.1 in kite-auth's throttle; the tests
    # make a handful, so raise the limit rather than depend on the order the tests run in.
    extra_env = {"KITE_AUTH_MAX_FAILURES": "1000"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.kitectl("domain", "add", DOMAIN)
        if r.returncode != 0:
            cls.failed = True
            cls.tearDownClass()
            raise AssertionError(repr(r))

    # ------------------------------------------------------------------ helpers
    def add_user(self, local, password):
        address = f"{local}.{uuid.uuid4().hex[:8]}@{DOMAIN}"
        self.ok("user", "add", address, "--name", f"Test {local}", "--password-stdin", stdin=password + "\n")
        return address

    def imap_login(self, user, password):
        """An authenticated IMAP session, or None when the server refuses the login."""
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=30)
        try:
            m.login(user, password)
            return m
        except imaplib.IMAP4.error:
            m.shutdown()
            return None

    def assert_login(self, user, password, works=True):
        m = self.imap_login(user, password)
        try:
            if works:
                self.assertIsNotNone(m, f"IMAP LOGIN {user} was refused")
            else:
                self.assertIsNone(m, f"IMAP LOGIN {user} succeeded but should be refused")
        finally:
            if m is not None:
                m.logout()

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=30)
        code, _ = s.ehlo()
        self.assertEqual(code, 250)
        return s

    def send(self, to, tag):
        msgid, body = message(to, tag)
        with self.smtp() as s:
            code, resp = s.mail("sender@client.test")
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(to)
            self.assertEqual(code, 250, resp)
            code, resp = s.data(body)
            self.assertEqual(code, 250, resp)
        return msgid

    def rcpt_code(self, to):
        with self.smtp() as s:
            code, resp = s.mail("sender@client.test")
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(to)
            s.rset()
            return code, resp

    def wait_for_message(self, user, password, msgid, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            m = self.imap_login(user, password)
            self.assertIsNotNone(m, f"IMAP LOGIN {user} was refused")
            try:
                typ, data = m.select("INBOX", readonly=True)
                self.assertEqual(typ, "OK", data)
                if int(data[0]) > 0:
                    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                    self.assertEqual(typ, "OK", data)
                    found = b"".join(part[1] for part in data if isinstance(part, tuple))
                    if msgid.encode() in found:
                        return
            finally:
                m.logout()
            if time.monotonic() > deadline:
                self.fail(f"{msgid} did not reach {user}'s INBOX within {timeout}s")
            time.sleep(0.5)

    def has_subcommand(self, group, verb=None):
        r = self.kitectl(group, "--help")
        if r.returncode != 0:
            return False
        return verb is None or re.search(rf"\b{re.escape(verb)}\b", r.stdout) is not None

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_new_user_logs_in_over_imap_and_receives_mail(self):
        user = self.add_user("alice", "alice-password-1")
        listed = self.ok("--json", "user", "list", DOMAIN).json()
        self.assertIn(user, [u["address"] for u in listed])
        self.assert_login(user, "alice-password-1")
        self.assert_login(user, "not-alices-password", works=False)
        msgid = self.send(user, "welcome")
        self.wait_for_message(user, "alice-password-1", msgid)

    @record_failure
    def test_passwd_refuses_the_old_password(self):
        user = self.add_user("bob", "bob-password-old")
        self.assert_login(user, "bob-password-old")
        self.ok("user", "passwd", user, "--password-stdin", stdin="bob-password-new\n")
        self.assert_login(user, "bob-password-old", works=False)
        self.assert_login(user, "bob-password-new")

    @record_failure
    def test_app_password_works_until_revoked(self):
        if not self.has_subcommand("app-password"):
            self.skipTest("kitectl has no app-password command yet (`kitectl app-password --help` fails)")
        user = self.add_user("carol", "carol-password-1")
        r = self.ok("--json", "app-password", "add", user, "phone")
        secret = self.generated_secret(r)
        self.assertNotEqual(secret, "carol-password-1")
        self.assert_login(user, secret)
        listed = self.ok("app-password", "list", user)
        self.assertIn("phone", listed.stdout)
        self.assertNotIn(secret, listed.stdout, "app-password list must not show the secret")
        self.ok("app-password", "revoke", user, "phone")
        self.assert_login(user, secret, works=False)
        self.assert_login(user, "carol-password-1")  # the account's own password is untouched
        self.refused("app-password", "revoke", user, "phone")  # already gone

    def generated_secret(self, result):
        """The app password kitectl printed: a JSON string field named like *password*."""
        try:
            doc = result.json()
        except ValueError:
            self.fail(f"app-password add --json did not print JSON: {result!r}")
        candidates = [v for k, v in doc.items() if isinstance(v, str) and "password" in k.lower() and v]
        self.assertEqual(len(candidates), 1, f"cannot tell the generated password in {doc}")
        return candidates[0]

    @record_failure
    def test_disabled_user_cannot_log_in_or_receive(self):
        if not self.has_subcommand("user", "disable"):
            self.skipTest("kitectl has no `user disable` yet (not in `kitectl user --help`)")
        user = self.add_user("dave", "dave-password-1")
        self.assert_login(user, "dave-password-1")
        self.ok("user", "disable", user)
        self.assert_login(user, "dave-password-1", works=False)
        code, resp = self.rcpt_code(user)
        self.assertEqual(code, 550, resp)
        self.ok("user", "enable", user)
        self.assert_login(user, "dave-password-1")
        code, resp = self.rcpt_code(user)
        self.assertEqual(code, 250, resp)

    @record_failure
    def test_refusals_are_one_clear_line(self):
        self.refused("domain", "add", DOMAIN, contains="already exists")
        user = self.add_user("erin", "erin-password-1")
        self.refused("user", "add", user, "--password-stdin", stdin="another-password\n", contains=user)
        self.refused("user", "add", "someone@unknown-domain.test", "--password-stdin", stdin="a-fine-password\n")
        self.refused("user", "add", f"frank@{DOMAIN}", "--password-stdin", stdin="short\n", contains="weak")
        self.refused("user", "add", f"frank@{DOMAIN}", "--password-stdin", stdin="\n", contains="empty")
        self.refused("user", "passwd", f"nobody@{DOMAIN}", "--password-stdin", stdin="a-fine-password\n")
        # Unknown local recipients are refused at RCPT, never bounced later.
        code, resp = self.rcpt_code(f"nobody@{DOMAIN}")
        self.assertEqual(code, 550, resp)


if __name__ == "__main__":
    unittest.main(verbosity=2)

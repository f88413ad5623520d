#!/usr/bin/python3
"""End-to-end: members of a shared mailbox reach it through kite-imap (issue 5, issue 6's
shared namespace), with the right asked of kite-auth on every command.

The whole suite is started by scripts/kite-local (tests/fixtures/kite_suite.py). Shared
mailbox team@example.test: alice and bob hold the read right, dave the write right, carol
nothing. A message to team@ goes in through kite-mta and lands in the shared account's INBOX,
which members see as "Shared/team@example.test/INBOX" (RFC 2342 shared namespace):
  a) NAMESPACE and CAPABILITY advertise the namespaces
  b) LIST/LSUB/STATUS show the shared mailbox to members only
  c) \\Seen set by alice is \\Seen for bob (same message, one flag state), without NOOP;
     the read right changes \\Seen only, the write right the other flags too
  d) carol gets NO [NOPERM] on SELECT/EXAMINE/STATUS, the same as for an address that does
     not exist, and sees nothing in LIST
  e) EXAMINE is read-only (no STORE, FETCH BODY[] does not set \\Seen)
  f) a revoked grant takes effect on the next command of an open session
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

PASSWORD = "shared-password-123"
TEAM = "team@example.test"
SHARED_INBOX = f"Shared/{TEAM}/INBOX"
ALICE, BOB, CAROL, DAVE = (f"{n}@example.test" for n in ("alice", "bob", "carol", "dave"))


class ImapShared(SuiteTestCase):
    prepared = False
    msgid = None

    # ------------------------------------------------------------------ helpers
    def prepare(self):
        """Users, the shared mailbox, grants and one message in its INBOX (once per class)."""
        if type(self).prepared:
            return
        for user in (ALICE, BOB, CAROL, DAVE):
            self.ok("user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
        self.ok("shared", "add", TEAM, "--name", "Team")
        self.ok("shared", "grant", TEAM, ALICE, "--read")
        self.ok("shared", "grant", TEAM, BOB, "--read")
        self.ok("shared", "grant", TEAM, DAVE, "--write")
        msgid = f"<shared.{uuid.uuid4().hex}@client.test>"
        body = ("From: Sender <sender@client.test>\r\n"
                f"To: Team <{TEAM}>\r\n"
                "Subject: for the team\r\n"
                f"Message-ID: {msgid}\r\n"
                "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
                "\r\n"
                "One copy, one read state.\r\n").encode("ascii")
        s = smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=30)
        try:
            s.ehlo()
            s.sendmail("sender@client.test", [TEAM], body)
        finally:
            s.quit()
        deadline = time.monotonic() + 60
        while True:
            m = self.login(ALICE)
            try:
                typ, data = m.status(SHARED_INBOX, "(MESSAGES)")
            finally:
                m.logout()
            if typ == "OK" and b"MESSAGES 1" in data[0]:
                break
            self.assertLess(time.monotonic(), deadline, f"not delivered to {TEAM} in 60 s: {typ} {data}")
            time.sleep(0.5)
        type(self).msgid = msgid
        type(self).prepared = True

    def login(self, user):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=30)
        typ, data = m.login(user, PASSWORD)
        self.assertEqual(typ, "OK", data)
        return m

    def list_names(self, m, ref, pattern, command="LIST"):
        typ, data = (m.lsub if command == "LSUB" else m.list)(ref, pattern)
        self.assertEqual(typ, "OK", data)
        out = {}
        for line in data:
            if line is None:
                continue
            match = re.match(rb'\((.*?)\) "/" "?([^"]*)"?$', line)
            self.assertTrue(match, line)
            out[match.group(2).decode()] = match.group(1).decode().split()
        return out

    def flags(self, m, seq="1"):
        """The stored flags as this session sees them (\\Recent, a session flag, left out)."""
        typ, data = m.fetch(seq, "(FLAGS)")
        self.assertEqual(typ, "OK", data)
        match = re.search(rb"FLAGS \(([^)]*)\)", data[0])
        self.assertTrue(match, data)
        return set(match.group(1).decode().split()) - {"\\Recent"}

    def response_code(self, typ, data):
        self.assertEqual(typ, "NO", data)
        return data[0].decode()

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_a_namespace(self):
        self.prepare()
        m = self.login(ALICE)
        try:
            typ, data = m.capability()
            self.assertIn(b"NAMESPACE", data[0].split())
            typ, data = m.namespace()
            self.assertEqual(typ, "OK", data)
            self.assertEqual(data[0], b'(("" "/")) NIL (("Shared/" "/"))')
        finally:
            m.logout()

    @record_failure
    def test_b_list_and_status_show_members_the_shared_mailbox(self):
        self.prepare()
        m = self.login(ALICE)
        try:
            names = self.list_names(m, '""', "*")
            self.assertIn("INBOX", names)
            self.assertEqual(names["Shared"], ["\\Noselect", "\\HasChildren"])
            self.assertEqual(names[f"Shared/{TEAM}"], ["\\Noselect", "\\HasChildren"])
            self.assertEqual(names[SHARED_INBOX], ["\\HasNoChildren"])
            self.assertIn(f"Shared/{TEAM}/Sent", names)
            top = self.list_names(m, '""', "%")
            self.assertIn("Shared", top)
            self.assertNotIn(SHARED_INBOX, top)
            self.assertEqual(set(self.list_names(m, "Shared/", "%")), {f"Shared/{TEAM}"})
            self.assertEqual(set(self.list_names(m, '""', "Shared/%/INBOX")), {SHARED_INBOX})
            self.assertIn(SHARED_INBOX, self.list_names(m, '""', "*", command="LSUB"))
            typ, data = m.status(SHARED_INBOX, "(MESSAGES UNSEEN UIDNEXT)")
            self.assertEqual(typ, "OK", data)
            self.assertRegex(data[0], rb"MESSAGES 1 UNSEEN \d+ UIDNEXT \d+")
            # The \Noselect levels cannot be selected; an unknown mailbox of a readable
            # shared mailbox is simply nonexistent.
            self.assertIn("[CANNOT]", self.response_code(*m.select(f"Shared/{TEAM}")))
            self.assertIn("[NONEXISTENT]", self.response_code(*m.select(f"Shared/{TEAM}/Nothing")))
        finally:
            m.logout()

    @record_failure
    def test_c_seen_by_one_member_is_seen_for_the_others(self):
        self.prepare()
        bob = self.login(BOB)
        alice = self.login(ALICE)
        try:
            typ, data = bob.select(SHARED_INBOX)
            self.assertEqual(typ, "OK", data)
            self.assertEqual(data[0], b"1")
            self.assertEqual(bob.response("PERMANENTFLAGS")[1][0], b"(\\Seen)")
            bob.store("1", "-FLAGS", "(\\Seen)")  # a clean start whatever ran before
            self.assertNotIn("\\Seen", self.flags(bob))

            typ, data = alice.select(SHARED_INBOX)
            self.assertEqual(typ, "OK", data)
            typ, data = alice.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            self.assertEqual(typ, "OK", data)
            self.assertIn(self.msgid.encode(), data[0][1])
            typ, data = alice.store("1", "+FLAGS", "(\\Seen)")
            self.assertEqual(typ, "OK", data)
            self.assertIn(b"\\Seen", data[0])

            # Bob's open session: the next FETCH FLAGS shows it, no NOOP or IDLE needed.
            self.assertIn("\\Seen", self.flags(bob))
            # A fresh session and STATUS agree.
            carl = self.login(BOB)
            try:
                typ, data = carl.status(SHARED_INBOX, "(UNSEEN)")
                self.assertEqual(typ, "OK", data)
                self.assertIn(b"UNSEEN 0", data[0])
            finally:
                carl.logout()

            # The read right changes \Seen only: \Flagged alone is refused, mixed is trimmed.
            typ, data = alice.store("1", "+FLAGS", "(\\Flagged)")
            self.assertIn("[NOPERM]", self.response_code(typ, data))
            typ, data = alice.store("1", "FLAGS", "(\\Flagged)")  # replace: clears \Seen only
            self.assertEqual(typ, "OK", data)
            self.assertEqual(self.flags(bob), set())
            typ, data = alice.store("1", "+FLAGS", "(\\Seen \\Flagged)")
            self.assertEqual(typ, "OK", data)
            self.assertEqual(self.flags(bob), {"\\Seen"})

            # The write right changes the others; every member sees them.
            dave = self.login(DAVE)
            try:
                typ, data = dave.select(SHARED_INBOX)
                self.assertEqual(typ, "OK", data)
                self.assertIn(b"\\*", dave.response("PERMANENTFLAGS")[1][0])
                typ, data = dave.uid("STORE", "1", "+FLAGS.SILENT", "(\\Flagged)")
                self.assertEqual(typ, "OK", data)
            finally:
                dave.logout()
            self.assertEqual(self.flags(alice), {"\\Seen", "\\Flagged"})
            # NOOP reports the change unasked too.
            typ, data = alice.store("1", "-FLAGS.SILENT", "(\\Seen)")
            self.assertEqual(typ, "OK", data)
            typ, data = bob.noop()
            self.assertEqual(typ, "OK", data)
            fetched = bob.response("FETCH")[1]
            # (Bob's session SELECTed the message first: \Recent is his.)
            self.assertTrue(any(re.match(rb"1 \((UID \d+ )?FLAGS \(\\Flagged( \\Recent)?\)\)", x) for x in fetched),
                            fetched)
        finally:
            alice.logout()
            bob.logout()

    @record_failure
    def test_d_no_right_is_noperm_and_invisible(self):
        self.prepare()
        m = self.login(CAROL)
        try:
            names = self.list_names(m, '""', "*")
            self.assertNotIn("Shared", names)
            self.assertFalse([n for n in names if n.startswith("Shared/")], names)
            answers = set()
            for box in (SHARED_INBOX, "Shared/nobody@example.test/INBOX", "Shared/nowhere.test/INBOX"):
                for typ, data in (m.select(box), m.select(box, readonly=True), m.status(box, "(MESSAGES)")):
                    code = self.response_code(typ, data)
                    self.assertTrue(code.startswith("[NOPERM]"), code)
                    answers.add(code)
            # No existence leak: one answer for "not yours" and "does not exist".
            self.assertEqual(len(answers), 1, answers)
            self.assertIn("[NOPERM]", self.response_code(*m.select(f"Shared/{TEAM}")))
            # Carol's own mailboxes are untouched by all this.
            typ, data = m.select("INBOX")
            self.assertEqual(typ, "OK", data)
        finally:
            m.logout()

    @record_failure
    def test_e_examine_is_read_only(self):
        self.prepare()
        dave = self.login(DAVE)
        bob = self.login(BOB)
        try:
            typ, data = dave.select(SHARED_INBOX)
            self.assertEqual(typ, "OK", data)
            typ, data = dave.store("1", "-FLAGS", "(\\Seen)")
            self.assertEqual(typ, "OK", data)
            typ, data = bob.select(SHARED_INBOX, readonly=True)
            self.assertEqual(typ, "OK", data)
            typ, data = bob.store("1", "+FLAGS", "(\\Seen)")
            self.assertEqual(typ, "NO", data)
            typ, data = bob.fetch("1", "(BODY[])")
            self.assertEqual(typ, "OK", data)
            self.assertIn(self.msgid.encode(), data[0][1])
            self.assertNotIn("\\Seen", self.flags(dave))
        finally:
            dave.logout()
            bob.logout()

    @record_failure
    def test_f_revoked_grant_applies_to_the_next_command(self):
        self.prepare()
        m = self.login(ALICE)
        try:
            typ, data = m.select(SHARED_INBOX)
            self.assertEqual(typ, "OK", data)
            self.flags(m)
            self.ok("shared", "revoke", TEAM, ALICE, "--read")
            typ, data = m.fetch("1", "(FLAGS)")
            self.assertIn("[NOPERM]", self.response_code(typ, data))
            self.assertFalse(data[1:], data)  # no data with the refusal
            typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
            self.assertIn("[NOPERM]", self.response_code(typ, data))
            typ, data = m.store("1", "+FLAGS", "(\\Seen)")
            self.assertIn("[NOPERM]", self.response_code(typ, data))
            typ, data = m.noop()  # NOOP still succeeds, without updates
            self.assertEqual(typ, "OK", data)
            self.assertFalse([n for n in self.list_names(m, '""', "*") if n.startswith("Shared")])
            self.assertIn("[NOPERM]", self.response_code(*m.status(SHARED_INBOX, "(MESSAGES)")))
            self.assertIn("[NOPERM]", self.response_code(*m.select(SHARED_INBOX)))
        finally:
            m.logout()
            self.ok("shared", "grant", TEAM, ALICE, "--read")


if __name__ == "__main__":
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""End-to-end: the model-checking IMAP stress client (tests/fixtures/imap_stress.py, issue 18:
"a stress client of our own ... that runs many concurrent sessions on shared mailboxes and
checks every reply against a model of the mailbox") against kite-imap, briefly, plus the
violations it found, each reproduced on its own over real sockets:

  a a few seconds of mixed load (3 accounts x 3 sessions, some with EXAMINE, a deliverer that
    APPENDs and sends by SMTP): no violation of any kind (flags announced before use, EXPUNGE
    only of known messages, UIDs and MODSEQs rising, counts consistent, no BAD, no drop, and
    after a NOOP every session's model equals a fresh FETCH);
  b MOVE by sequence number after another session expunged messages this one has not been
    told of: the numbers are read against the session's view, so the message the client named
    is the one moved, and the session hears of every expunge (RFC 3501 7.4.1, RFC 6851); it
    was answered "BAD Message sequence number out of range" after EXPUNGEs that renumbered the
    view under the command;
  c an expunge held back during a FETCH (RFC 3501 7.4.1) is announced by the next NOOP even
    when the only change since is in another mailbox; it was kept until this mailbox changed
    again, so NOOP hid an expunge the server knew of (and SEARCH ALL left the message out);
  d STORE .SILENT racing another session's STORE on the same message: the flags the other
    session added reach this one (a FETCH, as for any change from elsewhere); they were
    recorded silently with the store's result and never told.

The longer run is on demand against any running Kite (scripts/kite-local up), e.g.
  python3 tests/fixtures/imap_stress.py --port 2993 --smtp-port 2525 --create-users 4 \\
      --kitectl build/bin/kitectl --config var/local/kite.yaml --sessions 5 --seconds 300
(IMAP_STRESS_SECONDS lengthens the run here; the default is 8 s: CI has 2 cores and ASan; not
KITE_*: the daemons refuse unknown KITE_ variables).
The whole suite is started by scripts/kite-local (tests/fixtures/kite_suite.py). Never uses DNS:
every address is 127.0.0.1 and every domain ends in .test. Nothing asserts on time: the
seconds only bound the load.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402
from imap_client import ImapAccounts, message  # noqa: E402
import imap_stress  # noqa: E402

SECONDS = float(os.environ.get("IMAP_STRESS_SECONDS", "8"))


class ImapStress(ImapAccounts, SuiteTestCase):
    PASSWORD = "imap-stress-password-123"

    def ok_cmd(self, r, text):
        untagged, tagged = r.cmd(text)
        self.assertRegex(tagged, rb"^r\d+ OK", (text, untagged, tagged))
        return untagged, tagged

    # ------------------------------------------------------------------ a: the stress client
    @record_failure
    def test_a_stress_client_finds_no_violation(self):
        users = [self.user() for _ in range(3)]
        cfg = imap_stress.Config(port=self.port("imap_tls"), users=users, password=self.PASSWORD, sessions=3,
                                 deliverers=1, seconds=SECONDS, smtp_port=self.port("smtp"), trace=30)
        imap_stress.prepare(cfg)
        report = imap_stress.run(cfg)
        summary = report.summary(examples=2)
        print(summary, file=sys.stderr)
        self.assertGreater(report.total_commands(), 0, summary)
        self.assertEqual(dict(report.by_kind), {}, summary)

    # ------------------------------------------------------------------ b: MOVE by number
    @record_failure
    def test_b_move_by_sequence_number_after_expunges_elsewhere(self):
        user = self.user()
        c = self.login(user)
        try:
            for i in range(1, 5):
                self.append(c, "INBOX", message(f"move-{i}"))
            self.assertEqual(c.create("Dest")[0], "OK")
        finally:
            c.logout()
        a, b = self.raw(user), self.raw(user)
        try:
            untagged, _ = self.ok_cmd(a, "SELECT INBOX")
            self.assertIn(b"* 4 EXISTS", untagged)
            self.ok_cmd(b, "SELECT INBOX")
            # b expunges 1 and 4; a has not been told.
            self.ok_cmd(b, "STORE 1,4 +FLAGS.SILENT (\\Deleted)")
            self.ok_cmd(b, "EXPUNGE")
            time.sleep(1)  # lets the change notification reach a's session (not a timing assertion)
            # a moves its message 3 (move-3): number 3 of the view a knows.
            untagged, tagged = a.cmd("MOVE 3 Dest")
            self.assertRegex(tagged, rb"^r\d+ OK", (untagged, tagged))
            expunged = [int(m.group(1)) for m in (re.match(rb"^\* (\d+) EXPUNGE$", u) for u in untagged) if m]
            # Each EXPUNGE number valid when sent: from a count of 4 down, and three in all
            # (message 3 moved, 1 and 4 expunged by b) unless b's arrive later.
            count = 4
            for n in expunged:
                self.assertTrue(1 <= n <= count, (n, count, untagged))
                count -= 1
            untagged, _ = self.ok_cmd(a, "NOOP")
            count -= sum(1 for u in untagged if re.match(rb"^\* \d+ EXPUNGE$", u))
            self.assertEqual(count, 1, untagged)
            untagged, _ = self.ok_cmd(a, "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertIn(b"move-2", b"\n".join(untagged))
            self.ok_cmd(a, "SELECT Dest")
            untagged, _ = self.ok_cmd(a, "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects = re.findall(rb"Subject: (\S+)", b"\n".join(untagged))
            self.assertEqual(subjects, [b"move-3"], untagged)
        finally:
            a.close()
            b.close()

    # ------------------------------------------------------------------ c: held-back expunges
    @record_failure
    def test_c_noop_announces_an_expunge_held_back_during_fetch(self):
        user = self.user()
        c = self.login(user)
        try:
            for i in range(1, 4):
                self.append(c, "INBOX", message(f"held-{i}"))
            self.assertEqual(c.create("Other")[0], "OK")
        finally:
            c.logout()
        a, b = self.raw(user), self.raw(user)
        try:
            self.ok_cmd(a, "SELECT INBOX")
            self.ok_cmd(b, "SELECT INBOX")
            self.ok_cmd(b, "STORE 2 +FLAGS.SILENT (\\Deleted)")
            self.ok_cmd(b, "EXPUNGE")
            time.sleep(1)  # lets the change notification reach a's session (not a timing assertion)
            # FETCH learns of the expunge but may not announce it.
            untagged, _ = self.ok_cmd(a, "FETCH 1 (FLAGS)")
            self.assertFalse([u for u in untagged if u.endswith(b" EXPUNGE")], untagged)
            # Then only another mailbox changes.
            self.ok_cmd(b, "APPEND Other {%d+}\r\n" % len(message("elsewhere")) + message("elsewhere").decode())
            time.sleep(1)
            untagged, _ = self.ok_cmd(a, "NOOP")
            self.assertIn(b"* 2 EXPUNGE", untagged)
            untagged, _ = self.ok_cmd(a, "SEARCH ALL")
            self.assertIn(b"* SEARCH 1 2", untagged)
        finally:
            a.close()
            b.close()

    # ------------------------------------------------------------------ d: .SILENT races
    @record_failure
    def test_d_silent_store_racing_another_store_still_tells_its_flags(self):
        user = self.user()
        c = self.login(user)
        try:
            self.append(c, "INBOX", message("race"))
        finally:
            c.logout()
        a, b = self.raw(user), self.raw(user)
        try:
            self.ok_cmd(a, "SELECT INBOX")
            self.ok_cmd(b, "SELECT INBOX")
            known = set()  # a's idea of message 1's flags, from what it was told and asked

            def learn(untagged):
                for line in untagged:
                    m = re.match(rb"^\* 1 FETCH \(.*FLAGS \(([^)]*)\)", line)
                    if m:
                        known.clear()
                        known.update(f.lower() for f in m.group(1).split() if f.lower() != b"\\recent")

            for i in range(30):
                # b's STORE and a's STORE .SILENT sent together: a's may land after b's commit
                # and before a hears of it.
                a.n += 1
                b.n += 1
                tag_a, tag_b = b"r%d" % a.n, b"r%d" % b.n
                b.send(tag_b + b" STORE 1 +FLAGS (race%d)\r\n" % i)
                a.send(tag_a + b" STORE 1 %s.SILENT (\\Flagged)\r\n" % (b"+FLAGS" if i % 2 == 0 else b"-FLAGS"))
                b.until(tag_b)
                untagged, tagged = a.until(tag_a)
                self.assertIn(b" OK", tagged)
                learn(untagged)
                if i % 2 == 0:
                    known.add(b"\\flagged")
                else:
                    known.discard(b"\\flagged")
                untagged, _ = self.ok_cmd(a, "NOOP")
                learn(untagged)
                truth = set()
                untagged, _ = self.ok_cmd(b, "FETCH 1 (FLAGS)")
                m = re.match(rb"^\* 1 FETCH \(FLAGS \(([^)]*)\)\)", untagged[-1])
                truth = {f.lower() for f in m.group(1).split() if f.lower() != b"\\recent"}
                self.assertEqual(known, truth, f"try {i}: a was never told of some flags")
        finally:
            a.close()
            b.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

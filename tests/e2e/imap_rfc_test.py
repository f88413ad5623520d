#!/usr/bin/python3
"""End-to-end: kite-imap's replies where RFC 3501 and its extensions say exactly what a
session must see (issue 18 section 3, "exact replies"), over real sockets:

  a a keyword new to the mailbox is announced with FLAGS and PERMANENTFLAGS in every session
    that has it selected (the one that made the change, others on NOOP and in IDLE) before any
    FETCH shows it (RFC 3501 7.2.6, 2.3.2);
  b \\Recent: RECENT counts on SELECT and when messages arrive, the flag in exactly one session,
    SEARCH RECENT/NEW/OLD, STATUS RECENT, and \\Recent on messages arriving by APPEND, COPY and
    MOVE; never stored, never in PERMANENTFLAGS (RFC 3501 2.3.2, 6.3.1, 6.3.2, 7.3.2);
  c a mailbox deleted and created again gets a greater UIDVALIDITY (RFC 3501 2.3.1.1);
  d a subscription outlives its mailbox: LSUB \\Noselect, LIST (SUBSCRIBED) \\NonExistent
    \\Subscribed (RFC 3501 6.3.6, 6.3.9; RFC 5258 3.1);
  e NIL where an astring goes is the mailbox name "NIL", and malformed commands get BAD while
    the session goes on (RFC 3501 9);
  f CONDSTORE enabled by FETCH MODSEQ, CHANGEDSINCE and SEARCH MODSEQ, with HIGHESTMODSEQ at
    once; ESEARCH with MODSEQ (RFC 7162 3.1, 3.1.5; RFC 4731).

The whole suite is started by scripts/kite-local (tests/fixtures/kite_suite.py); each test
uses its own account. Never uses DNS: every address is 127.0.0.1 and every domain ends in
.test. Every wait is bounded; nothing asserts on time.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402
from imap_client import ImapAccounts, message  # noqa: E402

PASSWORD = "imap-rfc-password-123"


def index_of(lines, pattern):
    """Index of the first line matching `pattern` (bytes regex), or -1."""
    for i, line in enumerate(lines):
        if re.search(pattern, line):
            return i
    return -1


def search_numbers(untagged):
    for line in untagged:
        if line.startswith(b"* SEARCH"):
            return [int(x) for x in line.split()[2:]]
    raise AssertionError(f"no SEARCH response in {untagged}")


def flags_of(untagged, number):
    for line in untagged:
        m = re.match(rb"\* %d FETCH \(.*FLAGS \(([^)]*)\)" % number, line)
        if m:
            return set(m.group(1).split())
    raise AssertionError(f"no FETCH FLAGS for {number} in {untagged}")


class ImapRfc(ImapAccounts, SuiteTestCase):
    PASSWORD = PASSWORD

    # ------------------------------------------------------------------ helpers



    def append(self, m, mailbox, msg, flags=None):
        typ, data = m.append(mailbox, flags, None, msg)
        self.assertEqual(typ, "OK", data)

    def ok_cmd(self, r, text):
        untagged, tagged = r.cmd(text)
        self.assertRegex(tagged, rb"^r\d+ OK", (text, untagged, tagged))
        return untagged, tagged

    def assert_announced_before_fetch(self, untagged, keyword):
        """FLAGS and PERMANENTFLAGS naming `keyword` come before the first FETCH showing it."""
        kw = re.escape(keyword)
        flags = index_of(untagged, rb"^\* FLAGS \(.*\b" + kw + rb"\b")
        permanent = index_of(untagged, rb"^\* OK \[PERMANENTFLAGS \(.*\b" + kw + rb"\b.*\\\*\)\]")
        fetch = index_of(untagged, rb"^\* \d+ FETCH .*\b" + kw + rb"\b")
        self.assertNotEqual(flags, -1, untagged)
        self.assertNotEqual(permanent, -1, untagged)
        if fetch != -1:
            self.assertLess(flags, fetch, untagged)
            self.assertLess(permanent, fetch, untagged)

    def idle_lines_until(self, r, pattern, timeout=60):
        """Lines IDLE sends until one matches `pattern` (bounded)."""
        lines = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = r.line()
            lines.append(line)
            if re.search(pattern, line):
                return lines
        self.fail(f"no {pattern!r} during IDLE: {lines}")

    # ------------------------------------------------------------------ a: keywords
    @record_failure
    def test_a_new_keyword_is_announced_in_every_session(self):
        user = self.user()
        c = self.login(user)
        a, b = self.raw(user), self.raw(user)
        try:
            self.append(c, "INBOX", message("one"))
            self.append(c, "INBOX", message("two"))
            untagged, _ = self.ok_cmd(a, "SELECT INBOX")
            self.assertIn(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)", untagged)
            self.ok_cmd(b, "SELECT INBOX")
            # The session that stores the new keyword.
            untagged, _ = self.ok_cmd(a, "STORE 1 +FLAGS (newkw)")
            self.assert_announced_before_fetch(untagged, b"newkw")
            self.assertNotEqual(index_of(untagged, rb"^\* 1 FETCH .*newkw"), -1, untagged)
            # Another session, on NOOP.
            untagged, _ = self.ok_cmd(b, "NOOP")
            self.assert_announced_before_fetch(untagged, b"newkw")
            self.assertNotEqual(index_of(untagged, rb"^\* 1 FETCH .*newkw"), -1, untagged)
            # Known now: using it again announces nothing new.
            untagged, _ = self.ok_cmd(a, "STORE 2 +FLAGS (newkw)")
            self.assertEqual(index_of(untagged, rb"^\* FLAGS"), -1, untagged)
            # Another session in IDLE; .SILENT still announces the keyword to the storer.
            b.send(b"i1 IDLE\r\n")
            self.assertTrue(b.line().startswith(b"+"))
            untagged, _ = self.ok_cmd(a, "STORE 2 +FLAGS.SILENT (idlekw)")
            self.assert_announced_before_fetch(untagged, b"idlekw")
            lines = self.idle_lines_until(b, rb"^\* 2 FETCH .*idlekw")
            self.assert_announced_before_fetch(lines, b"idlekw")
            b.send(b"DONE\r\n")
            _, tagged = b.until(b"i1")
            self.assertIn(b"OK", tagged)
            # APPEND with a new keyword (another connection): announced with the new message,
            # before the FETCH that would show it.
            self.append(c, "INBOX", message("three"), "(appendkw)")
            untagged, _ = self.ok_cmd(a, "NOOP")
            self.assert_announced_before_fetch(untagged, b"appendkw")
            untagged, _ = self.ok_cmd(a, "FETCH 3 (FLAGS)")
            self.assertIn(b"appendkw", flags_of(untagged, 3))
            untagged, _ = self.ok_cmd(b, "NOOP")
            self.assert_announced_before_fetch(untagged, b"appendkw")
            self.assertIn(b"appendkw", flags_of(self.ok_cmd(b, "FETCH 3 (FLAGS)")[0], 3))
            # A new session gets every keyword in use at SELECT.
            d = self.raw(user)
            try:
                untagged, _ = self.ok_cmd(d, "EXAMINE INBOX")
                flags_line = untagged[index_of(untagged, rb"^\* FLAGS")]
                for kw in (b"newkw", b"idlekw", b"appendkw"):
                    self.assertIn(kw, flags_line)
                self.assertIn(b"* OK [PERMANENTFLAGS ()] Flags permitted", untagged)  # EXAMINE: nothing permanent
            finally:
                d.close()
        finally:
            a.close()
            b.close()
            c.logout()

    # ------------------------------------------------------------------ b: \Recent
    @record_failure
    def test_b_recent_in_exactly_one_session(self):
        user = self.user()
        c = self.login(user)
        a, b, e = self.raw(user), self.raw(user), self.raw(user)
        try:
            self.append(c, "INBOX", message("one"))
            self.append(c, "INBOX", message("two"))
            self.assertIn(b"RECENT 2", c.status("INBOX", "(RECENT)")[1][0])
            # EXAMINE looks without taking \Recent away (RFC 3501 6.3.2).
            untagged, _ = self.ok_cmd(e, "EXAMINE INBOX")
            self.assertIn(b"* 2 RECENT", untagged)
            # The first SELECT gets both, the second none.
            untagged, _ = self.ok_cmd(a, "SELECT INBOX")
            self.assertIn(b"* 2 EXISTS", untagged)
            self.assertIn(b"* 2 RECENT", untagged)
            permanent = untagged[index_of(untagged, rb"PERMANENTFLAGS")]
            self.assertNotIn(b"\\Recent", permanent)
            untagged, _ = self.ok_cmd(b, "SELECT INBOX")
            self.assertIn(b"* 0 RECENT", untagged)
            self.assertIn(b"RECENT 0", c.status("INBOX", "(RECENT)")[1][0])
            untagged, _ = self.ok_cmd(a, "FETCH 1:2 (FLAGS)")
            self.assertIn(b"\\Recent", flags_of(untagged, 1))
            self.assertIn(b"\\Recent", flags_of(untagged, 2))
            untagged, _ = self.ok_cmd(b, "FETCH 1:2 (FLAGS)")
            self.assertNotIn(b"\\Recent", flags_of(untagged, 1))
            # SEARCH RECENT / NEW / OLD.
            self.assertEqual(search_numbers(self.ok_cmd(a, "SEARCH RECENT")[0]), [1, 2])
            self.ok_cmd(a, "STORE 1 +FLAGS.SILENT (\\Seen)")
            self.assertEqual(search_numbers(self.ok_cmd(a, "SEARCH NEW")[0]), [2])
            self.assertEqual(search_numbers(self.ok_cmd(a, "SEARCH OLD")[0]), [])
            self.assertEqual(search_numbers(self.ok_cmd(b, "SEARCH RECENT")[0]), [])
            self.assertEqual(search_numbers(self.ok_cmd(b, "SEARCH OLD")[0]), [1, 2])
            # A stored flag list keeps \Recent in the session; \Recent itself cannot be stored.
            untagged, _ = self.ok_cmd(a, "STORE 2 FLAGS (\\Draft)")
            self.assertEqual(flags_of(untagged, 2), {b"\\Draft", b"\\Recent"})
            _, tagged = a.cmd("STORE 2 +FLAGS (\\Recent)")
            self.assertIn(b"BAD", tagged)
            untagged, _ = self.ok_cmd(b, "FETCH 2 (FLAGS)")
            self.assertEqual(flags_of(untagged, 2), {b"\\Draft"})
            # A new message: RECENT with EXISTS in the session that sees it first, 0 in the other.
            self.append(c, "INBOX", message("three"))
            self.assertIn(b"RECENT 1", c.status("INBOX", "(RECENT)")[1][0])
            untagged, _ = self.ok_cmd(b, "NOOP")
            self.assertIn(b"* 3 EXISTS", untagged)
            self.assertIn(b"* 1 RECENT", untagged)
            untagged, _ = self.ok_cmd(a, "NOOP")
            self.assertIn(b"* 3 EXISTS", untagged)
            self.assertIn(b"* 2 RECENT", untagged)
            self.assertIn(b"\\Recent", flags_of(self.ok_cmd(b, "FETCH 3 (FLAGS)")[0], 3))
            self.assertNotIn(b"\\Recent", flags_of(self.ok_cmd(a, "FETCH 3 (FLAGS)")[0], 3))
            # APPEND into the selected mailbox: \Recent for the appending session.
            four = message("four")
            self.ok_cmd(a, b"APPEND INBOX {%d+}\r\n%s" % (len(four), four))
            self.assertIn(b"\\Recent", flags_of(self.ok_cmd(a, "FETCH 4 (FLAGS)")[0], 4))
            self.ok_cmd(b, "NOOP")
            untagged, _ = self.ok_cmd(b, "FETCH 4 (FLAGS)")
            self.assertNotIn(b"\\Recent", flags_of(untagged, 4))
            # COPY into the selected mailbox: \Recent for the copying session (its own sync).
            untagged, _ = self.ok_cmd(b, "COPY 1 INBOX")
            self.assertIn(b"\\Recent", flags_of(self.ok_cmd(b, "FETCH 5 (FLAGS)")[0], 5))
            self.ok_cmd(a, "NOOP")
            self.assertNotIn(b"\\Recent", flags_of(self.ok_cmd(a, "FETCH 5 (FLAGS)")[0], 5))
            # COPY and MOVE into another mailbox: \Recent for the first session there.
            self.assertEqual(c.create("Other")[0], "OK")
            self.ok_cmd(a, "COPY 1 Other")
            self.ok_cmd(a, "MOVE 2 Other")
            self.assertIn(b"RECENT 2", c.status("Other", "(RECENT)")[1][0])
            untagged, _ = self.ok_cmd(e, "SELECT Other")
            self.assertIn(b"* 2 RECENT", untagged)
            untagged, _ = self.ok_cmd(e, "FETCH 1:2 (FLAGS)")
            self.assertIn(b"\\Recent", flags_of(untagged, 1))
            self.assertIn(b"\\Recent", flags_of(untagged, 2))
            # \Recent is never stored: another session sees the copies without it.
            untagged, _ = self.ok_cmd(b, "EXAMINE Other")
            self.assertIn(b"* 0 RECENT", untagged)
            untagged, _ = self.ok_cmd(b, "FETCH 1:2 (FLAGS)")
            self.assertNotIn(b"\\Recent", flags_of(untagged, 1) | flags_of(untagged, 2))
        finally:
            for r in (a, b, e):
                r.close()
            c.logout()

    # ------------------------------------------------------------------ c: UIDVALIDITY
    @record_failure
    def test_c_recreated_mailbox_gets_a_new_uidvalidity(self):
        user = self.user()
        r = self.raw(user)
        try:
            seen = []
            for _ in range(3):
                self.ok_cmd(r, "CREATE Again")
                untagged, _ = self.ok_cmd(r, "SELECT Again")
                seen.append(int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(untagged)).group(1)))
                self.ok_cmd(r, "UNSELECT")
                self.ok_cmd(r, "DELETE Again")
            self.assertEqual(seen, sorted(set(seen)), seen)  # strictly rising, within a second
        finally:
            r.close()

    # ------------------------------------------------------------------ d: subscriptions
    @record_failure
    def test_d_subscription_outlives_its_mailbox(self):
        user = self.user()
        r = self.raw(user)
        try:
            self.ok_cmd(r, "CREATE Lists")
            self.ok_cmd(r, "SUBSCRIBE Lists")
            self.ok_cmd(r, "DELETE Lists")
            untagged, _ = self.ok_cmd(r, 'LSUB "" "*"')
            self.assertIn(b'* LSUB (\\Noselect) "/" Lists', untagged)
            untagged, _ = self.ok_cmd(r, 'LIST (SUBSCRIBED) "" "*"')
            line = untagged[index_of(untagged, rb'"/" Lists$')]
            self.assertIn(b"\\NonExistent", line)
            self.assertIn(b"\\Subscribed", line)
            # A plain LIST shows only mailboxes that exist.
            untagged, _ = self.ok_cmd(r, 'LIST "" "*"')
            self.assertEqual(index_of(untagged, rb'"/" Lists$'), -1, untagged)
            # Subscribing again is fine; created again, the mailbox is subscribed and selectable.
            self.ok_cmd(r, "SUBSCRIBE Lists")
            self.ok_cmd(r, "CREATE Lists")
            untagged, _ = self.ok_cmd(r, 'LSUB "" "Lists"')
            self.assertEqual(untagged, [b'* LSUB () "/" Lists'])
            # Unsubscribed after the DELETE, it is gone for good.
            self.ok_cmd(r, "DELETE Lists")
            self.ok_cmd(r, "UNSUBSCRIBE Lists")
            untagged, _ = self.ok_cmd(r, 'LSUB "" "*"')
            self.assertEqual(index_of(untagged, rb'"/" Lists$'), -1, untagged)
        finally:
            r.close()

    # ------------------------------------------------------------------ e: NIL and bad input
    @record_failure
    def test_e_nil_is_a_mailbox_name_and_bad_input_never_drops_the_session(self):
        user = self.user()
        r = self.raw(user)
        try:
            untagged, _ = self.ok_cmd(r, 'LIST "" NIL')
            self.assertEqual(untagged, [])
            _, tagged = r.cmd("SELECT NIL")
            self.assertIn(b"NO [NONEXISTENT]", tagged)
            self.ok_cmd(r, "CREATE NIL")
            untagged, _ = self.ok_cmd(r, 'LIST "" NIL')
            self.assertEqual(len(untagged), 1, untagged)
            self.assertTrue(untagged[0].endswith(b'"/" "NIL"'), untagged)  # quoted: not nil
            untagged, _ = self.ok_cmd(r, "SELECT NIL")
            self.assertIn(b"* 0 EXISTS", untagged)
            self.ok_cmd(r, "STATUS NIL (MESSAGES)")
            self.ok_cmd(r, "UNSELECT")
            self.ok_cmd(r, "DELETE NIL")
            # Malformed commands: each gets BAD (or NO), the connection stays.
            for bad in (b")", b"a", b"LIST \"\" (", b"SELECT \"unterminated", b"FETCH 1:* (FLAGS",
                        b"LIST \"\" \"x\" RETURN", b"STORE (x) FLAGS", b"SEARCH CHARSET", b"SELECT INBOX (",
                        b"APPEND INBOX (\\Seen) \"bad date\" {1+}\r\nx", b"X\x00Y", b"LOGIN \xff\xfe",
                        b"UID", b"UID BOGUS 1", b"ENABLE", b"COPY 1", b"   ", b"LIST NIL NIL NIL NIL"):
                untagged, tagged = r.cmd(bad)
                self.assertRegex(tagged, rb"^r\d+ (BAD|NO) ", (bad, untagged, tagged))
                self.ok_cmd(r, "NOOP")
            self.ok_cmd(r, "SELECT INBOX")
        finally:
            r.close()

    # ------------------------------------------------------------------ f: CONDSTORE
    @record_failure
    def test_f_condstore_enabled_by_modseq_and_esearch_modseq(self):
        user = self.user()
        c = self.login(user)
        try:
            for i in range(3):
                self.append(c, "INBOX", message(f"m{i}"))
            r = self.raw(user)
            try:
                untagged, tagged = self.ok_cmd(r, "SELECT INBOX")
                highest = int(re.search(rb"\* OK \[HIGHESTMODSEQ (\d+)\]", b"\n".join(untagged)).group(1))
                self.assertIn(b"[READ-WRITE]", tagged)
                untagged, _ = self.ok_cmd(r, "FETCH 1 (FLAGS)")
                self.assertNotIn(b"MODSEQ", untagged[0])
                # FETCH MODSEQ enables CONDSTORE: the HIGHESTMODSEQ at once, MODSEQ from now on.
                untagged, _ = self.ok_cmd(r, "FETCH 1 (MODSEQ)")
                self.assertEqual(untagged[0], b"* OK [HIGHESTMODSEQ %d] Highest" % highest, untagged)
                self.assertRegex(untagged[1], rb"^\* 1 FETCH \(MODSEQ \(\d+\)\)$")
                untagged, _ = self.ok_cmd(r, "FETCH 2 (FLAGS)")
                self.assertRegex(untagged[0], rb"MODSEQ \(\d+\)")
                untagged, _ = self.ok_cmd(r, "STORE 3 +FLAGS (\\Flagged)")
                self.assertRegex(untagged[-1], rb"^\* 3 FETCH \(FLAGS \(.*\) MODSEQ \((\d+)\)\)$")
                store_modseq = int(re.search(rb"MODSEQ \((\d+)\)", untagged[-1]).group(1))
                # Enabled once: no second HIGHESTMODSEQ.
                untagged, _ = self.ok_cmd(r, "FETCH 1 (MODSEQ)")
                self.assertEqual(index_of(untagged, rb"HIGHESTMODSEQ"), -1, untagged)
                # ESEARCH with MODSEQ: the highest MODSEQ of the matches (RFC 7162 3.1.5).
                untagged, _ = r.cmd("SEARCH RETURN (ALL) MODSEQ 1")
                tag = b"r%d" % r.n
                self.assertIn(b'* ESEARCH (TAG "%s") ALL 1:3 MODSEQ %d' % (tag, store_modseq), untagged)
                untagged, _ = self.ok_cmd(r, "SEARCH MODSEQ %d" % store_modseq)
                self.assertIn(b"* SEARCH 3 (MODSEQ %d)" % store_modseq, untagged)
                untagged, _ = r.cmd("SEARCH RETURN (MIN COUNT) MODSEQ 1 UNFLAGGED")
                self.assertIn(b'* ESEARCH (TAG "r%d") MIN 1 COUNT 2 MODSEQ ' % r.n, untagged[0])
            finally:
                r.close()
            # SEARCH MODSEQ and FETCH CHANGEDSINCE enable it as well, in sessions of their own.
            # (EXAMINE sends HIGHESTMODSEQ as SELECT does, RFC 7162 3.1.2.1.)
            for select, command in (("SELECT", "SEARCH MODSEQ 1"), ("EXAMINE", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)")):
                s = self.raw(user)
                try:
                    untagged, _ = self.ok_cmd(s, f"{select} INBOX")
                    highest = int(re.search(rb"\* OK \[HIGHESTMODSEQ (\d+)\]", b"\n".join(untagged)).group(1))
                    untagged, _ = self.ok_cmd(s, command)
                    self.assertEqual(untagged[0], b"* OK [HIGHESTMODSEQ %d] Highest" % highest, (command, untagged))
                    untagged, _ = self.ok_cmd(s, "FETCH 1 (FLAGS)")
                    self.assertRegex(untagged[0], rb"MODSEQ \(\d+\)", command)
                finally:
                    s.close()
        finally:
            c.logout()


if __name__ == "__main__":
    unittest.main(verbosity=2)

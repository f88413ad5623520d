#!/usr/bin/python3
"""End-to-end: the IMAP extensions Dovecot and Cyrus clients expect (issue 18 section 3), over
real sockets against the whole suite:

  a OBJECTID (RFC 8474): MAILBOXID in CREATE (4.1), SELECT/EXAMINE (4.2), STATUS (4.3), kept
    by RENAME; FETCH EMAILID (5.1) the same after COPY and MOVE, THREADID NIL (5.2); SEARCH
    EMAILID / THREADID (6);
  b SAVEDATE (RFC 8514): FETCH SAVEDATE for APPEND, COPY and MOVE (3), SEARCH SAVEDBEFORE,
    SAVEDON, SAVEDSINCE, SAVEDATESUPPORTED (4);
  c PREVIEW (RFC 8970): FETCH PREVIEW and PREVIEW (LAZY): the first text part, decoded,
    white space collapsed, at most 256 characters;
  d MULTIAPPEND (RFC 3502): several messages in one APPEND with APPENDUID and a UID set, and
    none stored when one fails;
  e METADATA (RFC 5464): SETMETADATA and GETMETADATA on a mailbox and on the server, NIL for
    an absent entry, DEPTH, MAXSIZE with LONGENTRIES, NIL removing, the size and count limits
    (MAXSIZE, TOOMANY), bad entry names, server /shared refused, entries gone with their
    mailbox.

Never uses DNS: every address is 127.0.0.1 and every domain ends in .test. Every wait is
bounded; nothing asserts on time.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402
from imap_client import ImapAccounts, message  # noqa: E402

PASSWORD = "imap-ext-password-123"
OBJECTID = rb"[A-Za-z0-9_-]{1,255}"


def literal_plus(data):
    return b"{%d+}\r\n" % len(data) + data


class ImapExtensions(ImapAccounts, SuiteTestCase):
    PASSWORD = PASSWORD

    def ok_cmd(self, r, text):
        untagged, tagged = r.cmd(text)
        self.assertRegex(tagged, rb"^r\d+ OK", (text, untagged, tagged))
        return untagged, tagged

    def fetch_value(self, untagged, item, pattern=rb"\(([^)]*)\)"):
        for line in untagged:
            m = re.search(item + rb" " + pattern, line)
            if m:
                return m.group(1)
        self.fail(f"no {item!r} in {untagged}")

    @record_failure
    def test_capabilities(self):
        r = self.raw(self.user())
        try:
            untagged, _ = self.ok_cmd(r, "CAPABILITY")
            caps = untagged[0].split()
            for cap in (b"OBJECTID", b"SAVEDATE", b"PREVIEW", b"MULTIAPPEND", b"METADATA"):
                self.assertIn(cap, caps)
        finally:
            r.close()

    @record_failure
    def test_a_objectid(self):
        user = self.user()
        c = self.login(user)
        r = self.raw(user)
        try:
            _, tagged = self.ok_cmd(r, "CREATE Work")
            work_id = re.search(rb"\[MAILBOXID \((" + OBJECTID + rb")\)\]", tagged).group(1)
            untagged, _ = self.ok_cmd(r, "STATUS Work (MESSAGES MAILBOXID)")
            self.assertIn(b"* STATUS Work (MESSAGES 0 MAILBOXID (%s))" % work_id, untagged)
            self.ok_cmd(r, "RENAME Work Job")  # RFC 8474 4.2: RENAME keeps it
            untagged, _ = self.ok_cmd(r, "EXAMINE Job")
            self.assertIn(b"* OK [MAILBOXID (%s)] Ok" % work_id, untagged)
            untagged, _ = self.ok_cmd(r, "SELECT INBOX")
            inbox_id = re.search(rb"\* OK \[MAILBOXID \((" + OBJECTID + rb")\)\]", b"\n".join(untagged)).group(1)
            self.assertNotEqual(inbox_id, work_id)

            self.append(c, "INBOX", message("one"))
            self.append(c, "INBOX", message("two"))
            self.ok_cmd(r, "NOOP")
            untagged, _ = self.ok_cmd(r, "FETCH 1:2 (EMAILID THREADID)")
            ids = [re.search(rb"EMAILID \((" + OBJECTID + rb")\)", l).group(1) for l in untagged if b"FETCH" in l]
            self.assertEqual(len(ids), 2, untagged)
            self.assertNotEqual(ids[0], ids[1])
            self.assertTrue(all(b"THREADID NIL" in l for l in untagged if b"FETCH" in l), untagged)
            # COPY and MOVE keep EMAILID (RFC 8474 5.1).
            self.ok_cmd(r, "COPY 1 Job")
            self.ok_cmd(r, "MOVE 2 Job")
            untagged, _ = self.ok_cmd(r, "EXAMINE Job")
            untagged, _ = self.ok_cmd(r, "FETCH 1:2 (UID EMAILID)")
            moved = [re.search(rb"EMAILID \((" + OBJECTID + rb")\)", l).group(1) for l in untagged if b"FETCH" in l]
            self.assertEqual(moved, ids)
            # SEARCH EMAILID / THREADID (RFC 8474 6).
            untagged, _ = self.ok_cmd(r, b"SEARCH EMAILID " + ids[1])
            self.assertIn(b"* SEARCH 2", untagged)
            untagged, _ = self.ok_cmd(r, "SEARCH EMAILID Enope")
            self.assertIn(b"* SEARCH", untagged)
            untagged, _ = self.ok_cmd(r, "UID SEARCH THREADID T1")
            self.assertIn(b"* SEARCH", untagged)
            _, tagged = r.cmd("SEARCH EMAILID bad!id")
            self.assertIn(b"BAD", tagged)
        finally:
            r.close()
            c.logout()

    @record_failure
    def test_b_savedate(self):
        user = self.user()
        c = self.login(user)
        r = self.raw(user)
        try:
            self.ok_cmd(r, "CREATE Archive2")
            # APPEND with an old internal date: the save date is today's, not the internal date.
            self.append(c, "INBOX", message("old"), None, '"01-Jan-2001 10:00:00 +0000"')
            today = time.strftime("%d-%b-%Y", time.gmtime())
            self.ok_cmd(r, "SELECT INBOX")
            untagged, _ = self.ok_cmd(r, "FETCH 1 (INTERNALDATE SAVEDATE)")
            self.assertIn(b'INTERNALDATE "01-Jan-2001 10:00:00 +0000"', untagged[0])
            saved = re.search(rb'SAVEDATE "(\d\d-\w\w\w-\d{4}) \d\d:\d\d:\d\d \+0000"', untagged[0])
            self.assertTrue(saved, untagged)
            self.assertIn(saved.group(1).lstrip(b" 0"), today.encode().lstrip(b"0"))
            for key, expected in (("SAVEDON " + today, b"* SEARCH 1"), ("SAVEDSINCE " + today, b"* SEARCH 1"),
                                  ("SAVEDBEFORE " + today, b"* SEARCH"), ("SAVEDATESUPPORTED", b"* SEARCH 1"),
                                  ("SAVEDBEFORE 1-Jan-2002", b"* SEARCH"), ("BEFORE 1-Jan-2002", b"* SEARCH 1")):
                untagged, _ = self.ok_cmd(r, "SEARCH " + key)
                self.assertEqual(untagged[0].rstrip(), expected, key)
            # COPY and MOVE save anew: the copy has a save date of its own.
            self.ok_cmd(r, "COPY 1 Archive2")
            self.ok_cmd(r, "MOVE 1 Archive2")
            self.ok_cmd(r, "SELECT Archive2")
            untagged, _ = self.ok_cmd(r, "UID FETCH 1:* (SAVEDATE)")
            self.assertEqual(len([l for l in untagged if re.search(rb'SAVEDATE "', l)]), 2, untagged)
            _, tagged = r.cmd("SEARCH SAVEDON notadate")
            self.assertIn(b"BAD", tagged)
        finally:
            r.close()
            c.logout()

    @record_failure
    def test_c_preview(self):
        user = self.user()
        c = self.login(user)
        r = self.raw(user)
        try:
            plain = message("p", body="Hello   there,\r\n\r\n  this is\tthe  text.\r\n")
            self.append(c, "INBOX", plain)
            multipart = (b"From: a@client.test\r\nTo: user@example.test\r\nSubject: mp\r\n"
                         b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n"
                         b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                         b"Gr=C3=BC=C3=9Fe aus =\r\nK=C3=B6ln\r\n"
                         b"--B\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--B--\r\n")
            self.append(c, "INBOX", multipart)
            self.append(c, "INBOX", message("long", body=("word " * 200) + "\r\n"))
            self.ok_cmd(r, "SELECT INBOX")
            untagged, _ = self.ok_cmd(r, "FETCH 1 (PREVIEW)")
            self.assertIn(b'PREVIEW "Hello there, this is the text."', untagged[0])
            untagged, _ = self.ok_cmd(r, "FETCH 2 PREVIEW (LAZY)")
            # 8-bit text comes as a literal (no UTF8=ACCEPT).
            self.assertIn("PREVIEW {17}\r\nGrüße aus Köln".encode(), untagged[0])
            untagged, _ = self.ok_cmd(r, "UID FETCH 3 (UID PREVIEW (LAZY) FLAGS)")
            text = re.search(rb'PREVIEW "([^"]*)"', untagged[0]).group(1)
            self.assertEqual(len(text), 256)
            self.assertTrue(text.startswith(b"word word"))
            _, tagged = r.cmd("FETCH 1 (PREVIEW (EAGER))")
            self.assertIn(b"BAD", tagged)
            # PREVIEW does not set \Seen.
            untagged, _ = self.ok_cmd(r, "FETCH 1:3 (FLAGS)")
            self.assertTrue(all(b"\\Seen" not in l for l in untagged), untagged)
        finally:
            r.close()
            c.logout()

    @record_failure
    def test_d_multiappend(self):
        user = self.user()
        r = self.raw(user)
        try:
            one, two, three = message("m1"), message("m2"), message("m3")
            cmd = (b"APPEND INBOX (\\Seen) " + literal_plus(one) + b' (\\Flagged) "02-Feb-2020 10:00:00 +0000" '
                   + literal_plus(two) + b" " + literal_plus(three))
            untagged, tagged = self.ok_cmd(r, cmd)
            m = re.search(rb"\[APPENDUID (\d+) (\d+):(\d+)\]", tagged)
            self.assertTrue(m, tagged)
            self.assertEqual(int(m.group(3)) - int(m.group(2)), 2)
            self.ok_cmd(r, "SELECT INBOX")
            untagged, _ = self.ok_cmd(r, "FETCH 1:* (FLAGS INTERNALDATE)")
            self.assertEqual(len(untagged), 3, untagged)
            self.assertIn(b"\\Seen", untagged[0])
            self.assertIn(b"\\Flagged", untagged[1])
            self.assertIn(b'"02-Feb-2020 10:00:00 +0000"', untagged[1])
            # All or nothing: a bad second message (an invalid date) stores neither.
            cmd = (b"APPEND INBOX " + literal_plus(one) + b' "99-Xyz-2020 10:00:00 +0000" ' + literal_plus(two))
            _, tagged = r.cmd(cmd)
            self.assertIn(b"BAD", tagged)
            _, tagged = r.cmd(b"APPEND Nope " + literal_plus(one) + b" " + literal_plus(two))
            self.assertIn(b"TRYCREATE", tagged)
            untagged, _ = self.ok_cmd(r, "NOOP")
            untagged, _ = self.ok_cmd(r, "SEARCH ALL")
            self.assertEqual(untagged[-1], b"* SEARCH 1 2 3")
        finally:
            r.close()

    @record_failure
    def test_e_metadata(self):
        user = self.user()
        r = self.raw(user)
        try:
            self.ok_cmd(r, 'CREATE Projects')
            self.ok_cmd(r, 'SETMETADATA Projects (/private/comment "mine" /shared/Comment "team" '
                           '/shared/vendor/kite/a "1" /shared/vendor/kite/a/b "2")')
            untagged, _ = self.ok_cmd(r, 'GETMETADATA Projects (/private/comment /shared/comment /private/missing)')
            self.assertEqual(untagged, [b'* METADATA Projects (/private/comment "mine" /shared/comment "team" '
                                        b'/private/missing NIL)'])
            untagged, _ = self.ok_cmd(r, 'GETMETADATA (DEPTH 1) Projects /shared/vendor/kite')
            self.assertEqual(untagged, [b'* METADATA Projects (/shared/vendor/kite/a "1" /shared/vendor/kite NIL)'])
            untagged, _ = self.ok_cmd(r, 'GETMETADATA (DEPTH infinity) Projects (/shared/vendor)')
            self.assertIn(b'/shared/vendor/kite/a/b "2"', untagged[0])
            untagged, tagged = self.ok_cmd(r, 'GETMETADATA (MAXSIZE 3) Projects (/shared/vendor/kite/a /shared/comment)')
            self.assertIn(b"[METADATA LONGENTRIES 4]", tagged)
            self.assertEqual(untagged, [b'* METADATA Projects (/shared/vendor/kite/a "1")'])
            # NIL removes; a bad name is BAD; the server's /shared entries are not the user's.
            self.ok_cmd(r, 'SETMETADATA Projects (/private/comment NIL)')
            untagged, _ = self.ok_cmd(r, 'GETMETADATA Projects /private/comment')
            self.assertEqual(untagged, [b'* METADATA Projects (/private/comment NIL)'])
            for bad in ('SETMETADATA Projects (/public/x "y")', 'SETMETADATA Projects (/private/a* "y")',
                        'GETMETADATA Projects /private//x', 'SETMETADATA Projects (/private/x)'):
                _, tagged = r.cmd(bad)
                self.assertIn(b" BAD ", tagged, bad)
            self.ok_cmd(r, 'SETMETADATA "" (/private/vendor/client/theme "dark")')
            untagged, _ = self.ok_cmd(r, 'GETMETADATA "" /private/vendor/client/theme')
            self.assertEqual(untagged, [b'* METADATA "" (/private/vendor/client/theme "dark")'])
            _, tagged = r.cmd('SETMETADATA "" (/shared/admin "mailto:x@example.test")')
            self.assertIn(b"NO [NOPERM]", tagged)
            # Limits: a value over 64 KiB, more than 100 entries.
            _, tagged = r.cmd(b"SETMETADATA Projects (/private/big " + literal_plus(b"x" * 70000) + b")")
            self.assertIn(b"NO [METADATA MAXSIZE 65536]", tagged)
            many = " ".join(f'/private/n{i} "v"' for i in range(60))
            self.ok_cmd(r, f"SETMETADATA Projects ({many})")
            many = " ".join(f'/private/m{i} "v"' for i in range(60))
            _, tagged = r.cmd(f"SETMETADATA Projects ({many})")
            self.assertIn(b"NO [METADATA TOOMANY]", tagged)
            untagged, _ = self.ok_cmd(r, "GETMETADATA Projects /private/m0")
            self.assertEqual(untagged, [b"* METADATA Projects (/private/m0 NIL)"])  # none of it was kept
            # Gone with the mailbox.
            self.ok_cmd(r, "DELETE Projects")
            _, tagged = r.cmd("GETMETADATA Projects /shared/comment")
            self.assertIn(b"NO [NONEXISTENT]", tagged)
            self.ok_cmd(r, "CREATE Projects")
            untagged, _ = self.ok_cmd(r, "GETMETADATA Projects /shared/comment")
            self.assertEqual(untagged, [b"* METADATA Projects (/shared/comment NIL)"])
        finally:
            r.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

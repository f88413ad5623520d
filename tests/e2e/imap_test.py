#!/usr/bin/python3
"""End-to-end: kite-imap's IMAP4rev1 and extensions over real sockets (issue 6), with
Python's imaplib (a real client) and a raw client for exact responses and error paths.

The whole suite is started by scripts/kite-local (tests/fixtures/kite_suite.py); each test
uses its own account so the tests do not depend on each other's order.
Never uses DNS: every address is 127.0.0.1 and every domain ends in .test.
"""
import base64
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
from imap_client import MULTIPART, ImapAccounts, message  # noqa: E402

PASSWORD = "imap-password-123"


class Imap(ImapAccounts, SuiteTestCase):
    PASSWORD = PASSWORD

    # ------------------------------------------------------------------ helpers
    def deliver(self, to, msg):
        s = smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=30)
        try:
            s.ehlo()
            s.sendmail("sender@client.test", [to], msg)
        finally:
            s.quit()

    # ------------------------------------------------------------------ any state, auth
    @record_failure
    def test_a_capability_login_and_authenticate(self):
        user = self.user()
        plain = self.raw(tls=False)
        try:
            self.assertIn(b"STARTTLS", plain.greeting)
            self.assertIn(b"LOGINDISABLED", plain.greeting)
            self.assertNotIn(b"AUTH=", plain.greeting)
            _, tagged = plain.cmd(f'LOGIN "{user}" "{PASSWORD}"')
            self.assertIn(b"NO [PRIVACYREQUIRED]", tagged)
            _, tagged = plain.cmd("AUTHENTICATE PLAIN")
            self.assertIn(b"NO [PRIVACYREQUIRED]", tagged)
            _, tagged = plain.cmd("SELECT INBOX")
            self.assertIn(b"BAD", tagged)
        finally:
            plain.close()
        # STARTTLS, then LOGIN works (imaplib).
        m = imaplib.IMAP4("127.0.0.1", self.port("imap_starttls"), timeout=30)
        try:
            typ, _ = m.starttls(ssl_context=insecure_context())
            self.assertEqual(typ, "OK")
            self.assertIn("AUTH=PLAIN", m.capabilities)
            typ, _ = m.login(user, PASSWORD)
            self.assertEqual(typ, "OK")
            typ, data = m.capability()
            for cap in (b"IDLE", b"UIDPLUS", b"MOVE", b"CONDSTORE", b"QRESYNC", b"SPECIAL-USE", b"LIST-STATUS",
                        b"QUOTA", b"ACL", b"NAMESPACE", b"ID", b"ENABLE", b"UNSELECT", b"ESEARCH"):
                self.assertIn(cap, data[0].split(), cap)
        finally:
            m.logout()
        # AUTHENTICATE PLAIN with SASL-IR, and with a continuation.
        r = self.raw()
        try:
            ir = base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()
            _, tagged = r.cmd(f"AUTHENTICATE PLAIN {ir}")
            self.assertIn(b"OK", tagged)
            self.assertIn(b"CAPABILITY", tagged)
        finally:
            r.close()
        r = self.raw()
        try:
            r.send(b"a1 AUTHENTICATE PLAIN\r\n")
            self.assertTrue(r.line().startswith(b"+"))
            r.send(base64.b64encode(f"\0{user}\0wrong-password".encode()) + b"\r\n")
            _, tagged = r.until(b"a1")
            self.assertIn(b"NO [AUTHENTICATIONFAILED]", tagged)
            r.send(b"a2 AUTHENTICATE PLAIN\r\n")
            r.line()
            r.send(b"*\r\n")
            _, tagged = r.until(b"a2")
            self.assertIn(b"BAD", tagged)
        finally:
            r.close()
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=30)
        try:
            # imaplib's own AUTHENTICATE (continuation, no SASL-IR).
            typ, _ = m.authenticate("PLAIN", lambda _: f"\0{user}\0{PASSWORD}".encode())
            self.assertEqual(typ, "OK")
        finally:
            m.logout()

    @record_failure
    def test_b_bad_input_gets_bad_and_the_session_goes_on(self):
        user = self.user()
        r = self.raw(user)
        try:
            for bad in ("FETCH", "SELECT", "NOSUCHCOMMAND x", "LIST \"", "STORE 1 FLAGS (\\Seen", "UID NOOP",
                        "CREATE", "APPEND", "STATUS INBOX (BOGUS)", "ID (\"a\")"):
                _, tagged = r.cmd(bad)
                self.assertRegex(tagged, rb"^r\d+ BAD ", bad)
            # An over-long line.
            _, tagged = r.cmd("x" * 70000)
            self.assertIn(b"BAD", tagged)
            # Selected-state commands without a selection; missing mailbox.
            _, tagged = r.cmd("FETCH 1 FLAGS")
            self.assertIn(b"BAD", tagged)
            _, tagged = r.cmd("SELECT Nowhere")
            self.assertIn(b"NO [NONEXISTENT]", tagged)
            _, tagged = r.cmd("STATUS Nowhere (MESSAGES)")
            self.assertIn(b"NO [NONEXISTENT]", tagged)
            _, tagged = r.cmd("SELECT INBOX")
            self.assertIn(b"OK [READ-WRITE]", tagged)
            _, tagged = r.cmd("FETCH 5 FLAGS")  # empty mailbox: out of range
            self.assertIn(b"BAD", tagged)
            _, tagged = r.cmd("UID FETCH 5 FLAGS")  # UIDs past the end match nothing
            self.assertIn(b"OK", tagged)
            _, tagged = r.cmd("NOOP")
            self.assertIn(b"OK", tagged)
        finally:
            r.close()

    # ------------------------------------------------------------------ mailboxes
    @record_failure
    def test_c_mailbox_management_and_list(self):
        user = self.user()
        m = self.login(user)
        try:
            typ, data = m.list()
            self.assertEqual(typ, "OK")
            text = b"\n".join(data)
            for name, use in (("Drafts", b"\\Drafts"), ("Sent", b"\\Sent"), ("Trash", b"\\Trash"),
                              ("Junk", b"\\Junk"), ("Archive", b"\\Archive")):
                self.assertRegex(text, rb"\([^)]*" + re.escape(use) + rb"[^)]*\) \"/\" \"?" + name.encode())
            self.assertEqual(m.create("Projects/2026/Q1")[0], "OK")
            self.assertEqual(m.create("Projects")[0], "NO")  # the parent was created with it
            typ, data = m.list('""', "Projects*")
            names = [re.search(rb'"/" "?([^"]*)"?$', x).group(1) for x in data]
            self.assertEqual(sorted(names), [b"Projects", b"Projects/2026", b"Projects/2026/Q1"])
            self.assertIn(b"\\HasChildren", data[0])
            typ, data = m.list("Projects/", "%")
            self.assertEqual(len(data), 1, data)
            self.assertIn(b"Projects/2026", data[0])
            self.assertEqual(m.rename("Projects", "Work")[0], "OK")
            typ, data = m.list('""', "Work/*")
            self.assertEqual(len(data), 2, data)
            self.assertEqual(m.select("Projects")[0], "NO")
            self.assertEqual(m.delete("Work/2026/Q1")[0], "OK")
            self.assertEqual(m.delete("Work/2026/Q1")[0], "NO")
            self.assertEqual(m.delete("INBOX")[0], "NO")
            typ, data = m.create("Shared/x")
            self.assertEqual(typ, "NO")
            # Subscriptions.
            self.assertEqual(m.unsubscribe("Work")[0], "OK")
            typ, data = m.lsub('""', "*")
            self.assertNotIn(b"Work\r", b"\r".join(data) + b"\r")
            self.assertFalse(any(re.search(rb'"/" "?Work"?$', x) for x in data), data)
            self.assertEqual(m.subscribe("Work")[0], "OK")
            typ, data = m.lsub('""', "Work")
            self.assertEqual(len(data), 1, data)
            # LIST-EXTENDED and LIST-STATUS (RFC 5258, 5819), SPECIAL-USE selection.
            typ, data = m._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
            typ, data = m._untagged_response(typ, data, "LIST")
            self.assertEqual(len(data), 5, data)
            typ, data = m._simple_command("LIST", '""', '"INBOX"', "RETURN", "(CHILDREN STATUS (MESSAGES UIDNEXT))")
            self.assertEqual(typ, "OK")
            self.assertTrue(any(b"MESSAGES 0 UIDNEXT 1" in x for x in m.untagged_responses.get("STATUS", [])))
            m.untagged_responses.clear()
            # RENAME INBOX moves the messages, INBOX stays.
            self.append(m, "INBOX", message("to move"))
            self.assertEqual(m.rename("INBOX", "Old-Inbox")[0], "OK")
            self.assertIn(b"MESSAGES 1", m.status("Old-Inbox", "(MESSAGES)")[1][0])
            self.assertIn(b"MESSAGES 0", m.status("INBOX", "(MESSAGES)")[1][0])
            # CREATE-SPECIAL-USE.
            typ, data = m._simple_command("CREATE", "Memos", "(USE (\\Drafts))")
            self.assertEqual(typ, "OK", data)
            typ, data = m.list('""', "Memos")
            self.assertIn(b"\\Drafts", data[0])
            # NAMESPACE, ID, STATUS items.
            typ, data = m.namespace()
            self.assertIn(b'(("" "/")) NIL (("Shared/" "/"))', data[0])
            typ, data = m._simple_command("ID", '("name" "kite-test")')
            self.assertEqual(typ, "OK")
            typ, data = m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE DELETED)")
            self.assertRegex(data[0], rb"MESSAGES 0 RECENT 0 UIDNEXT \d+ UIDVALIDITY \d+ UNSEEN 0 "
                                      rb"HIGHESTMODSEQ \d+ SIZE 0 DELETED 0")
        finally:
            m.logout()

    # ------------------------------------------------------------------ messages
    @record_failure
    def test_d_append_fetch_store_copy_move_expunge(self):
        user = self.user()
        m = self.login(user)
        try:
            uv, uid1 = self.append(m, "INBOX", message("first", to=user), r"(\Flagged $Work)",
                                   '"02-Jan-2006 15:04:05 +0000"')
            _, uid2 = self.append(m, "INBOX", MULTIPART)
            _, uid3 = self.append(m, "INBOX", message("third", body=".leading dot\r\n"))
            self.assertEqual((uid1, uid2, uid3), (1, 2, 3))
            typ, data = m.select("INBOX")
            self.assertEqual(data[0], b"3")
            self.assertEqual(int(m.response("UIDVALIDITY")[1][0]), uv)
            # FETCH: flags, date, size, envelope, structure, sections, partials.
            typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
            self.assertIn(b"$Work", data[0])
            self.assertIn(b'INTERNALDATE "02-Jan-2006 15:04:05 +0000"', data[0])
            self.assertIn(b'"first"', data[0])
            self.assertIn(b'(("Sender" NIL "sender" "client.test"))', data[0])
            typ, data = m.fetch("2", "(BODYSTRUCTURE)")
            self.assertIn(b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1', data[0].upper().replace(b"US-ASCII", b"us-ascii"))
            self.assertIn(b'"MIXED" ("BOUNDARY" "XX")', data[0].upper())
            typ, data = m.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BINARY.PEEK[2])")
            blob = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
            self.assertIn(b"BODY[1] {10}first part BODY[2.MIME]", blob)
            self.assertIn(b"Content-Transfer-Encoding: base64", blob)
            self.assertIn(b"Subject: parts\r\n\r\n", blob)
            self.assertIn(b"\x00\x01\x02\x03\x04", blob)
            typ, data = m.fetch("3", "(BODY.PEEK[]<0.4> BODY.PEEK[TEXT])")
            self.assertEqual(data[0][1], b"From")
            self.assertEqual(data[1][1], b".leading dot\r\n")
            typ, data = m.fetch("3", "(FLAGS)")
            self.assertNotIn(b"\\Seen", data[0])
            typ, data = m.fetch("3", "(BODY[TEXT])")  # not PEEK: sets \Seen
            typ, data = m.fetch("3", "(FLAGS)")
            self.assertIn(b"\\Seen", data[0])
            # STORE.
            typ, data = m.store("1:2", "+FLAGS", r"(\Answered)")
            self.assertEqual(len(data), 2)
            self.assertIn(b"\\Answered", data[0])
            typ, data = m.store("1", "-FLAGS.SILENT", r"(\Answered)")
            self.assertEqual(typ, "OK")
            typ, data = m.store("2", "FLAGS", r"(\Draft)")
            self.assertIn(b"FLAGS (\\Draft \\Recent)", data[0])  # this SELECT saw it first
            with self.assertRaises(imaplib.IMAP4.error):  # BAD: \Recent cannot be stored
                m.store("1", "+FLAGS", r"(\Recent)")
            # COPY (COPYUID), MOVE, EXPUNGE.
            typ, data = m.copy("1:2", "Archive")
            self.assertEqual(typ, "OK", data)
            self.assertRegex(data[0], rb"\[COPYUID \d+ 1:2 1:2\]")
            typ, data = m.copy("1", "Nowhere")
            self.assertEqual(typ, "NO")
            self.assertIn(b"TRYCREATE", data[0])
            typ, data = m._simple_command("MOVE", "3", "Trash")
            self.assertEqual(typ, "OK", data)
            self.assertEqual(m.untagged_responses.get("EXPUNGE"), [b"3"])
            m.untagged_responses.clear()
            self.assertIn(b"MESSAGES 1", m.status("Trash", "(MESSAGES)")[1][0])
            m.store("1", "+FLAGS", r"(\Deleted)")
            typ, data = m.expunge()
            self.assertEqual(data, [b"1"])
            typ, data = m.fetch("1", "(UID)")
            self.assertIn(b"UID 2", data[0])
            # UID EXPUNGE only expunges the UIDs given.
            self.append(m, "INBOX", message("fourth"), r"(\Deleted)")
            m.noop()
            m.store("1", "+FLAGS", r"(\Deleted)")
            typ, data = m.uid("EXPUNGE", "4")
            self.assertEqual(typ, "OK", data)
            self.assertIn(b"MESSAGES 1", m.status("INBOX", "(MESSAGES)")[1][0])
            # CLOSE expunges silently; EXAMINE is read-only.
            typ, _ = m.close()
            self.assertIn(b"MESSAGES 0", m.status("INBOX", "(MESSAGES)")[1][0])
            typ, data = m.select("Archive", readonly=True)
            self.assertEqual(typ, "OK")
            typ, data = m.store("1", "+FLAGS", r"(\Seen)")
            self.assertEqual(typ, "NO")
            typ, data = m.fetch("1", "(BODY[])")
            typ, data = m.fetch("1", "(FLAGS)")
            self.assertNotIn(b"\\Seen", data[0])
            self.assertEqual(m.unselect()[0], "OK")
        finally:
            m.logout()

    @record_failure
    def test_e_updates_between_sessions_and_idle(self):
        user = self.user()
        a = self.raw(user)
        b = self.login(user)
        try:
            a.cmd("SELECT INBOX")
            b.select("INBOX")
            self.append(b, "INBOX", message("one"))
            self.append(b, "INBOX", message("two"))
            untagged, tagged = a.cmd("NOOP")
            self.assertIn(b"* 2 EXISTS", untagged)
            b.store("1", "+FLAGS", r"(\Flagged)")
            untagged, tagged = a.cmd("NOOP")
            self.assertTrue(any(re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\)", x) for x in untagged), untagged)
            b.store("1", "+FLAGS", r"(\Deleted)")
            b.expunge()
            # FETCH does not announce the expunge (RFC 3501 7.4.1); NOOP does.
            untagged, tagged = a.cmd("FETCH 2 (UID)")
            self.assertFalse(any(b"EXPUNGE" in x for x in untagged), untagged)
            untagged, tagged = a.cmd("NOOP")
            self.assertIn(b"* 1 EXPUNGE", untagged)
            # IDLE sees an APPEND and a delivery by kite-delivery.
            a.send(b"i1 IDLE\r\n")
            self.assertTrue(a.line().startswith(b"+"))
            self.append(b, "INBOX", message("three"))
            self.assertEqual(a.line(), b"* 2 EXISTS")
            self.deliver(user, message("by smtp", to=user))
            deadline = time.monotonic() + 60
            line = a.line()
            while line != b"* 3 EXISTS" and time.monotonic() < deadline:
                line = a.line()
            self.assertEqual(line, b"* 3 EXISTS")
            a.send(b"DONE\r\n")
            _, tagged = a.until(b"i1")
            self.assertIn(b"OK", tagged)
            untagged, tagged = a.cmd("FETCH 3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertIn(b"by smtp", b"".join(untagged))
        finally:
            a.close()
            b.logout()

    @record_failure
    def test_f_condstore_and_qresync(self):
        user = self.user()
        m = self.login(user)
        r = self.raw(user)
        try:
            for i in range(4):
                self.append(m, "INBOX", message(f"m{i}"))
            _, tagged = r.cmd("ENABLE QRESYNC")
            untagged, tagged = r.cmd("SELECT INBOX")
            hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"\n".join(untagged)).group(1))
            uv = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(untagged)).group(1))
            # A change by another session, then FETCH CHANGEDSINCE returns only it.
            m.select("INBOX")
            m.store("2", "+FLAGS", r"(\Seen)")
            untagged, tagged = r.cmd(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})")
            # (The other session's change may also come as an unsolicited FETCH first.)
            fetches = sorted(set(x for x in untagged if b"FETCH" in x))
            self.assertEqual(len(fetches), 1, untagged)
            self.assertIn(b"UID 2", fetches[0])
            self.assertIn(b"MODSEQ", fetches[0])
            # STORE UNCHANGEDSINCE: refused for a message changed after the given MODSEQ.
            untagged, tagged = r.cmd(f"STORE 2,3 (UNCHANGEDSINCE {hms}) +FLAGS (\\Answered)")
            self.assertIn(b"[MODIFIED 2]", tagged)
            # QRESYNC: a fresh session learns expunges and changes since its last state.
            m.store("1", "+FLAGS", r"(\Deleted)")
            m.expunge()
            r2 = self.raw(user)
            try:
                r2.cmd("ENABLE QRESYNC")
                untagged, tagged = r2.cmd(f"SELECT INBOX (QRESYNC ({uv} {hms}))")
                self.assertIn(b"OK", tagged)
                text = b"\n".join(untagged)
                self.assertIn(b"* VANISHED (EARLIER) 1", text)
                self.assertRegex(text, rb"FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ")
                # With QRESYNC an expunge is announced as VANISHED.
                m.store("1", "+FLAGS", r"(\Deleted)")
                m.expunge()
                untagged, tagged = r2.cmd("NOOP")
                self.assertIn(b"* VANISHED 2", untagged)
            finally:
                r2.close()
        finally:
            r.close()
            m.logout()

    @record_failure
    def test_g_quota_acl_and_other_users(self):
        user = self.user()
        other = self.user()
        m = self.login(user)
        try:
            self.append(m, "INBOX", message("sized", body="x" * 3000 + "\r\n"))
            typ, data = m.getquotaroot("INBOX")
            self.assertEqual(typ, "OK", data)
            typ, data = m.getquota('""')
            self.assertEqual(typ, "OK", data)
            self.assertEqual(m.setquota('""', "(STORAGE 10)")[0], "NO")
            typ, data = m.myrights("INBOX")
            self.assertIn(b"lrswipkxtea", data[0])
            typ, data = m.getacl("INBOX")
            self.assertIn(user.encode(), data[0])
            self.assertEqual(m.setacl("INBOX", other, "lr")[0], "NO")
            # Another user's mailboxes are out of reach: no path leads there.
            for name in (f"Shared/{other}/INBOX", f"Shared/{other}", f"../{other}/INBOX"):
                typ, data = m.select(name)
                self.assertEqual(typ, "NO", (name, data))
            typ, data = m.status(f"Shared/{other}/INBOX", "(MESSAGES)")
            self.assertIn(b"NOPERM", data[0])
        finally:
            m.logout()

    @record_failure
    def test_h_literals_and_limits(self):
        user = self.user()
        r = self.raw(user)
        try:
            # Synchronizing literal: continuation, then the bytes.
            msg = message("literal")
            r.send(b"l1 APPEND INBOX {%d}\r\n" % len(msg))
            self.assertTrue(r.line().startswith(b"+"))
            r.send(msg + b"\r\n")
            _, tagged = r.until(b"l1")
            self.assertIn(b"APPENDUID", tagged)
            # LITERAL+: no continuation.
            r.send(b"l2 APPEND INBOX (\\Seen) {%d+}\r\n" % len(msg) + msg + b"\r\n")
            _, tagged = r.until(b"l2")
            self.assertIn(b"APPENDUID", tagged)
            # A literal over the limit is refused before its bytes are read.
            r.send(b"l3 APPEND INBOX {999999999}\r\n")
            _, tagged = r.until(b"l3")
            self.assertIn(b"BAD", tagged)
            _, tagged = r.cmd("NOOP")
            self.assertIn(b"OK", tagged)
            _, tagged = r.cmd("APPEND INBOX (\\Seen) \"99-Foo-2006 15:04:05 +0000\" {1+}\r\nx")
            self.assertIn(b"BAD", tagged)
        finally:
            r.close()

    @record_failure
    def test_i_search_sort_thread(self):
        user = self.user()
        m = self.login(user)
        r = self.raw(user)
        try:
            root = f"<root.{uuid.uuid4().hex}@client.test>"
            self.append(m, "INBOX", message("Budget 2026", body="numbers attached\r\n", sender="zed@client.test",
                                            extra=f"Message-ID: {root}\r\n".replace("Message-ID", "X-Old-Id")),
                        r"(\Seen)", '"01-Jan-2026 10:00:00 +0000"')
            self.append(m, "INBOX", message("Re: Budget 2026", body="looks fine\r\n", sender="amy@client.test",
                                            extra="X-Priority: 1\r\n"),
                        None, '"02-Jan-2026 10:00:00 +0000"')
            self.append(m, "INBOX", message("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", body="caf\xe9 au lait\r\n",
                                            sender="bob@client.test"),
                        r"(\Flagged)", '"03-Jan-2026 10:00:00 +0000"')
            m.select("INBOX")
            def search(*criteria):
                typ, data = m.search(None, *criteria)
                self.assertEqual(typ, "OK", (criteria, data))
                return data[0].decode().split()
            self.assertEqual(search("ALL"), ["1", "2", "3"])
            self.assertEqual(search("UNSEEN"), ["2", "3"])
            self.assertEqual(search("FLAGGED"), ["3"])
            self.assertEqual(search("FROM", "amy"), ["2"])
            self.assertEqual(search("SUBJECT", "budget"), ["1", "2"])
            self.assertEqual(search("BODY", "fine"), ["2"])
            self.assertEqual(search("TEXT", "numbers"), ["1"])
            self.assertEqual(search("HEADER", "X-Priority", "1"), ["2"])
            self.assertEqual(search("OR", "FLAGGED", "NOT", "OR", "SEEN", "FROM", "bob"), ["2", "3"])
            self.assertEqual(search("(SINCE 02-Jan-2026 BEFORE 03-Jan-2026)"), ["2"])
            self.assertEqual(search("2:*", "NOT", "DELETED"), ["2", "3"])
            self.assertEqual(search("LARGER", "1", "SMALLER", "100000"), ["1", "2", "3"])
            typ, data = m.search("UTF-8", "SUBJECT", '"Gr\u00fc\u00dfe"'.encode("utf-8"))
            self.assertEqual(data[0], b"3")
            typ, data = m.uid("SEARCH", "UID", "2:3")
            self.assertEqual(data[0].split(), [b"2", b"3"])
            # Errors: unknown key (BAD), unknown charset (NO [BADCHARSET]).
            with self.assertRaises(imaplib.IMAP4.error):
                m.search(None, "NOSUCHKEY")
            untagged, tagged = r.cmd("SELECT INBOX")
            _, tagged = r.cmd("SEARCH CHARSET KOI8-R ALL")
            self.assertIn(b"NO [BADCHARSET", tagged)
            # ESEARCH (RFC 4731) and SEARCHRES (RFC 5182).
            untagged, tagged = r.cmd("UID SEARCH RETURN (MIN MAX COUNT ALL) ALL")
            self.assertRegex(b"\n".join(untagged), rb'\* ESEARCH \(TAG "r\d+"\) UID MIN 1 MAX 3 COUNT 3 ALL 1:3')
            untagged, tagged = r.cmd("SEARCH RETURN (SAVE) FROM amy")
            self.assertIn(b"OK", tagged)
            untagged, tagged = r.cmd("FETCH $ (UID)")
            self.assertEqual([x for x in untagged if b"FETCH" in x], [b"* 2 FETCH (UID 2)"])
            # SORT and THREAD (RFC 5256).
            typ, data = m.sort("(FROM)", "UTF-8", "ALL")
            self.assertEqual(data[0].split(), [b"2", b"3", b"1"])
            typ, data = m.sort("(REVERSE ARRIVAL)", "UTF-8", "ALL")
            self.assertEqual(data[0].split(), [b"3", b"2", b"1"])
            typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
            self.assertEqual(data[0], b"(1 2)(3)")
            typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
            self.assertEqual(typ, "OK", data)
            self.assertIn(b"(3)", data[0])
            # CONDSTORE search.
            untagged, tagged = r.cmd("SEARCH MODSEQ 1")
            self.assertRegex(b"\n".join(untagged), rb"\* SEARCH 1 2 3 \(MODSEQ \d+\)")
        finally:
            r.close()
            m.logout()

    @record_failure
    def test_j_compress_deflate(self):
        user = self.user()
        r = self.raw(user)
        m = self.login(user)
        try:
            for i in range(30):
                self.append(m, "INBOX", message(f"compressed {i}", body="la " * 2000 + "\r\n"))
            _, tagged = r.cmd("COMPRESS DEFLATE")
            self.assertIn(b"OK", tagged)
            r.compress()
            untagged, tagged = r.cmd("SELECT INBOX")
            self.assertIn(b"* 30 EXISTS", untagged)
            untagged, tagged = r.cmd("FETCH 1:* (BODY.PEEK[TEXT])")
            self.assertEqual(len([x for x in untagged if b"FETCH" in x]), 30)
            self.assertIn(b"la la la", untagged[-1])
            _, tagged = r.cmd("COMPRESS DEFLATE")
            self.assertIn(b"NO [COMPRESSIONACTIVE]", tagged)
            # IDLE inside the compressed stream.
            r.send(b"i1 IDLE\r\n")
            self.assertTrue(r.line().startswith(b"+"))
            self.append(m, "INBOX", message("while idle"))
            self.assertEqual(r.line(), b"* 31 EXISTS")
            r.send(b"DONE\r\n")
            _, tagged = r.until(b"i1")
            self.assertIn(b"OK", tagged)
        finally:
            r.close()
            m.logout()


if __name__ == "__main__":
    unittest.main(verbosity=2)

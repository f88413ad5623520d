#!/usr/bin/python3
"""End-to-end: text SEARCH answered in PostgreSQL (migration 0019, docs/imap.md "How a
command reaches the store") gives exactly what kite-imap's in-memory evaluation gives, over a
real socket.

The same tricky messages (RFC 2047 words in UTF-8 and ISO-8859-1, Greek and other letters
lib/imap folds, %, _ and backslashes, quoted-printable and base64 bodies, multipart with HTML
and an attachment, a U+0001 in a body) are APPENDed to two mailboxes. In "Old" every message's
stored search columns are then set to NULL, as for mail stored before migrations 0016 and
0019, so kite-imap loads and matches those messages itself; in INBOX the store answers (and
one message is likewise NULL, to mix both paths in one command). Every SEARCH (each text key
with each string, as literals with CHARSET UTF-8, and NOT / OR / flag combinations) must give
the same sequence numbers in both mailboxes, and a few are checked against known answers.

The whole suite is started by scripts/kite-local (tests/fixtures/kite_suite.py). Never uses
DNS; every wait is bounded; nothing asserts on time.
"""
import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase  # noqa: E402
from kite_ops import psql  # noqa: E402
from imap_client import ImapAccounts  # noqa: E402

B64_BODY = base64.b64encode("Ünïcödé ſtraße, Ελληνικά ΤΕΛΟΣ and İstanbul\r\n".encode()).decode()

MESSAGES = [
    b"From: =?UTF-8?Q?Andr=C3=A9_M=C3=BCller?= <andre@example.test>\r\n"
    b"To: \"Team_100%\" <team@example.test>, bob@example.test\r\n"
    b"Cc: =?ISO-8859-1?Q?J=F6rg?= <jorg@example.test>\r\n"
    b"Subject: =?ISO-8859-1?Q?caf=E9?= 100% _done_ a\\b\r\n"
    b"\r\n"
    b"plain body with 50% off_now and C:\\path\r\n",
    b"From: sofia@example.test\r\n"
    b"Subject: =?UTF-8?B?zqPOv8+Gzq/OsQ==?= final \xcf\x82 sigma\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Gr=FC=DFe aus K=F6ln, 50% off_now \\path\r\n",
    b"From: Zoe <zoe@example.test>\r\n"
    b"Bcc: hidden@example.test\r\n"
    b"Subject: base64\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + B64_BODY.encode() + b"\r\n",
    b"From: multi@example.test\r\n"
    b"To: team@example.test\r\n"
    b"Subject: multipart\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    b"\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst part text\r\n"
    b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html-only words</p>\r\n"
    b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"YXR0YWNoLXNlY3JldA==\r\n--b1--\r\n",
    b"From: ctl@example.test\r\n"
    b"Subject: control\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"before=01after 50% off_now\r\n",
    b"From: bare@example.test\r\n\r\nbare\r\n",
]

NEEDLES = ["", "andré", "ANDRÉ", "müller", "100%", "%", "_", "_done_", "a\\b", "\\", "CAFÉ",
           "σοφία", "ΣΟΦΊΑ", "Σ sigma", "grüße", "KÖLN", "\\path", "50%", "off_now", "off%now",
           "ünïcödé", "STRASSE", "ſtraße", "τελος", "İSTANBUL", "example.test", "html-only",
           "attach-secret", "team_", "jörg", "hidden", "before", "from: sofia", "subject:"]
KEYS = ["FROM", "TO", "CC", "BCC", "SUBJECT", "BODY", "TEXT", "HEADER SUBJECT"]


def literal(s):
    b = s.encode()
    return b"{%d+}\r\n" % len(b) + b


class ImapSearchText(ImapAccounts, SuiteTestCase):
    PASSWORD = "imap-search-text-123"

    def search(self, r, mailbox, criteria):
        _, tagged = r.cmd(b"SELECT " + mailbox)
        self.assertIn(b" OK", tagged)
        untagged, tagged = r.cmd(b"SEARCH CHARSET UTF-8 " + criteria)
        self.assertRegex(tagged, rb"^r\d+ OK", (criteria, untagged, tagged))
        for line in untagged:
            if line.startswith(b"* SEARCH"):
                return [int(x) for x in line.split()[2:]]
        raise AssertionError(f"no SEARCH response for {criteria!r}: {untagged}")

    def test_store_and_in_memory_search_agree(self):
        user = self.user()
        r = self.raw(user)
        _, tagged = r.cmd(b"CREATE Old")
        self.assertIn(b" OK", tagged)
        m = self.login(user)
        for raw in MESSAGES:
            self.append(m, "INBOX", raw)
            # A different body (one more header) so the Old copy is its own messages row.
            self.append(m, "Old", b"X-Copy: old\r\n" + raw)
        m.logout()
        rows = psql(self, "SELECT count(*) FROM messages m JOIN mailbox_entries e ON e.message_id = m.id "
                          "JOIN accounts a ON a.id = e.account_id "
                          "WHERE a.address = :'v1' AND m.search_header IS NOT NULL", user)
        self.assertEqual(int(rows[0][0]), 2 * len(MESSAGES), "APPEND stores the search text")
        # Old: as stored before migrations 0016 and 0019; INBOX: message 3 too.
        psql(self, "UPDATE messages SET search_fields = NULL, search_header = NULL, search_text = NULL "
                   "WHERE id IN (SELECT e.message_id FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id "
                   "JOIN accounts a ON a.id = e.account_id WHERE a.address = :'v1' AND "
                   "(b.name = 'Old' OR (b.name = 'INBOX' AND e.uid = 3)))", user)
        # Flags for the combinations: 1, 2 and 4 \Seen in both.
        for box in (b"INBOX", b"Old"):
            r.cmd(b"SELECT " + box)
            _, tagged = r.cmd(b"STORE 1,2,4 +FLAGS.SILENT (\\Seen)")
            self.assertIn(b" OK", tagged)

        queries = []
        for key in KEYS:
            for n in NEEDLES:
                queries.append(key.encode() + b" " + literal(n))
        queries += [
            b"UNSEEN FROM " + literal("example"),
            b"SEEN NOT BODY " + literal("50%"),
            b"OR FROM " + literal("zoe") + b" BODY " + literal("köln"),
            b"NOT OR SUBJECT " + literal("café") + b" TEXT " + literal("html-only"),
            b"OR SEEN NOT TEXT " + literal("off_now"),
            b"FROM " + literal("example") + b" NOT SUBJECT " + literal("multipart") + b" UNSEEN",
            b"1:3 OR BCC " + literal("") + b" TO " + literal(""),
        ]
        mismatches = []
        for q in queries:
            new = self.search(r, b"INBOX", q)
            old = self.search(r, b"Old", q)
            if new != old:
                mismatches.append((q, new, old))
        self.assertEqual(mismatches, [], "store and in-memory SEARCH differ")

        # Known answers.
        self.assertEqual(self.search(r, b"INBOX", b"SUBJECT " + literal("ΣΟΦ")), [2])
        # lib/imap folds no accented Greek capitals (U+0386-U+038F): both paths agree on that.
        self.assertEqual(self.search(r, b"INBOX", b"SUBJECT " + literal("ΣΟΦΊΑ")), [])
        self.assertEqual(self.search(r, b"INBOX", b"FROM " + literal("MÜLLER")), [1])
        self.assertEqual(self.search(r, b"INBOX", b"BODY " + literal("50%")), [1, 2, 5])
        self.assertEqual(self.search(r, b"INBOX", b"BODY " + literal("off%now")), [])
        self.assertEqual(self.search(r, b"INBOX", b"TO " + literal("team_")), [1])
        self.assertEqual(self.search(r, b"INBOX", b"BODY " + literal("attach-secret")), [])
        self.assertEqual(self.search(r, b"INBOX", b"BODY " + literal("html-only")), [4])
        self.assertEqual(self.search(r, b"INBOX", b"BODY " + literal("STRASSE")), [])
        self.assertEqual(self.search(r, b"INBOX", b"BODY " + literal("ſtraße")), [3])
        r.close()


if __name__ == "__main__":
    unittest.main()

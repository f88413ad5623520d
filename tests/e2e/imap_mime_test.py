#!/usr/bin/python3
"""End-to-end: kite-imap's message-content replies are RFC-exact (issue 18 section 3), over
real sockets against the whole suite (scripts/kite-local: PostgreSQL, Redis, every daemon).

- BODY[n], [n.MIME], [n.HEADER], [n.TEXT], [n.HEADER.FIELDS (..)] and parts inside a
  message/rfc822 part (RFC 3501 6.4.5), BINARY / BINARY.SIZE (RFC 3516) and UNKNOWN-CTE;
- BODYSTRUCTURE and BODY of a message/rfc822 part (envelope, body, lines) with multipart and
  single-part extension data (RFC 3501 7.4.2);
- ENVELOPE addresses with source routes, groups, names as sent, quoting, NIL;
- SORT by the RFC 5256 base subject and by addr-mailbox, DISPLAYFROM (RFC 5957), and SEARCH
  FROM/TO/CC/BCC on decoded display names and addresses.

Messages are APPENDed with imaplib; the replies are read with a raw client and compared
byte for byte. Never uses DNS: every address is 127.0.0.1 and every domain ends in .test
or .example.
"""
import os
import re
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402
from imap_client import ImapAccounts  # noqa: E402

PASSWORD = "imap-mime-password-123"

# --- A message whose part 2 is a message/rfc822 holding a multipart with a multipart inside.
OUTER_HEADER = (b"From: Outer <outer@example.test>\r\n"
                b"To: user@example.test\r\n"
                b"Subject: nested\r\n"
                b"Message-ID: <nested@example.test>\r\n"
                b"MIME-Version: 1.0\r\n"
                b"Content-Type: multipart/mixed; boundary=\"o\"\r\n"
                b"\r\n")
P1_MIME = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
P1_BODY = b"caf=C3=A9\r\nline two"
P2_MIME = b"Content-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n"
INNER_HEADER = (b"From: Inner <inner@example.test>\r\n"
                b"To: undisclosed-recipients:;\r\n"
                b"Subject: inner\r\n"
                b"Date: Tue, 03 Jan 2006 10:00:00 +0000\r\n"
                b"Message-ID: <inner@example.test>\r\n"
                b"Content-Type: multipart/mixed; boundary=\"i\"\r\n"
                b"\r\n")
I1_MIME, I1_BODY = b"Content-Type: text/plain\r\n\r\n", b"inner text"
I2_MIME, I2_BODY = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n", b"AAECAw=="
A1_MIME, A1_BODY = b"Content-Type: text/plain\r\n\r\n", b"alt plain"
A2_MIME, A2_BODY = b"Content-Type: text/html\r\n\r\n", b"<p>alt</p>"
I3_MIME = b"Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"
I3_BODY = b"--a\r\n" + A1_MIME + A1_BODY + b"\r\n--a\r\n" + A2_MIME + A2_BODY + b"\r\n--a--"
INNER_BODY = (b"--i\r\n" + I1_MIME + I1_BODY + b"\r\n--i\r\n" + I2_MIME + I2_BODY + b"\r\n--i\r\n" + I3_MIME + I3_BODY +
              b"\r\n--i--")
INNER = INNER_HEADER + INNER_BODY
P3_MIME = (b"Content-Type: application/pdf; name=\"doc.pdf\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n"
           b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
           b"Content-Disposition: attachment; filename=\"doc.pdf\"\r\n"
           b"Content-Language: en\r\n"
           b"Content-Location: http://example.test/doc.pdf\r\n"
           b"\r\n")
P3_BODY = b"JVBERi0xLjQK"
NESTED = (OUTER_HEADER + b"--o\r\n" + P1_MIME + P1_BODY + b"\r\n--o\r\n" + P2_MIME + INNER + b"\r\n--o\r\n" + P3_MIME +
          P3_BODY + b"\r\n--o--\r\n")


def lines(b):
    return b.count(b"\n") + (0 if b.endswith(b"\n") else 1)


def text_part(sub, size, nlines, charset="us-ascii", enc="7BIT", ext=True):
    s = f'("TEXT" "{sub}" ("CHARSET" "{charset}") NIL NIL "{enc}" {size} {nlines}'
    return s + (" NIL NIL NIL NIL)" if ext else ")")


def inner_envelope():
    inner = '(("Inner" NIL "inner" "example.test"))'
    return (f'("Tue, 03 Jan 2006 10:00:00 +0000" "inner" {inner} {inner} {inner} '
            '((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL "<inner@example.test>")')


def nested_structure(ext):
    mp_ext = (lambda boundary: f' ("BOUNDARY" "{boundary}") NIL NIL NIL') if ext else (lambda boundary: "")
    one_ext = " NIL NIL NIL NIL" if ext else ""
    inner_body = ("(" + text_part("PLAIN", len(I1_BODY), 1, ext=ext) +
                  f'("APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" {len(I2_BODY)}{one_ext})' +
                  "(" + text_part("PLAIN", len(A1_BODY), 1, ext=ext) + text_part("HTML", len(A2_BODY), 1, ext=ext) +
                  ' "ALTERNATIVE"' + mp_ext("a") + ")" +
                  ' "MIXED"' + mp_ext("i") + ")")
    part1 = text_part("PLAIN", len(P1_BODY), 2, charset="utf-8", enc="QUOTED-PRINTABLE", ext=ext)
    part2 = (f'("MESSAGE" "RFC822" NIL NIL "forwarded" "7BIT" {len(INNER)} {inner_envelope()} {inner_body} '
             f'{lines(INNER)}{one_ext})')
    part3 = f'("APPLICATION" "PDF" ("NAME" "doc.pdf") NIL NIL "BASE64" {len(P3_BODY)}'
    if ext:
        part3 += (' "Q2hlY2sgSW50ZWdyaXR5IQ==" ("ATTACHMENT" ("FILENAME" "doc.pdf")) "en"'
                  ' "http://example.test/doc.pdf"')
    part3 += ")"
    return "(" + part1 + part2 + part3 + ' "MIXED"' + mp_ext("o") + ")"


# --- Addresses: source route, groups, a name with quotes, an encoded name, no Date, no Bcc.
ADDRS = (b"From: \"Joe \\\"Q\\\" Public\" <joe@example.test>\r\n"
         b"Sender: <@a.example,@b.example:user@c.example>\r\n"
         b"Reply-To: =?UTF-8?Q?Andr=C3=A9?= <andre@example.test>\r\n"
         b"To: undisclosed-recipients:;\r\n"
         b"Cc: team: a@x.example, B <b@y.example>;\r\n"
         b"Subject: =?UTF-8?Q?caf=C3=A9?=\r\n"
         b"Message-ID: <addr@example.test>\r\n"
         b"In-Reply-To: <parent@example.test>\r\n"
         b"\r\n"
         b"addresses\r\n")
ADDRS_ENVELOPE = (b'(NIL "=?UTF-8?Q?caf=C3=A9?=" (("Joe \\"Q\\" Public" NIL "joe" "example.test")) '
                  b'((NIL "@a.example,@b.example" "user" "c.example")) '
                  b'(("=?UTF-8?Q?Andr=C3=A9?=" NIL "andre" "example.test")) '
                  b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) '
                  b'((NIL NIL "team" NIL)(NIL NIL "a" "x.example")("B" NIL "b" "y.example")(NIL NIL NIL NIL)) '
                  b'NIL "<parent@example.test>" "<addr@example.test>")')

UNKNOWN_CTE = (b"From: a@example.test\r\nSubject: private\r\nContent-Type: application/x-thing\r\n"
               b"Content-Transfer-Encoding: x-private\r\n\r\ndata\r\n")


def simple(subject, sender, to, cc=None):
    cc_line = f"Cc: {cc}\r\n" if cc else ""
    return (f"From: {sender}\r\nTo: {to}\r\n{cc_line}Subject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n"
            "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\nbody\r\n").encode()


class ImapMime(ImapAccounts, SuiteTestCase):
    PASSWORD = PASSWORD




    def append(self, m, mailbox, msg):
        typ, data = m.append(mailbox, None, None, msg)
        self.assertEqual(typ, "OK", data)

    def fetch1(self, r, seq, items):
        """FETCH seq items; returns the one untagged FETCH line (literals inline)."""
        untagged, tagged = r.cmd(f"FETCH {seq} {items}")
        self.assertTrue(tagged.split(b" ", 2)[1] == b"OK", (items, tagged))
        fetches = [u for u in untagged if re.match(rb"\* \d+ FETCH", u)]
        self.assertEqual(len(fetches), 1, (items, untagged))
        return fetches[0]

    @record_failure
    def test_a_body_sections_of_nested_parts(self):
        user = self.user()
        m = self.login(user)
        r = self.raw(user)
        try:
            self.append(m, "INBOX", NESTED)
            _, tagged = r.cmd("EXAMINE INBOX")
            self.assertIn(b"OK", tagged)
            cases = [
                ("BODY.PEEK[1]", "BODY[1]", P1_BODY),
                ("BODY.PEEK[1.MIME]", "BODY[1.MIME]", P1_MIME),
                ("BODY.PEEK[2]", "BODY[2]", INNER),
                ("BODY.PEEK[2.MIME]", "BODY[2.MIME]", P2_MIME),
                ("BODY.PEEK[2.HEADER]", "BODY[2.HEADER]", INNER_HEADER),
                ("BODY.PEEK[2.TEXT]", "BODY[2.TEXT]", INNER_BODY),
                ("BODY.PEEK[2.HEADER.FIELDS (Subject FROM)]", "BODY[2.HEADER.FIELDS (SUBJECT FROM)]",
                 b"From: Inner <inner@example.test>\r\nSubject: inner\r\n\r\n"),
                ("BODY.PEEK[2.HEADER.FIELDS.NOT (From To Date Content-Type)]",
                 "BODY[2.HEADER.FIELDS.NOT (FROM TO DATE CONTENT-TYPE)]",
                 b"Subject: inner\r\nMessage-ID: <inner@example.test>\r\n\r\n"),
                ("BODY.PEEK[2.1]", "BODY[2.1]", I1_BODY),
                ("BODY.PEEK[2.1.MIME]", "BODY[2.1.MIME]", I1_MIME),
                ("BODY.PEEK[2.2]", "BODY[2.2]", I2_BODY),
                ("BODY.PEEK[2.3]", "BODY[2.3]", I3_BODY),
                ("BODY.PEEK[2.3.2]", "BODY[2.3.2]", A2_BODY),
                ("BODY.PEEK[2.3.2.MIME]", "BODY[2.3.2.MIME]", A2_MIME),
                ("BODY.PEEK[3]<0.4>", "BODY[3]<0>", P3_BODY[:4]),
                ("BODY.PEEK[HEADER]", "BODY[HEADER]", OUTER_HEADER),
                ("BINARY.PEEK[1]", "BINARY[1]", "caf\u00e9\r\nline two".encode()),
                ("BINARY.PEEK[2.1]", "BINARY[2.1]", I1_BODY),
                ("BINARY.PEEK[3]", "BINARY[3]", b"%PDF-1.4\n"),
            ]
            for item, name, data in cases:
                with self.subTest(item=item):
                    got = self.fetch1(r, 1, f"({item})")
                    self.assertEqual(got, b"* 1 FETCH (" + name.encode() + b" {%d}\r\n" % len(data) + data + b")")
            # Binary data with a NUL goes as a literal8 (RFC 3516).
            self.assertEqual(self.fetch1(r, 1, "(BINARY.PEEK[2.2])"), b"* 1 FETCH (BINARY[2.2] ~{4}\r\n\x00\x01\x02\x03)")
            self.assertEqual(self.fetch1(r, 1, "(BINARY.SIZE[2.2] BINARY.SIZE[1])"),
                             b"* 1 FETCH (BINARY.SIZE[2.2] 4 BINARY.SIZE[1] %d)" % len("caf\u00e9\r\nline two".encode()))
            self.assertEqual(self.fetch1(r, 1, "(BODY.PEEK[2.4] BODY.PEEK[5])"), b"* 1 FETCH (BODY[2.4] NIL BODY[5] NIL)")
            # imaplib sees the same bytes.
            typ, data = m.select("INBOX", readonly=True)
            typ, data = m.fetch("1", "(BODY.PEEK[2.HEADER])")
            self.assertEqual(typ, "OK")
            self.assertEqual(data[0][1], INNER_HEADER)
        finally:
            r.close()
            m.logout()

    @record_failure
    def test_b_bodystructure_of_message_rfc822_and_extension_data(self):
        user = self.user()
        m = self.login(user)
        r = self.raw(user)
        try:
            self.append(m, "INBOX", NESTED)
            r.cmd("EXAMINE INBOX")
            self.assertEqual(self.fetch1(r, 1, "(BODYSTRUCTURE)").decode(),
                             f"* 1 FETCH (BODYSTRUCTURE {nested_structure(True)})")
            self.assertEqual(self.fetch1(r, 1, "(BODY)").decode(), f"* 1 FETCH (BODY {nested_structure(False)})")
        finally:
            r.close()
            m.logout()

    @record_failure
    def test_c_envelope_addresses(self):
        user = self.user()
        m = self.login(user)
        r = self.raw(user)
        try:
            self.append(m, "INBOX", ADDRS)
            r.cmd("EXAMINE INBOX")
            self.assertEqual(self.fetch1(r, 1, "(ENVELOPE)"), b"* 1 FETCH (ENVELOPE " + ADDRS_ENVELOPE + b")")
        finally:
            r.close()
            m.logout()

    @record_failure
    def test_d_binary_of_an_unknown_encoding_is_no_unknown_cte(self):
        user = self.user()
        m = self.login(user)
        r = self.raw(user)
        try:
            self.append(m, "INBOX", UNKNOWN_CTE)
            r.cmd("EXAMINE INBOX")
            _, tagged = r.cmd("FETCH 1 (BINARY.PEEK[1])")
            self.assertRegex(tagged, rb"^r\d+ NO \[UNKNOWN-CTE\]")
            _, tagged = r.cmd("FETCH 1 (BODY.PEEK[1])")
            self.assertRegex(tagged, rb"^r\d+ OK")
        finally:
            r.close()
            m.logout()

    @record_failure
    def test_f_a_top_level_message_rfc822(self):
        user = self.user()
        m = self.login(user)
        r = self.raw(user)
        try:
            self.append(m, "INBOX", b"Subject: wrapper\r\nContent-Type: message/rfc822\r\n\r\n" + INNER)
            r.cmd("EXAMINE INBOX")
            for item, name, data in [("BODY.PEEK[1]", "BODY[1]", INNER),
                                     ("BODY.PEEK[1.HEADER]", "BODY[1.HEADER]", INNER_HEADER),
                                     ("BODY.PEEK[1.1]", "BODY[1.1]", I1_BODY),
                                     ("BODY.PEEK[1.3.2]", "BODY[1.3.2]", A2_BODY)]:
                with self.subTest(item=item):
                    got = self.fetch1(r, 1, f"({item})")
                    self.assertEqual(got, b"* 1 FETCH (" + name.encode() + b" {%d}\r\n" % len(data) + data + b")")
        finally:
            r.close()
            m.logout()

    @record_failure
    def test_e_sort_and_search_on_subjects_and_addresses(self):
        user = self.user()
        m = self.login(user)
        try:
            msgs = [
                simple("Re: beta", "Zed <zed@example.test>", "c@example.test", cc="Yolanda <y@example.test>"),
                simple("=?UTF-8?Q?Fwd=3A_alpha?=", "=?UTF-8?Q?=C3=81da?= <yann@example.test>",
                       "Bob <b@example.test>"),
                simple("[list] Gamma (fwd)", "amy@example.test", "\"Aaron\" <zz@example.test>",
                       cc="crew: Xavier <a@example.test>;"),
                simple("[Fwd: Re:  ALPHA ]", "<@relay.example:bert@example.test>", "d@example.test"),
            ]
            for msg in msgs:
                self.append(m, "INBOX", msg)
            m.select("INBOX")
            expected = {
                "(SUBJECT)": "2 4 1 3",
                "(REVERSE SUBJECT)": "3 1 2 4",
                "(FROM)": "3 4 2 1",
                "(TO)": "2 1 4 3",
                "(CC)": "2 4 3 1",  # no Cc sorts first; then a (in the group), y
                "(DISPLAYFROM)": "3 4 1 2",  # amy@..., bert@..., zed, \u00e1da (UTF-8 after ASCII)
            }
            for criteria, order in expected.items():
                with self.subTest(criteria=criteria):
                    typ, data = m.sort(criteria, "UTF-8", "ALL")
                    self.assertEqual(typ, "OK", data)
                    self.assertEqual(data[0].decode(), order)

            def search(key, value):
                m.literal = value.encode()
                typ, data = m.search("UTF-8", key)
                self.assertEqual(typ, "OK", data)
                return data[0].decode()

            self.assertEqual(search("FROM", "\u00e1DA"), "2")  # decoded name, case-insensitive
            self.assertEqual(search("FROM", "=?UTF-8?"), "")  # not the encoded form
            self.assertEqual(search("FROM", "yann@example"), "2")
            self.assertEqual(search("FROM", "bert@"), "4")
            self.assertEqual(search("TO", "aaron"), "3")
            self.assertEqual(search("CC", "xavier"), "3")
            self.assertEqual(search("CC", "crew"), "3")
            self.assertEqual(search("BCC", "zed"), "")
            self.assertEqual(search("SUBJECT", "fwd: ALPHA"), "2")  # the decoded subject
        finally:
            m.logout()


if __name__ == "__main__":
    unittest.main(verbosity=2)

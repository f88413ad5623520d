#!/usr/bin/python3
"""End-to-end: SPF, DKIM and DMARC on kite-mta's inbound path (Authentication-Results).

Needs KITE_BIN_DIR (the daemons and kitectl) and optionally KITE_SOURCE_DIR (the repository).
The suite is started by scripts/kite-local with `--dns-extra`: the launcher's own dnsmasq on
loopback (kite-mta's only DNS server) also serves this test's records: SPF for a set of
.test domains, DMARC records (reject, quarantine) and the public halves of an RSA and an
Ed25519 DKIM key made here. Messages go into kite-mta with smtplib from 127.0.0.1
(local_hostname='client.test'), signed with dkimpy, and are read back over IMAP:
  - a valid signature gives dkim=pass with header.d/header.s/header.b, for each signature
  - a body changed after signing gives dkim=fail
  - spf= matches pyspf (python3-spf, asking the same dnsmasq) for each SPF domain
  - DMARC p=reject failure: 550 5.7.1 at the end of DATA, nothing delivered
  - DMARC p=quarantine failure: delivered into Junk, not INBOX; a Junk mailbox that is
    missing is created with the \\Junk special-use
  - an incoming Authentication-Results with our authserv-id is removed, others are kept
  - DNS temporary failures (names outside .test are refused) give temperror; accepted
Never uses the system resolver: every address is 127.0.0.1 and every domain ends in .test
(outside.example is never resolved: the launcher's dnsmasq refuses it).
"""
import base64
import imaplib
import os
import re
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import uuid

import dkim
import dns.exception
import dns.resolver
import nacl.signing
import spf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, insecure_context, record_failure  # noqa: E402

USER = "demo@example.test"
PASSWORD = "demo-password-123"
AUTHSERV_ID = "mail.example.test"  # global.hostname in the launcher's configuration

# Domain -> SPF record (None: no record at all).
SPF_DOMAINS = {
    "spfpass.test": "v=spf1 ip4:127.0.0.0/8 -all",
    "spffail.test": "v=spf1 ip4:192.0.2.0/24 -all",
    "spfsoft.test": "v=spf1 ip4:192.0.2.0/24 ~all",
    "spfneutral.test": "v=spf1 ?all",
    "spfnone.test": None,
    "spfperm.test": "v=spf1 ip4:300.1.2.3 -all",
    "spfinclude.test": "v=spf1 include:spfpass.test -all",
    "spfa.test": "v=spf1 a -all",
    "spfmx.test": "v=spf1 mx -all",
    "spfredirect.test": "v=spf1 redirect=spffail.test",
}


def txt_line(name, text):
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
    return "txt-record=" + name + "," + ",".join(f'"{c}"' for c in chunks)


class MailAuth(SuiteTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kite-mailauth-")
        # RSA key (PKCS#1 PEM for dkimpy) and an Ed25519 key (RFC 8463: raw keys in base64).
        key = os.path.join(cls.tmp, "rsa.pem")
        subprocess.run(["openssl", "genrsa", "-traditional", "-out", key, "2048"], check=True, capture_output=True)
        with open(key, "rb") as f:
            cls.rsa_private = f.read()
        der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        rsa_public = base64.b64encode(der).decode()
        ed = nacl.signing.SigningKey.generate()
        cls.ed_private = base64.b64encode(ed.encode())
        ed_public = base64.b64encode(ed.verify_key.encode()).decode()
        lines = [
            # signed.test: SPF and DKIM pass, DMARC reject (passes when aligned).
            txt_line("signed.test", "v=spf1 ip4:127.0.0.1 -all"),
            txt_line("_dmarc.signed.test", "v=DMARC1; p=reject"),
            txt_line("rsa1._domainkey.signed.test", f"v=DKIM1; k=rsa; p={rsa_public}"),
            txt_line("ed1._domainkey.signed.test", f"v=DKIM1; k=ed25519; p={ed_public}"),
            # reject.test / quarantine.test: SPF never passes for 127.0.0.1.
            txt_line("reject.test", "v=spf1 ip4:192.0.2.1 -all"),
            txt_line("_dmarc.reject.test", "v=DMARC1; p=reject; aspf=r"),
            txt_line("quarantine.test", "v=spf1 ip4:192.0.2.1 -all"),
            txt_line("_dmarc.quarantine.test", "v=DMARC1; p=quarantine"),
            "host-record=spfa.test,127.0.0.1",
            "mx-host=spfmx.test,mx.spfmx.test,10",
            "host-record=mx.spfmx.test,127.0.0.1",
        ]
        for domain, record in SPF_DOMAINS.items():
            if record is not None:
                lines.append(txt_line(domain, record))
        cls.records_file = os.path.join(cls.tmp, "records.conf")
        with open(cls.records_file, "w") as f:
            f.write("\n".join(lines) + "\n")
        cls.launcher_args = ["--dns-extra", cls.records_file]
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        subprocess.run(["rm", "-rf", cls.tmp], check=False)

    # ------------------------------------------------------------------ helpers
    def message(self, tag, sender, extra_headers=""):
        msgid = f"<{tag}.{uuid.uuid4().hex}@client.test>"
        body = (
            f"From: Sender <{sender}>\r\n"
            f"To: <{USER}>\r\n"
            f"Subject: mail auth {tag}\r\n"
            f"Message-ID: {msgid}\r\n"
            "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
            f"{extra_headers}"
            "\r\n"
            f"Hello from the mail authentication test ({tag}).\r\n"
        ).encode("ascii")
        return msgid, body

    def send(self, mail_from, body, rcpt=USER):
        """(code, reply text) of DATA; MAIL and RCPT must succeed."""
        s = smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=60)
        try:
            code, resp = s.ehlo()
            self.assertEqual(code, 250, resp)
            code, resp = s.mail(mail_from)
            self.assertEqual(code, 250, resp)
            code, resp = s.rcpt(rcpt)
            self.assertEqual(code, 250, resp)
            code, resp = s.data(body)
            return code, resp.decode(errors="replace")
        finally:
            try:
                s.quit()
            except smtplib.SMTPException:
                pass

    def mailbox_messages(self, mailbox, user=USER):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=30)
        try:
            typ, _ = m.login(user, PASSWORD)
            self.assertEqual(typ, "OK")
            typ, data = m.select(mailbox, readonly=True)
            self.assertEqual(typ, "OK", data)
            if int(data[0]) == 0:
                return []
            typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
            self.assertEqual(typ, "OK", data)
            return [item[1] for item in data if isinstance(item, tuple)]
        finally:
            m.logout()

    def fetch(self, msgid, mailbox="INBOX", timeout=30, user=USER):
        deadline = time.monotonic() + timeout
        while True:
            for raw in self.mailbox_messages(mailbox, user):
                if msgid.encode() in raw:
                    return raw
            if time.monotonic() > deadline:
                self.fail(f"{msgid} not in {mailbox} after {timeout} s")
            time.sleep(0.5)

    @staticmethod
    def auth_results(raw):
        """The unfolded Authentication-Results field values of a message's header."""
        head = raw.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
        unfolded = re.sub(r"\r\n[ \t]+", " ", head)
        return [line.split(":", 1)[1].strip() for line in unfolded.split("\r\n")
                if line.lower().startswith("authentication-results:")]

    def ours(self, raw):
        values = [v for v in self.auth_results(raw) if v.split(";", 1)[0].strip().lower() == AUTHSERV_ID]
        self.assertEqual(len(values), 1, values)
        return values[0]

    def pyspf(self, domain):
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = ["127.0.0.1"]
        res.port = self.port("dns")
        res.lifetime = 5

        def lookup(name, qtype, tcpfallback=True, timeout=30):
            out = []
            try:
                for rdata in res.resolve(name, qtype, search=False):
                    if qtype in ("A", "AAAA"):
                        out.append(((name, qtype), rdata.address))
                    elif qtype == "MX":
                        out.append(((name, qtype), (rdata.preference, rdata.exchange)))
                    elif qtype == "PTR":
                        out.append(((name, qtype), rdata.target.to_text(True)))
                    elif qtype in ("TXT", "SPF"):
                        out.append(((name, qtype), list(rdata.strings)))
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                pass
            except (dns.exception.Timeout, dns.resolver.NoNameservers) as x:
                raise spf.TempError("DNS " + str(x))
            return out

        saved = spf.DNSLookup
        spf.DNSLookup = lookup
        try:
            return spf.check2(i="127.0.0.1", s="user@" + domain, h="client.test", querytime=5)[0]
        finally:
            spf.DNSLookup = saved

    def signed(self, tag, tamper=False):
        msgid, body = self.message(tag, "alice@signed.test")
        headers = [b"from", b"to", b"subject", b"message-id", b"date"]
        sig_rsa = dkim.sign(body, b"rsa1", b"signed.test", self.rsa_private, include_headers=headers)
        sig_ed = dkim.sign(body, b"ed1", b"signed.test", self.ed_private, include_headers=headers,
                           signature_algorithm=b"ed25519-sha256")
        signed = sig_rsa + sig_ed + body
        if tamper:
            signed = signed.replace(b"Hello from", b"Hullo from")
        b_tags = []
        for sig in (sig_rsa, sig_ed):
            value = re.sub(rb"\s+", b"", sig.split(b":", 1)[1]).decode()
            tags = dict(t.split("=", 1) for t in value.split(";") if t)
            b_tags.append(tags["b"][:8])
        return msgid, signed, b_tags

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_a_valid_signatures_pass(self):
        msgid, body, b_tags = self.signed("valid")
        code, resp = self.send("alice@signed.test", body)
        self.assertEqual(code, 250, resp)
        raw = self.fetch(msgid)
        ar = self.ours(raw)
        self.assertIn("spf=pass smtp.mailfrom=alice@signed.test", ar)
        rsa = re.search(r"dkim=pass header\.d=signed\.test header\.s=rsa1 header\.b=(\S+?)[;]?(\s|$)", ar)
        self.assertIsNotNone(rsa, ar)
        self.assertEqual(rsa.group(1).strip('"'), b_tags[0])
        ed = re.search(r"dkim=pass header\.d=signed\.test header\.s=ed1 header\.b=(\S+?)[;]?(\s|$)", ar)
        self.assertIsNotNone(ed, ar)
        self.assertEqual(ed.group(1).strip('"'), b_tags[1])
        self.assertRegex(ar, r"dmarc=pass header\.from=signed\.test policy\.dmarc=reject")
        # The delivered message still verifies with dkimpy (our header is above the signatures).
        records = {}
        with open(self.records_file) as f:
            for line in f:
                m = re.match(r'txt-record=([^,]+),(.*)$', line.strip())
                if m:
                    records[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2)))

        def dnsfunc(qname, timeout=5):
            return records.get(qname.decode().rstrip("."), "").encode() or None

        self.assertTrue(dkim.DKIM(raw).verify(idx=0, dnsfunc=dnsfunc))

    @record_failure
    def test_b_tampered_body_fails(self):
        msgid, body, _ = self.signed("tampered", tamper=True)
        code, resp = self.send("alice@signed.test", body)
        self.assertEqual(code, 250, resp)  # SPF still passes aligned: DMARC pass
        ar = self.ours(self.fetch(msgid))
        self.assertRegex(ar, r"dkim=fail[^;]*header\.d=signed\.test header\.s=rsa1")
        self.assertRegex(ar, r"dkim=fail[^;]*header\.d=signed\.test header\.s=ed1")
        self.assertNotIn("dkim=pass", ar)
        self.assertIn("dmarc=pass", ar)

    @record_failure
    def test_c_spf_matches_pyspf(self):
        sent = {}
        for domain in SPF_DOMAINS:
            msgid, body = self.message(f"spf-{domain}", f"user@{domain}")
            code, resp = self.send(f"user@{domain}", body)
            self.assertEqual(code, 250, f"{domain}: {resp}")
            sent[domain] = msgid
        for domain, msgid in sent.items():
            ar = self.ours(self.fetch(msgid))
            m = re.search(r"spf=(\w+)", ar)
            self.assertIsNotNone(m, ar)
            expected = self.pyspf(domain)
            self.assertEqual(m.group(1), expected, f"{domain}: Kite {ar!r}, pyspf {expected}")
            self.assertIn(f"smtp.mailfrom=user@{domain}", ar)
            self.assertIn("dkim=none", ar)
        # The expectations are not all the same answer.
        self.assertEqual({self.pyspf(d) for d in SPF_DOMAINS},
                         {"pass", "fail", "softfail", "neutral", "none", "permerror"})

    @record_failure
    def test_d_dmarc_reject_refused_at_data(self):
        msgid, body = self.message("reject", "bob@reject.test")
        code, resp = self.send("bob@reject.test", body)
        self.assertEqual(code, 550, resp)
        self.assertTrue(resp.startswith("5.7.1"), resp)
        self.assertIn("DMARC", resp)
        # Not delivered anywhere: a later message arrives, the refused one never does.
        later, body = self.message("after-reject", "user@spfpass.test")
        self.assertEqual(self.send("user@spfpass.test", body)[0], 250)
        self.fetch(later)
        for mailbox in ("INBOX", "Junk"):
            self.assertFalse(any(msgid.encode() in raw for raw in self.mailbox_messages(mailbox)), mailbox)

    @record_failure
    def test_e_dmarc_quarantine_goes_to_junk(self):
        msgid, body = self.message("quarantine", "carol@quarantine.test")
        code, resp = self.send("carol@quarantine.test", body)
        self.assertEqual(code, 250, resp)
        raw = self.fetch(msgid, mailbox="Junk")
        ar = self.ours(raw)
        self.assertRegex(ar, r"dmarc=fail \(p=quarantine dis=quarantine\) header\.from=quarantine\.test "
                             r"policy\.dmarc=quarantine")
        self.assertIn("spf=fail", ar)
        self.assertFalse(any(msgid.encode() in m for m in self.mailbox_messages("INBOX")))

    @record_failure
    def test_f_forged_authentication_results_removed(self):
        forged = (f"Authentication-Results: {AUTHSERV_ID};\r\n\tdkim=pass header.d=bank.test\r\n"
                  f"Authentication-Results: (sneaky) \"{AUTHSERV_ID.upper()}\"; spf=pass\r\n"
                  "Authentication-Results: relay.other.test; spf=pass smtp.mailfrom=x@other.test\r\n")
        msgid, body = self.message("forged", "user@spfpass.test", extra_headers=forged)
        code, resp = self.send("user@spfpass.test", body)
        self.assertEqual(code, 250, resp)
        raw = self.fetch(msgid)
        values = self.auth_results(raw)
        ours = self.ours(raw)  # exactly one with our id
        self.assertNotIn("bank.test", ours)
        self.assertIn("spf=pass smtp.mailfrom=user@spfpass.test", ours)
        self.assertIn("relay.other.test; spf=pass smtp.mailfrom=x@other.test", values)
        self.assertEqual(len(values), 2, values)

    @record_failure
    def test_h_junk_created_when_missing(self):
        user = "nojunk@example.test"
        self.ok("user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
        pg = [p for p in sorted(os.listdir("/usr/lib/postgresql")) if os.path.exists(f"/usr/lib/postgresql/{p}/bin/psql")]
        self.assertTrue(pg)
        with open(os.path.join(self.data, "pg", "password")) as f:
            env = dict(os.environ, PGPASSWORD=f.read().strip())
        subprocess.run([f"/usr/lib/postgresql/{pg[-1]}/bin/psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port("pg")),
                        "-U", "postgres", "-d", "kite", "-v", "ON_ERROR_STOP=1", "-c",
                        f"DELETE FROM mailboxes WHERE name = 'Junk' AND account_id = "
                        f"(SELECT id FROM accounts WHERE address = '{user}')"], check=True, env=env)
        msgid, body = self.message("quarantine-nojunk", "dave@quarantine.test")
        code, resp = self.send("dave@quarantine.test", body, rcpt=user)
        self.assertEqual(code, 250, resp)
        raw = self.fetch(msgid, mailbox="Junk", user=user)
        self.assertIn("dmarc=fail", self.ours(raw))
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=30)
        try:
            m.login(user, PASSWORD)
            typ, data = m.list('""', '"*"')
            self.assertEqual(typ, "OK", data)
            junk = [d.decode() for d in data if d and b'"Junk"' in d or (d and d.endswith(b" Junk"))]
            self.assertEqual(len(junk), 1, data)
            self.assertIn("\\Junk", junk[0])
        finally:
            m.logout()

    @record_failure
    def test_i_dns_failure_is_temperror_and_accepted(self):
        # dnsmasq refuses every name outside .test: SPF and DMARC lookups fail temporarily.
        msgid, body = self.message("temperror", "erin@outside.example")
        code, resp = self.send("erin@outside.example", body)
        self.assertEqual(code, 250, resp)
        ar = self.ours(self.fetch(msgid))
        self.assertIn("spf=temperror", ar)
        self.assertIn("dmarc=temperror", ar)
        self.assertIn("header.from=outside.example", ar)

    @record_failure
    def test_g_metrics(self):
        msgid, body = self.message("metrics", "user@spfpass.test")
        self.assertEqual(self.send("user@spfpass.test", body)[0], 250)
        url = f"http://127.0.0.1:{self.port('mta_metrics')}/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:
            metrics = r.read().decode()
        self.assertRegex(metrics, r'(?m)^kite_mta_auth_results_total\{[^}]*method="spf"[^}]*result="pass"[^}]*\} [1-9]')
        self.assertRegex(metrics, r'(?m)^kite_mta_auth_results_total\{[^}]*method="dmarc"[^}]*\} [1-9]')


if __name__ == "__main__":
    unittest.main(verbosity=2)

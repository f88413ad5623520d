#!/usr/bin/python3
"""kitectl dkim and kitectl dns, checked with independent tools.

Starts the suite with scripts/kite-local (see kite_suite.py), generates an RSA and an Ed25519
DKIM key for example.test, and checks that
  - `kitectl dns example.test` is valid master-file syntax (parsed by dnspython as a zone)
    and holds exactly the expected MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, autoconfig and
    SRV records, with every TXT character-string within 255 octets;
  - each DKIM record's key is the public half of the stored private key (openssl pkey), and
    verifies a signature dkimpy makes with that private key, the key record being handed to
    dkimpy through its dnsfunc (no DNS is ever queried);
  - --json agrees with the zone text; refusals are one clear line with a non-zero exit.
"""
import base64
import os
import re
import subprocess
import sys
import unittest

import dkim
import dns.rdataclass
import dns.rdatatype
import dns.zone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402

DOMAIN = "example.test"
MX_HOST = "mail.example.test."  # the launcher's global.hostname
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")

MESSAGE = (
    b"From: Demo User <demo@example.test>\r\n"
    b"To: Someone <someone@client.test>\r\n"
    b"Subject: DKIM check\r\n"
    b"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
    b"Message-ID: <dkim-check@example.test>\r\n"
    b"\r\n"
    b"Signed with a key kitectl generated.\r\n"
)


def pem_body(pem):
    m = re.search(r"-----BEGIN PRIVATE KEY-----\n(.*?)\n-----END PRIVATE KEY-----", pem, re.S)
    assert m, f"not a PKCS#8 PEM private key: {pem[:60]!r}"
    return base64.b64decode(m.group(1))


class KitectlDns(SuiteTestCase):
    keys = {}  # algorithm -> (selector, public key from generate --json)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            for algorithm, selector in (("rsa2048", None), ("ed25519", "kite-ed")):
                args = ["--json", "dkim", "generate", DOMAIN, "--algorithm", algorithm]
                if selector:
                    args += ["--selector", selector]
                r = cls.kitectl(*args)
                if r.returncode != 0:
                    raise AssertionError(repr(r))
                out = r.json()
                cls.keys[algorithm] = (out["selector"], out["public_key"])
        except BaseException:
            cls.failed = True
            cls.tearDownClass()
            raise

    # ------------------------------------------------------------------ helpers
    def zone(self, *extra):
        text = self.ok("dns", DOMAIN, *extra).stdout
        try:
            zone = dns.zone.from_text(text, origin=DOMAIN, relativize=False, check_origin=False)
        except Exception as e:  # dnspython raises several syntax exception types
            self.fail(f"kitectl dns output is not valid zone syntax: {e!r}\n{text}")
        return text, zone

    def rrset(self, zone, name, rdtype):
        rds = zone.get_rdataset(name, rdtype)
        self.assertIsNotNone(rds, f"no {rdtype} at {name}")
        return rds

    def txt(self, zone, name):
        rds = self.rrset(zone, name, "TXT")
        self.assertEqual(len(rds), 1, f"{name}: {rds}")
        strings = list(rds)[0].strings
        for s in strings:
            self.assertLessEqual(len(s), 255)
        return b"".join(strings).decode()

    def private_pem(self, selector):
        return self.ok("dkim", "export-private", DOMAIN, selector).stdout

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_default_selector_and_list(self):
        rsa_selector = self.keys["rsa2048"][0]
        self.assertRegex(rsa_selector, r"^kite\d{6}r$")
        listed = self.ok("dkim", "list", DOMAIN, "--json").json()
        by_selector = {k["selector"]: k for k in listed}
        self.assertEqual(set(by_selector), {rsa_selector, "kite-ed"})
        self.assertEqual(by_selector[rsa_selector]["algorithm"], "rsa2048")
        self.assertEqual(by_selector["kite-ed"]["algorithm"], "ed25519")
        self.assertTrue(all(k["active"] and k["domain"] == DOMAIN for k in listed))
        self.assertIn(rsa_selector, self.ok("dkim", "list").stdout)

    @record_failure
    def test_zone_has_every_record(self):
        text, zone = self.zone()
        mx = list(self.rrset(zone, DOMAIN + ".", "MX"))
        self.assertEqual([(r.preference, r.exchange.to_text()) for r in mx], [(10, MX_HOST)])
        self.assertEqual(self.txt(zone, DOMAIN + "."), "v=spf1 mx -all")
        self.assertEqual(self.txt(zone, f"_dmarc.{DOMAIN}."),
                         f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{DOMAIN}")
        self.assertEqual(self.txt(zone, f"_smtp._tls.{DOMAIN}."), f"v=TLSRPTv1; rua=mailto:tls-reports@{DOMAIN}")
        sts = self.txt(zone, f"_mta-sts.{DOMAIN}.")
        self.assertRegex(sts, r"^v=STSv1; id=[A-Za-z0-9]{1,32}$")
        for host in ("mta-sts", "autoconfig", "autodiscover"):
            cname = list(self.rrset(zone, f"{host}.{DOMAIN}.", "CNAME"))
            self.assertEqual([c.target.to_text() for c in cname], [MX_HOST])
        expected_srv = {"_submission._tcp": 587, "_submissions._tcp": 465, "_imap._tcp": 143, "_imaps._tcp": 993,
                        "_pop3s._tcp": 995, "_pop3._tcp": 110, "_caldavs._tcp": 443}
        for service, port in expected_srv.items():
            srv = list(self.rrset(zone, f"{service}.{DOMAIN}.", "SRV"))
            self.assertEqual(len(srv), 1, service)
            self.assertEqual((srv[0].port, srv[0].target.to_text()), (port, MX_HOST), service)
        self.assertEqual(self.txt(zone, f"_caldavs._tcp.{DOMAIN}."), "path=/.well-known/caldav")
        # The MTA-STS policy file is shown as a comment, and the id does not change between runs.
        self.assertIn(f"https://mta-sts.{DOMAIN}/.well-known/mta-sts.txt", text)
        for line in ("version: STSv1", "mode: testing", "mx: mail.example.test", "max_age: 604800"):
            self.assertIn(f";   {line}\n", text)
        self.assertEqual(self.txt(self.zone()[1], f"_mta-sts.{DOMAIN}."), sts)
        # Nothing else: every name is one of the above, every record is IN with a TTL.
        names = {n.to_text() for n in zone.nodes}
        expected_names = {DOMAIN + ".", f"_dmarc.{DOMAIN}.", f"_smtp._tls.{DOMAIN}.", f"_mta-sts.{DOMAIN}.",
                          f"mta-sts.{DOMAIN}.", f"autoconfig.{DOMAIN}.", f"autodiscover.{DOMAIN}."}
        expected_names |= {f"{s}.{DOMAIN}." for s in expected_srv}
        expected_names |= {f"{sel}._domainkey.{DOMAIN}." for sel, _ in self.keys.values()}
        self.assertEqual(names, expected_names)
        for _, node in zone.nodes.items():
            for rds in node.rdatasets:
                self.assertEqual(rds.rdclass, dns.rdataclass.IN)
                self.assertEqual(rds.ttl, 3600)

    @record_failure
    def test_rsa_record_is_split_into_255_octet_strings(self):
        selector, public_key = self.keys["rsa2048"]
        _, zone = self.zone()
        rds = self.rrset(zone, f"{selector}._domainkey.{DOMAIN}.", "TXT")
        strings = list(rds)[0].strings
        self.assertGreater(len(strings), 1, "a 2048-bit key record is longer than one string")
        self.assertTrue(all(len(s) <= 255 for s in strings))
        self.assertEqual(b"".join(strings).decode(), f"v=DKIM1; k=rsa; p={public_key}")

    @record_failure
    def test_rsa_key_record_matches_private_key_and_verifies(self):
        self.check_key("rsa2048")

    @record_failure
    def test_ed25519_key_record_matches_private_key_and_verifies(self):
        self.check_key("ed25519")

    def check_key(self, algorithm):
        selector, _ = self.keys[algorithm]
        _, zone = self.zone()
        name = f"{selector}._domainkey.{DOMAIN}."
        record = self.txt(zone, name)
        k = "rsa" if algorithm == "rsa2048" else "ed25519"
        m = re.fullmatch(rf"v=DKIM1; k={k}; p=([A-Za-z0-9+/]+=*)", record)
        self.assertIsNotNone(m, record)
        p = base64.b64decode(m.group(1))
        pem = self.private_pem(selector)
        der = pem_body(pem)

        # The record's key is the public half of the stored private key (openssl, independently).
        spki = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=pem.encode(),
                              capture_output=True, check=True).stdout
        if algorithm == "rsa2048":
            self.assertEqual(p, spki)  # the DER SubjectPublicKeyInfo
            bits = subprocess.run(["openssl", "pkey", "-noout", "-text"], input=pem.encode(),
                                  capture_output=True, check=True).stdout.decode()
            self.assertIn("2048 bit", bits)
            privkey, sig_algorithm = pem.encode(), b"rsa-sha256"
        else:
            self.assertEqual(len(p), 32)  # RFC 8463: the raw key, not an SPKI
            self.assertEqual(spki, ED25519_SPKI_PREFIX + p)
            self.assertEqual(der[:16], ED25519_PKCS8_PREFIX)
            privkey, sig_algorithm = base64.b64encode(der[16:]), b"ed25519-sha256"  # dkimpy takes the seed

        queried = []

        def dnsfunc(qname, timeout=5):
            queried.append(qname)
            if qname in (name.encode(), name.rstrip(".").encode()):
                return record.encode()
            return None

        signature = dkim.sign(MESSAGE, selector.encode(), DOMAIN.encode(), privkey, signature_algorithm=sig_algorithm,
                              include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"])
        self.assertTrue(signature.startswith(b"DKIM-Signature:"), signature)
        signed = signature + MESSAGE
        self.assertTrue(dkim.verify(signed, dnsfunc=dnsfunc), f"dkimpy did not verify the {algorithm} signature")
        self.assertTrue(queried, "dkimpy never asked for the key record")
        # And a tampered body fails against the same record (the check is not vacuous).
        self.assertFalse(dkim.verify(signed.replace(b"Signed with", b"Sighed with"), dnsfunc=dnsfunc))

    @record_failure
    def test_json_agrees_with_zone(self):
        _, zone = self.zone()
        out = self.ok("--json", "dns", DOMAIN).json()
        self.assertEqual(out["domain"], DOMAIN)
        self.assertIn("mode: testing", out["mta_sts_policy"])
        seen = set()
        for rec in out["records"]:
            self.assertEqual((rec["class"], rec["ttl"]), ("IN", 3600))
            rds = self.rrset(zone, rec["name"], rec["type"])
            if rec["type"] == "TXT":
                self.assertIn(rec["data"], [b"".join(r.strings).decode() for r in rds])
            else:
                self.assertIn(rec["data"], [r.to_text() for r in rds])
            seen.add((rec["name"], rec["type"], rec["data"]))
        total = sum(len(rds) for node in zone.nodes.values() for rds in node.rdatasets)
        self.assertEqual(len(seen), total)

    @record_failure
    def test_disabled_key_leaves_the_records_and_enable_restores_it(self):
        name = f"kite-ed._domainkey.{DOMAIN}."
        self.ok("dkim", "disable", DOMAIN, "kite-ed")
        try:
            _, zone = self.zone()
            self.assertIsNone(zone.get_rdataset(name, "TXT"))
            self.assertIsNotNone(zone.get_rdataset(f"{self.keys['rsa2048'][0]}._domainkey.{DOMAIN}.", "TXT"))
            self.assertFalse({k["selector"]: k for k in self.ok("--json", "dkim", "list", DOMAIN).json()}
                             ["kite-ed"]["active"])
        finally:
            self.ok("dkim", "enable", DOMAIN, "kite-ed")
        self.assertIsNotNone(self.zone()[1].get_rdataset(name, "TXT"))

    @record_failure
    def test_refusals_are_one_clear_line(self):
        self.refused("dkim", "generate", "nope.test", contains="unknown domain nope.test")
        self.refused("dns", "nope.test", contains="unknown domain nope.test")
        self.refused("dkim", "list", "nope.test", contains="unknown domain nope.test")
        self.refused("dkim", "generate", DOMAIN, "--algorithm", "ed25519", "--selector", "kite-ed",
                     contains="already exists")
        self.refused("dkim", "generate", DOMAIN, "--algorithm", "dsa", code=2, contains="rsa2048 or ed25519")
        self.refused("dkim", "generate", DOMAIN, "--selector", "bad_selector", code=2, contains="invalid selector")
        self.refused("dkim", "generate", DOMAIN, "--selector", "-x", code=2, contains="invalid selector")
        self.refused("dkim", "export-private", DOMAIN, "nosuch", contains="no DKIM key with selector nosuch")
        self.refused("dkim", "disable", DOMAIN, "nosuch", contains="no DKIM key with selector nosuch")
        # A hosted domain without a key: dns refuses unless told to leave DKIM out.
        self.ok("domain", "add", "nokey.test")
        self.refused("dns", "nokey.test", contains="no active DKIM key for nokey.test")
        text = self.ok("dns", "nokey.test", "--no-dkim").stdout
        zone = dns.zone.from_text(text, origin="nokey.test", relativize=False, check_origin=False)
        self.assertIsNotNone(zone.get_rdataset("nokey.test.", "MX"))
        self.assertNotIn("_domainkey", text)
        # --help works on both commands and exits 0.
        for cmd in (["dkim", "--help"], ["dns", "--help"]):
            r = self.ok(*cmd)
            self.assertIn("Usage: kitectl", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)

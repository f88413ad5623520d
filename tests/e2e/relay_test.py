#!/usr/bin/python3
"""End-to-end: kite-mta's outbound relay inside the whole suite.

A user submits mail for remote recipients through kite-submission (587, STARTTLS, AUTH) with
RFC 3461 parameters; kite-mta's relay finds the MX through this test's own dnsmasq on
loopback (KITE_GLOBAL_DNS_SERVERS) and delivers on a high port (KITE_MTA_RELAY_PORT) to
Postfix's smtp-sink:
  - sink.test: smtp-sink on 127.0.0.3 gets the message with RET/ENVID and NOTIFY/ORCPT
    passed on (xtext as given) and the text byte for byte;
  - reject.test: smtp-sink on 127.0.0.5 refuses RCPT with 550 5.1.1; the sender finds an
    RFC 3464 report (multipart/report, Action: failed) in their INBOX, read with imaplib.
Never the system resolver: dnsmasq with --no-resolv --no-hosts, every address on loopback.
"""
import imaplib
import os
import shutil
import smtplib
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, insecure_context, record_failure  # noqa: E402
from loopback_peers import start_dnsmasq, start_smtp_sink, stop  # noqa: E402

USER = "demo@example.test"
PASSWORD = "demo-password-123"


class RelayTest(SuiteTestCase):
    procs = []
    tmp = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kite-relay-e2e-")
        os.chmod(cls.tmp, 0o777)
        cls.sink_dir = os.path.join(cls.tmp, "sink")
        os.makedirs(cls.sink_dir)
        os.chmod(cls.sink_dir, 0o777)
        dns, dns_port = start_dnsmasq("local=/test/\n"
                                      "mx-host=sink.test,mx.sink.test,10\n"
                                      "host-record=mx.sink.test,127.0.0.3\n"
                                      "mx-host=reject.test,mx.reject.test,10\n"
                                      "host-record=mx.reject.test,127.0.0.5\n", cls.tmp)
        cls.procs.append(dns)
        sink, cls.mx_port = start_smtp_sink("127.0.0.3", maildir=cls.sink_dir)
        cls.procs.append(sink)
        # The relay connects to every MX on one port: the refusing sink takes the same one.
        refuser, _ = start_smtp_sink("127.0.0.5", port=cls.mx_port, reject_rcpt="550 5.1.1 no such user here")
        cls.procs.append(refuser)
        cls.extra_env = {
            "KITE_GLOBAL_DNS_SERVERS": f"127.0.0.1:{dns_port}",
            "KITE_MTA_RELAY_PORT": str(cls.mx_port),
            "KITE_MTA_RELAY_RECONCILE_INTERVAL": "1s",
            "KITE_MTA_RELAY_BACKOFF": "2s",
        }
        try:
            super().setUpClass()
        except BaseException:
            cls.stop_peers()
            raise

    @classmethod
    def stop_peers(cls):
        stop(cls.procs)
        cls.procs = []
        if cls.tmp:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.stop_peers()

    def submit(self, to, body, mail_options=(), rcpt_options=()):
        s = smtplib.SMTP("127.0.0.1", self.port("sub_starttls"), local_hostname="client.test", timeout=30)
        try:
            s.ehlo()
            code, resp = s.starttls(context=insecure_context())
            self.assertEqual(code, 220, resp)
            s.ehlo()
            self.assertTrue(s.has_extn("dsn"), "DSN is advertised")
            s.login(USER, PASSWORD)
            refused = s.sendmail(USER, [to], body, mail_options=list(mail_options), rcpt_options=list(rcpt_options))
            self.assertEqual(refused, {})
        finally:
            s.quit()

    def sink_dumps(self):
        out = []
        for root, _, files in os.walk(self.sink_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    out.append(f.read())
        return out

    @record_failure
    def test_a_delivered_by_mx_with_dsn_parameters(self):
        text = b".a line with a leading dot\r\n..and two\r\nplain " + uuid.uuid4().hex.encode() + b"\r\n"
        body = (b"From: " + USER.encode() + b"\r\nTo: friend@sink.test\r\nSubject: relayed\r\n"
                b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@example.test>\r\n"
                b"Date: Mon, 23 Nov 2026 03:00:00 +0000\r\n\r\n" + text)
        self.submit("friend@sink.test", body, ["RET=HDRS", "ENVID=abc+2Bdef"],
                    ["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;Friend@Sink.test"])
        deadline = time.monotonic() + 60
        dumps = []
        while time.monotonic() < deadline and not dumps:
            dumps = self.sink_dumps()
            time.sleep(0.2)
        self.assertEqual(len(dumps), 1, dumps)
        d = dumps[0]
        self.assertIn(b"X-Mail-Args: <demo@example.test>", d)
        self.assertIn(b"RET=HDRS ENVID=abc+2Bdef", d)
        self.assertIn(b"X-Rcpt-Args: <friend@sink.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;Friend@Sink.test", d)
        # smtp-sink writes LF line ends and an empty line after the message.
        self.assertTrue(d.endswith(b"\n" + text.replace(b"\r\n", b"\n") + b"\n"), d)
        self.assertIn(b"Subject: relayed\n", d)

    @record_failure
    def test_b_refused_recipient_bounces_into_the_senders_inbox(self):
        subject = "doomed " + uuid.uuid4().hex
        body = (f"From: {USER}\r\nTo: nobody@reject.test\r\nSubject: {subject}\r\n\r\nsecret text\r\n").encode()
        self.submit("nobody@reject.test", body)
        deadline = time.monotonic() + 60
        report = None
        while time.monotonic() < deadline and report is None:
            m = imaplib.IMAP4_SSL("127.0.0.1", self.port("imap_tls"), ssl_context=insecure_context(), timeout=30)
            try:
                m.login(USER, PASSWORD)
                typ, data = m.select("INBOX", readonly=True)
                self.assertEqual(typ, "OK", data)
                if int(data[0]) > 0:
                    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
                    self.assertEqual(typ, "OK", data)
                    for item in data:
                        if isinstance(item, tuple) and b"Final-Recipient: rfc822;nobody@reject.test" in item[1]:
                            report = item[1]
            finally:
                m.logout()
            if report is None:
                time.sleep(0.5)
        self.assertIsNotNone(report, "no delivery status notification in INBOX")
        self.assertIn(b"Content-Type: multipart/report; report-type=delivery-status", report)
        self.assertIn(b"Action: failed\r\nStatus: 5.1.1\r\n", report)
        self.assertIn(b"Diagnostic-Code: smtp; 550 5.1.1 no such user here", report)
        self.assertIn(subject.encode(), report)  # the returned message
        self.assertIn(b"Auto-Submitted: auto-replied", report)


if __name__ == "__main__":
    unittest.main(verbosity=2)

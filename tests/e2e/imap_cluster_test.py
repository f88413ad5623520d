#!/usr/bin/python3
"""End-to-end: two kite-imap replicas serve the same mailboxes (issue 6, "Cluster: any number
of replicas; IDLE and NOOP on replica B see a delivery, flag change or expunge made through
replica A (Redis notifications); UIDVALIDITY, UIDNEXT and MODSEQ stay correct under
concurrent writers").

The whole suite is started by scripts/kite-local (tests/fixtures/kite_suite.py), and a second
kite-imap with `kite-local start-daemon imap@2` (every port 100 higher). Replica 1 is "A",
replica 2 is "B":
  1 a client IDLEs on B; a message delivered through kite-mta gives "* n EXISTS" there;
  2 a flag STORE through A shows up on B, in IDLE, as "* n FETCH (... FLAGS (...))";
  3 an EXPUNGE through A shows up on B as "* n EXPUNGE" after NOOP;
  4 APPENDs from both replicas at once (threads on each): no UID given twice, every APPENDUID
    (RFC 4315) is a message there, UIDVALIDITY is one value and UIDNEXT is above every UID and
    the same on both replicas afterwards.
Waits for notifications are generous (10 s) and bounded; nothing asserts on speed. A step
that needs a command kite-imap answers with "BAD ... not implemented" is skipped with the
command's name. Never uses DNS: every address is 127.0.0.1 and every domain ends in .test.
"""
import imaplib
import os
import re
import smtplib
import socket
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_ops import wait_until  # noqa: E402
from kite_suite import SuiteTestCase, insecure_context, record_failure  # noqa: E402

PASSWORD = "cluster-password-123"
USER = "cluster@example.test"
RACE_USER = "race@example.test"
NOTIFY_TIMEOUT = 10.0  # seconds to wait for an unsolicited response: generous, never a speed check
APPENDERS_PER_REPLICA = 3
APPENDS_EACH = 20


def message(tag):
    msgid = f"<{tag}.{uuid.uuid4().hex}@client.test>"
    return msgid, (f"From: Sender <sender@client.test>\r\nTo: <{USER}>\r\nSubject: cluster {tag}\r\n"
                   f"Message-ID: {msgid}\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n"
                   f"Body of {tag}.\r\n").encode()


class NotImplementedByServer(Exception):
    pass


def check(typ, data, what):
    if typ != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        if "not implemented" in text:
            raise NotImplementedByServer(f"{what}: {text}")
        raise AssertionError(f"{what}: {typ} {text}")
    return data


class Idle:
    """IDLE (RFC 2177) on an imaplib connection: imaplib (before 3.14) has no IDLE command."""

    def __init__(self, m):
        self.m = m
        self.tag = None

    def start(self):
        self.tag = self.m._new_tag()
        self.m.send(self.tag + b" IDLE\r\n")
        self.m.sock.settimeout(NOTIFY_TIMEOUT)
        while True:
            line = self.m.readline()
            if line.startswith(b"+"):
                return
            if line.startswith(self.tag + b" "):
                text = line.decode(errors="replace").strip()
                if "not implemented" in text:
                    raise NotImplementedByServer(f"IDLE: {text}")
                raise AssertionError(f"IDLE refused: {text}")

    def wait_for(self, pattern, timeout=NOTIFY_TIMEOUT):
        """The first unsolicited line matching `pattern` within `timeout` s, else None; the lines
        seen are in self.seen."""
        self.seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.m.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                line = self.m.readline()
            except (socket.timeout, TimeoutError):
                break
            if not line:
                raise AssertionError("the server closed the IDLE connection")
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        return None

    def done(self):
        self.m.sock.settimeout(NOTIFY_TIMEOUT)
        self.m.send(b"DONE\r\n")
        while True:
            line = self.m.readline()
            if not line:
                raise AssertionError("connection closed after DONE")
            if line.startswith(self.tag + b" "):
                if not line.startswith(self.tag + b" OK"):
                    raise AssertionError(f"IDLE ended with {line!r}")
                self.m.sock.settimeout(60)
                return


class ImapCluster(SuiteTestCase):
    replica_ready = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            for user in (USER, RACE_USER):
                r = cls.kitectl("user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
                if r.returncode != 0:
                    raise RuntimeError(repr(r))
            cls.kite_local("start-daemon", "imap@2")
            port = cls.port("imap@2_imap_tls")
            cls.replica_ready = wait_until(lambda: cls.connects(port), 60, interval=0.2)
            if not cls.replica_ready:
                raise RuntimeError(f"kite-imap@2 does not accept connections on 127.0.0.1:{port}")
            for i in range(5):
                cls.deliver(f"seed{i}")
            if not wait_until(lambda: cls.messages(cls.port("imap_tls")) >= 5, 120):
                raise RuntimeError("the 5 seed messages were not delivered in 120 s")
        except BaseException:
            cls.failed = True
            cls.tearDownClass()
            raise

    @staticmethod
    def connects(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    @classmethod
    def login(cls, port, user=USER):
        m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=insecure_context(), timeout=60)
        m.login(user, PASSWORD)
        return m

    @classmethod
    def messages(cls, port, user=USER):
        m = cls.login(port, user)
        try:
            typ, data = m.status("INBOX", "(MESSAGES)")
            return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1)) if typ == "OK" else -1
        finally:
            m.logout()

    @classmethod
    def deliver(cls, tag, to=USER):
        msgid, body = message(tag)
        s = smtplib.SMTP("127.0.0.1", cls.port("smtp"), local_hostname="client.test", timeout=60)
        try:
            s.ehlo()
            s.sendmail("sender@client.test", [to], body)
        finally:
            s.quit()
        return msgid

    @property
    def a(self):
        return self.port("imap_tls")

    @property
    def b(self):
        return self.port("imap@2_imap_tls")

    def skip_missing(self, e):
        self.skipTest(f"kite-imap does not implement this yet: {e}")

    def select(self, m, mailbox="INBOX"):
        typ, data = m.select(mailbox)
        check(typ, data, f"SELECT {mailbox}")
        return int(data[0])

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_1_idle_on_b_sees_delivery(self):
        m = self.login(self.b)
        try:
            exists = self.select(m)
            idle = Idle(m)
            try:
                idle.start()
            except NotImplementedByServer as e:
                self.skip_missing(e)
            self.deliver("idle")
            line = idle.wait_for(rb"^\* %d EXISTS" % (exists + 1))
            self.assertIsNotNone(line, f"no '* {exists + 1} EXISTS' on replica 2 within {NOTIFY_TIMEOUT} s "
                                       f"of the delivery's 250 (seen: {idle.seen})")
            idle.done()
        finally:
            m.logout()

    @record_failure
    def test_2_store_on_a_shows_as_fetch_on_b(self):
        a, b = self.login(self.a), self.login(self.b)
        try:
            self.select(a)
            self.select(b)
            typ, data = a.store("2", "-FLAGS", "(\\Flagged)")
            check(typ, data, "STORE")
            idle = Idle(b)
            try:
                idle.start()
            except NotImplementedByServer as e:
                self.skip_missing(e)
            typ, data = a.store("2", "+FLAGS", "(\\Flagged)")
            check(typ, data, "STORE")
            line = idle.wait_for(rb"^\* 2 FETCH \(.*FLAGS \([^)]*\\Flagged")
            self.assertIsNotNone(line, f"no '* 2 FETCH (FLAGS (\\Flagged))' on replica 2 within {NOTIFY_TIMEOUT} s "
                                       f"of the STORE on replica 1 (seen: {idle.seen})")
            idle.done()
        finally:
            a.logout()
            b.logout()

    @record_failure
    def test_3_expunge_on_a_shows_on_b_after_noop(self):
        a, b = self.login(self.a), self.login(self.b)
        try:
            exists_a = self.select(a)
            exists_b = self.select(b)
            self.assertEqual(exists_a, exists_b)
            try:
                check(*a.store("3", "+FLAGS", "(\\Deleted)"), "STORE")
                typ, data = a.expunge()
                check(typ, data, "EXPUNGE")
            except (NotImplementedByServer, imaplib.IMAP4.error) as e:
                if "not implemented" in str(e):
                    self.skip_missing(e)
                raise
            self.assertIn(b"3", [d for d in data if d], f"replica 1 did not report '* 3 EXPUNGE': {data}")
            # NOOP on B until the expunge is reported (bounded; the notification crosses Redis).
            seen = []

            def expunged():
                typ, data = b.noop()
                seen.extend(b.untagged_responses.get("EXPUNGE", []))
                b.untagged_responses.pop("EXPUNGE", None)
                return any(x == b"3" for x in seen)
            self.assertTrue(wait_until(expunged, NOTIFY_TIMEOUT, interval=0.2),
                            f"no '* 3 EXPUNGE' on replica 2 after NOOP within {NOTIFY_TIMEOUT} s (saw {seen})")
            self.assertEqual(seen.count(b"3"), 1, f"expunge reported more than once: {seen}")
            typ, data = b.noop()
            typ, data = b.select("INBOX")
            self.assertEqual(int(data[0]), exists_b - 1)
        finally:
            a.logout()
            b.logout()

    @record_failure
    def test_4_concurrent_appends_from_both_replicas(self):
        results, errors = [], []
        lock = threading.Lock()
        start = threading.Barrier(2 * APPENDERS_PER_REPLICA)

        def appender(port, n):
            try:
                m = self.login(port, RACE_USER)
                try:
                    start.wait(60)
                    for i in range(APPENDS_EACH):
                        msgid, body = message(f"race{port}.{n}.{i}")
                        typ, data = m.append("INBOX", "", None, body)
                        if typ != "OK":
                            raise AssertionError(f"APPEND: {typ} {data}")
                        code = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0] or b"")
                        with lock:
                            results.append((msgid, (int(code.group(1)), int(code.group(2))) if code else None))
                finally:
                    m.logout()
            except Exception as e:  # noqa: BLE001 - collected and reported below
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
        threads = [threading.Thread(target=appender, args=(port, n), daemon=True)
                   for port in (self.a, self.b) for n in range(APPENDERS_PER_REPLICA)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        if errors and all("not implemented" in e for e in errors):
            self.skip_missing(errors[0])
        self.assertFalse(errors, errors[:3])
        total = 2 * APPENDERS_PER_REPLICA * APPENDS_EACH
        self.assertEqual(len(results), total)

        # What each replica says afterwards.
        views = {}
        for name, port in (("replica 1", self.a), ("replica 2", self.b)):
            m = self.login(port, RACE_USER)
            try:
                typ, data = m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY)")
                st = {k.decode(): int(v) for k, v in re.findall(rb"(MESSAGES|UIDNEXT|UIDVALIDITY) (\d+)", data[0])}
                typ, data = m.select("INBOX", readonly=True)
                typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                uids, by_msgid = [], {}
                for part in data:
                    if isinstance(part, tuple):
                        uid = int(re.search(rb"UID (\d+)", part[0]).group(1))
                        mid = re.search(rb"<[^>]+>", part[1])
                        uids.append(uid)
                        if mid:
                            by_msgid[mid.group(0).decode()] = uid
                views[name] = (st, uids, by_msgid)
            finally:
                m.logout()
        (st1, uids1, map1), (st2, uids2, map2) = views["replica 1"], views["replica 2"]
        self.assertEqual(st1, st2, "STATUS differs between the replicas")
        self.assertEqual(st1["MESSAGES"], total)
        self.assertEqual(len(uids1), total)
        self.assertEqual(len(set(uids1)), total, "a UID was given twice")
        self.assertEqual(sorted(uids1), sorted(uids2))
        self.assertGreater(st1["UIDNEXT"], max(uids1), "UIDNEXT is not above every UID")
        self.assertEqual(map1, map2)
        appenduids = [r for _, r in results if r]
        if appenduids:
            self.assertEqual(len(appenduids), total, "APPENDUID on some APPENDs only")
            self.assertEqual({v for v, _ in appenduids}, {st1["UIDVALIDITY"]}, "APPENDUID's UIDVALIDITY differs")
            self.assertEqual(len({u for _, u in appenduids}), total, "APPENDUID gave a UID twice")
            for msgid, (_, uid) in results:
                self.assertEqual(map1.get(msgid), uid, f"APPENDUID {uid} of {msgid} is not that message")


if __name__ == "__main__":
    unittest.main(verbosity=2)

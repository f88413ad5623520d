#!/usr/bin/python3
"""kitectl queue list|show|retry|delete|flush|stats against a running suite.

Mail is queued with kite-delivery stopped (local recipients stay 'queued' in the spool) and
through kite-submission to a remote recipient (kind 'remote'). States the test cannot
produce over SMTP (deferred with an error, failed) are set with SQL, as the relay would.
Every subcommand is run in text and --json form; at the end kite-delivery is started again
and the messages that were not deleted arrive in the INBOX exactly once over IMAP, the
deleted one never.
Never uses DNS: every address is 127.0.0.1 and every domain ends in .test.
"""
import os
import smtplib
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, insecure_context, record_failure  # noqa: E402
from kite_ops import DEMO, DEMO_PASSWORD, inbox_seqs, message, psql, wait_healthy, wait_until  # noqa: E402

SECOND = "second@example.test"
REMOTE = "someone@remote.test"
TAG = "qtest"


class QueueTest(SuiteTestCase):
    # The relay is off so remote mail stays queued for the queue commands to act on (with it
    # on, remote.test has no DNS records in the launcher's dnsmasq and would bounce at once).
    extra_env = {"KITE_AUTH_ARGON2_MEMORY_KIB": "1024", "KITE_AUTH_ARGON2_ITERATIONS": "1",
                 "KITE_MTA_RELAY_ENABLED": "false"}
    ids = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            r = cls.kitectl("user", "add", SECOND, "--password-stdin", stdin="second-password-1\n")
            assert r.returncode == 0, repr(r)
            # Delivery stopped: accepted mail stays in the spool.
            cls.kite_local("kill-daemon", "delivery", "TERM")
        except BaseException:
            cls.failed = True
            cls.tearDownClass()
            raise

    # ------------------------------------------------------------------ helpers
    def send_mta(self, sender, rcpts, seq):
        _, body = message(rcpts[0], seq, TAG, sender=sender)
        with smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=30) as s:
            refused = s.sendmail(sender, rcpts, body)
            self.assertEqual(refused, {})

    def send_submission(self, to, seq):
        _, body = message(to, seq, TAG, sender=DEMO)
        with smtplib.SMTP("127.0.0.1", self.port("sub_starttls"), local_hostname="client.test", timeout=30) as s:
            s.starttls(context=insecure_context())
            s.login(DEMO, DEMO_PASSWORD)
            self.assertEqual(s.sendmail(DEMO, [to], body), {})

    def listed(self, *filters):
        """Messages of this test only: an outbound relay (after merge) may add a bounce."""
        mine = set(self.ids.values())
        return [m for m in self.ok("--json", "queue", "list", *filters).json() if not mine or m["id"] in mine]

    def spool_id_of(self, seq):
        rows = psql(self, "SELECT id FROM spool WHERE position(convert_to(:'v1', 'UTF8') IN body) > 0",
                    f"X-Seq: {TAG}-{seq}\r")
        self.assertEqual(len(rows), 1, rows)
        return int(rows[0][0])

    def rcpt_row(self, spool_id, rcpt):
        rows = psql(self, "SELECT state, attempts, next_attempt_at <= now(), COALESCE(last_error, '') "
                          "FROM spool_recipients WHERE spool_id = :'v1' AND recipient = :'v2'", spool_id, rcpt)
        return rows[0] if rows else None

    def stream_length(self):
        return self.ok("--json", "queue", "stats").json()["streams"]["kite:deliver"]["length"]

    # ------------------------------------------------------------------ tests (in order)
    @record_failure
    def test_1_empty_queue(self):
        r = self.ok("queue", "list")
        self.assertIn("queue is empty", r.stdout)
        self.assertEqual(self.listed(), [])
        self.assertEqual(self.ok("queue", "--help").returncode, 0)
        self.refused("queue", "list", "--state", "bogus", code=2)
        self.refused("queue", "show", "999999", contains="no spooled message")
        self.refused("queue", "show", "x", code=2)

    @record_failure
    def test_2_list_with_filters(self):
        self.send_mta("alice@client.test", [DEMO], 1)
        self.send_mta("bob@other.test", [DEMO, SECOND], 2)
        self.send_mta("", [SECOND], 3)  # a bounce: null sender
        self.send_submission(REMOTE, 4)
        type(self).ids = {seq: self.spool_id_of(seq) for seq in (1, 2, 3, 4)}
        ids = self.ids

        everything = self.listed()
        self.assertEqual([m["id"] for m in everything], sorted(ids.values()))
        two = next(m for m in everything if m["id"] == ids[2])
        self.assertEqual(two["sender"], "bob@other.test")
        self.assertEqual(two["source"], "mta")
        self.assertEqual(sorted(r["recipient"] for r in two["recipients"]), [DEMO, SECOND])
        for r in two["recipients"]:
            self.assertEqual((r["kind"], r["state"], r["attempts"]), ("local", "queued", 0))
            self.assertIsNone(r["last_error"])
        four = next(m for m in everything if m["id"] == ids[4])
        self.assertEqual((four["source"], four["auth_user"]), ("submission", DEMO))
        self.assertEqual(four["recipients"][0]["kind"], "remote")
        self.assertEqual(four["recipients"][0]["state"], "queued")

        text = self.ok("queue", "list").stdout
        self.assertIn("bob@other.test", text)
        self.assertIn("<>", text)  # the null sender
        self.assertRegex(text, r"-- \d+ messages, \d+ recipients")

        def ids_of(*f):
            return sorted(m["id"] for m in self.listed(*f))

        self.assertEqual(ids_of("--kind", "remote"), [ids[4]])
        self.assertEqual(ids_of("--kind", "local"), sorted([ids[1], ids[2], ids[3]]))
        self.assertEqual(ids_of("--domain", "remote.test"), [ids[4]])
        self.assertEqual(ids_of("--domain", "REMOTE.test"), [ids[4]])
        self.assertEqual(ids_of("--sender", "bob@other.test"), [ids[2]])
        self.assertEqual(ids_of("--sender", "@client.test"), [ids[1]])
        self.assertEqual(ids_of("--sender", "<>"), [ids[3]])
        self.assertEqual(ids_of("--state", "deferred"), [])
        self.assertEqual(ids_of("--older-than", "1h"), [])
        self.assertEqual(ids_of("--older-than", "0s"), sorted(ids.values()))
        self.assertEqual(len(self.listed("--limit", "2")), 2)
        # Only the matching recipients of a message are listed.
        only_second = self.listed("--domain", "example.test", "--sender", "bob@other.test")
        self.assertEqual(len(only_second[0]["recipients"]), 2)
        self.assertIn("(for these filters)", self.ok("queue", "list", "--state", "failed").stdout)

    @record_failure
    def test_3_show(self):
        sid = self.ids[2]
        r = self.ok("queue", "show", str(sid))
        self.assertIn(f"spool_id:    {sid}", r.stdout)
        self.assertIn("sender:      bob@other.test", r.stdout)
        self.assertIn(f"recipient:   {SECOND} (local)", r.stdout)
        self.assertIn("state queued, attempts 0", r.stdout)
        self.assertIn(f"X-Seq: {TAG}-2", r.stdout)
        self.assertIn("Received:", r.stdout)
        self.assertNotIn("Message 2 for", r.stdout)  # headers only without --body
        r = self.ok("queue", "show", str(sid), "--body")
        self.assertIn("Message 2 for", r.stdout)
        doc = self.ok("--json", "queue", "show", str(sid)).json()
        self.assertEqual(doc["id"], sid)
        self.assertIn(f"X-Seq: {TAG}-2", doc["headers"])
        self.assertNotIn("message", doc)
        doc = self.ok("--json", "queue", "show", "--body", str(sid)).json()
        self.assertIn("Message 2 for", doc["message"])
        self.assertEqual(len(doc["recipients"]), 2)

    @record_failure
    def test_4_retry(self):
        ids = self.ids
        # As the relay would record a temporary failure: deferred, an error, due in an hour.
        psql(self, "UPDATE spool_recipients SET state = 'deferred', attempts = 2, "
                   "last_error = '451 4.3.0 try later', next_attempt_at = now() + interval '1 hour' "
                   "WHERE spool_id = :'v1' AND recipient = :'v2'", ids[1], DEMO)
        psql(self, "UPDATE spool_recipients SET state = 'failed', attempts = 5, last_error = '550 5.1.1 no' "
                   "WHERE spool_id = :'v1' AND recipient = :'v2'", ids[3], SECOND)
        deferred = self.listed("--state", "deferred")
        self.assertEqual([m["id"] for m in deferred], [ids[1]])
        self.assertEqual(deferred[0]["recipients"][0]["last_error"], "451 4.3.0 try later")
        self.assertIn("451 4.3.0 try later", self.ok("queue", "list", "--state", "deferred").stdout)
        self.assertIn("last error: 451 4.3.0 try later", self.ok("queue", "show", str(ids[1])).stdout)
        self.assertEqual([m["id"] for m in self.listed("--state", "failed")], [ids[3]])

        before = self.stream_length()
        r = self.ok("queue", "retry", str(ids[1]))
        self.assertIn("1 recipient(s) of 1 message(s) due now and enqueued", r.stdout)
        state, attempts, due, err = self.rcpt_row(ids[1], DEMO)
        self.assertEqual((state, attempts, due), ("deferred", "2", "t"))
        self.assertGreaterEqual(self.stream_length(), before + 1)

        doc = self.ok("--json", "queue", "retry", str(ids[3]), "--recipient", SECOND).json()
        self.assertEqual((doc["ok"], doc["recipients"], doc["messages"]), (True, 1, 1))
        self.assertEqual(self.rcpt_row(ids[3], SECOND)[0], "queued")  # failed -> queued again
        self.assertGreaterEqual(self.stream_length(), before + 2)

        doc = self.ok("--json", "queue", "retry", "all", "--kind", "local").json()
        self.assertGreaterEqual(doc["recipients"], 4)  # 1:demo, 2:demo+second, 3:second
        self.refused("queue", "retry", "999999", contains="nothing to retry")
        self.refused("queue", "retry", code=2)

    @record_failure
    def test_5_delete(self):
        ids = self.ids
        # One recipient of a two-recipient message: the message stays for the other.
        r = self.ok("queue", "delete", str(ids[2]), "--recipient", SECOND)
        self.assertIn("deleted 1 recipient(s); 0 message(s) removed", r.stdout)
        two = [m for m in self.listed() if m["id"] == ids[2]][0]
        self.assertEqual([x["recipient"] for x in two["recipients"]], [DEMO])
        # Bulk needs --yes, and says what it would do.
        r = self.refused("queue", "delete", "all", "--domain", "remote.test", contains="add --yes")
        self.assertIn("1 recipient(s) of 1 message(s)", r.stderr)
        self.assertEqual([m["id"] for m in self.listed("--kind", "remote")], [ids[4]])
        doc = self.ok("--json", "queue", "delete", "all", "--domain", "remote.test", "--yes").json()
        self.assertEqual((doc["recipients"], doc["messages"]), (1, 1))
        self.assertEqual(self.listed("--kind", "remote"), [])
        self.assertEqual(psql(self, "SELECT count(*) FROM spool WHERE id = :'v1'", ids[4]), [["0"]])
        # A whole message by id (the one to SECOND from <>): never delivered afterwards.
        r = self.ok("queue", "delete", str(ids[3]))
        self.assertIn("1 message(s) removed", r.stdout)
        self.refused("queue", "delete", str(ids[3]), contains="nothing to delete")
        self.assertEqual(self.ok("--json", "queue", "delete", "all", "--kind", "remote").json()["recipients"], 0)

    @record_failure
    def test_6_flush_and_deliver(self):
        ids = self.ids
        psql(self, "UPDATE spool_recipients SET state = 'deferred', next_attempt_at = now() + interval '2 hours' "
                   "WHERE spool_id = :'v1'", ids[1])
        self.assertEqual(self.rcpt_row(ids[1], DEMO)[2], "f")
        r = self.ok("queue", "flush")
        self.assertIn("1 deferred recipient(s) due now and enqueued", r.stdout)
        self.assertEqual(self.rcpt_row(ids[1], DEMO)[2], "t")
        # Lost from Redis: the reconcile pass of flush puts it back.
        psql(self, "UPDATE spool_recipients SET enqueued_at = NULL WHERE spool_id = :'v1'", ids[2])
        doc = self.ok("--json", "queue", "flush").json()
        self.assertEqual(doc["ok"], True)
        self.assertGreaterEqual(doc["reconciled"], 1)
        stats = self.ok("queue", "stats").stdout
        self.assertIn("local/deferred", stats)

        # Delivery again: 1 and 2 arrive once each (in spite of the extra stream entries),
        # 3 (deleted) never; the queue empties.
        self.kite_local("start-daemon", "delivery")
        self.assertTrue(wait_healthy(self, "delivery"))
        empty = wait_until(lambda: self.listed() == [], 60)
        self.assertTrue(empty, self.ok("queue", "list").stdout)
        self.assertEqual(dict(inbox_seqs(self, TAG)), {1: 1, 2: 1})
        self.assertEqual(dict(inbox_seqs(self, TAG, SECOND, "second-password-1")), {})


if __name__ == "__main__":
    unittest.main(verbosity=2)

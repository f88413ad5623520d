#!/usr/bin/python3
# ctest-timeout: 1200
"""Durability of the queue under crashes: every message that got 250 is delivered, exactly once.

A steady stream of messages goes over several SMTP connections into kite-mta; the test
records exactly which got 250 after DATA. Mid-stream it:
  (a) kill -9 kite-mta, then starts it again (scripts/kite-local start-daemon);
  (b) kill -9 kite-delivery, then starts it again (its pending entries are claimed);
  (c) with delivery stopped and mail queued, FLUSHALL in Redis, then starts delivery (the
      reconciler re-enqueues from the spool);
  (d) kill -9 Redis (no persistence of what was in flight), then starts it again.
Afterwards every accepted message is in demo@example.test's INBOX exactly once, counted over
IMAP by its X-Seq header; the figures (sent / accepted / delivered / duplicates / lost) are
printed. A message whose 250 was lost with a killed kite-mta may or may not be delivered
(its commit may have happened): it is counted apart, as "unacknowledged", and never as lost.
Bounded: a few hundred messages in all. Never uses DNS: 127.0.0.1 and .test domains only.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402
from kite_ops import Stream, inbox_seqs, redis_cli, wait_healthy, wait_until  # noqa: E402

MESSAGES = 150      # per scenario
CONNECTIONS = 4     # concurrent SMTP sessions
DELIVERY_WAIT = 180  # seconds to wait for the last accepted message to be delivered


class DurabilityTest(SuiteTestCase):
    # Crashed consumers' entries are claimed after 2 s; the reconciler looks every second
    # (and counts an entry as lost 5 claim periods after it was enqueued).
    extra_env = {"KITE_DELIVERY_CLAIM_IDLE": "2s", "KITE_DELIVERY_RECONCILE_INTERVAL": "1s"}

    # ------------------------------------------------------------------ helpers
    def run_stream(self, tag, crash, at_fraction=0.35):
        """Starts a stream, calls crash() once a fraction of it was accepted, waits for the rest."""
        stream = Stream(self, tag, MESSAGES, CONNECTIONS).start()
        reached = wait_until(lambda: stream.accepted_count() >= int(MESSAGES * at_fraction), 120, 0.05)
        self.assertTrue(reached, f"[{tag}] the stream did not get going: {stream.accepted_count()} accepted")
        print(f"[{tag}] crash after {stream.accepted_count()} accepted", file=sys.stderr)
        crash()
        stream.join()
        return stream

    def check_delivered(self, tag, stream):
        accepted = set(stream.accepted)

        def all_there():
            counts = inbox_seqs(self, tag)
            return counts if accepted <= set(counts) else None

        counts = wait_until(all_there, DELIVERY_WAIT, 2) or inbox_seqs(self, tag)
        delivered = accepted & set(counts)
        lost = sorted(accepted - set(counts))
        duplicates = {seq: n for seq, n in counts.items() if n > 1}
        unacked_delivered = stream.unacked & set(counts)
        unexpected = set(counts) - accepted - stream.unacked
        print(f"[{tag}] sent {stream.total}, accepted {len(accepted)}, delivered {len(delivered)}, "
              f"duplicates {sum(n - 1 for n in duplicates.values())}, lost {len(lost)}; "
              f"unacknowledged {len(stream.unacked)} (of which delivered {len(unacked_delivered)}), "
              f"refused {len(stream.refused)}, reconnects {stream.connect_failures}", file=sys.stderr)
        self.assertEqual(lost, [], f"[{tag}] accepted with 250 but never delivered")
        self.assertEqual(duplicates, {}, f"[{tag}] delivered more than once")
        self.assertEqual(unexpected, set(), f"[{tag}] delivered but never sent or refused")
        # Most of the stream must have been accepted, or the test proves little.
        self.assertGreaterEqual(len(accepted), MESSAGES // 2, f"[{tag}] too few messages accepted")
        # Nothing of this stream is left in the spool.
        left = self.ok("--json", "queue", "list", "--kind", "local").json()
        self.assertEqual(left, [], f"[{tag}] still queued: {left}")

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_a_kill_mta_mid_stream(self):
        def crash():
            self.kite_local("kill-daemon", "mta", "KILL")
            time.sleep(0.5)  # clients see refused connections meanwhile
            self.kite_local("start-daemon", "mta")
            self.assertTrue(wait_healthy(self, "mta"), "kite-mta did not come back")
        stream = self.run_stream("dura-a", crash)
        self.check_delivered("dura-a", stream)

    @record_failure
    def test_b_kill_delivery_mid_stream(self):
        def crash():
            self.kite_local("kill-daemon", "delivery", "KILL")
            time.sleep(1)  # mail keeps being accepted with no consumer
            self.kite_local("start-daemon", "delivery")
            self.assertTrue(wait_healthy(self, "delivery"), "kite-delivery did not come back")
        stream = self.run_stream("dura-b", crash)
        self.check_delivered("dura-b", stream)

    @record_failure
    def test_c_redis_flushed_while_queued(self):
        self.kite_local("kill-daemon", "delivery", "TERM")
        stream = Stream(self, "dura-c", 100, CONNECTIONS).start()
        stream.join()
        self.assertEqual(len(stream.accepted), 100, "every message should be accepted with nothing crashing")
        queued = self.ok("--json", "queue", "list", "--kind", "local").json()
        self.assertEqual(len(queued), 100)
        self.assertEqual(redis_cli(self, "FLUSHALL"), "OK")
        self.assertEqual(redis_cli(self, "EXISTS", "kite:deliver"), "0")
        self.kite_local("start-daemon", "delivery")
        self.assertTrue(wait_healthy(self, "delivery"))
        self.check_delivered("dura-c", stream)

    @record_failure
    def test_d_redis_killed_and_restarted_mid_stream(self):
        def crash():
            self.kite_local("kill-daemon", "redis", "KILL")
            time.sleep(1)  # kite-mta keeps answering 250: the spool is the truth
            self.kite_local("start-daemon", "redis")
        stream = self.run_stream("dura-d", crash)
        self.check_delivered("dura-d", stream)


if __name__ == "__main__":
    unittest.main(verbosity=2)

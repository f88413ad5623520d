#!/usr/bin/python3
# ctest-timeout: 900
"""kill -9 of kite-delivery in the middle of a 10 000-message run: every (message, recipient)
that got 250 ends in its mailbox exactly once (issue 5, "Done when").

Two kite-delivery replicas share the consumer group (the primary and `kite-local
start-daemon delivery@2`). The run:
  1. eight accounts; kite-delivery is stopped, and a stream of 10 000 numbered messages
     (X-Seq: crash-N), each to two of the accounts, starts over 16 SMTP sessions into
     kite-mta (kite_ops.Stream records exactly which got 250 after DATA);
  2. once 40 % are accepted (a backlog of about 8 000 queue entries), both replicas start
     and drain it while the stream goes on;
  3. kill -9 of replica 2 after 1 500 more deliveries, restart; kill -9 of the primary after
     1 500 more, restart. At each kill the backlog (recipients still queued in the spool,
     never zero by construction) and the entries the dead consumer left pending are printed;
     the survivor claims those (XAUTOCLAIM after delivery.claim_idle);
  4. the stream ends, the queue drains.
Then, in PostgreSQL: every accepted (X-Seq, recipient) has exactly one mailbox_entries row in
that account's INBOX (body found through messages, matched on its X-Seq header); each message's
body is stored once for all its mailboxes; nothing is delivered that was not sent; no spool
recipient is left queued, no spool row left. Prints
sent / accepted / delivered / duplicates / lost (per message and per recipient), and the
claims and redelivered entries the replicas logged.

Bounded in count and time; no assertion on time. Never uses DNS: 127.0.0.1 and .test only.
"""
import collections
import glob
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402
from kite_ops import Stream, psql, redis_cli, wait_healthy, wait_replica_healthy, wait_until  # noqa: E402

MESSAGES = 10_000
CONNECTIONS = 16        # concurrent SMTP sessions
ACCOUNTS = 8            # crash1..crash8@example.test
PER_MESSAGE = 2         # recipients per message
START_DRAIN_AT = 0.4    # fraction of MESSAGES accepted before the replicas start
KILL_EVERY = 1_500      # deliveries between the replicas' start and the first kill, and between kills
STREAM_DEADLINE = 900   # seconds: bound on the whole stream
DRAIN_WAIT = 600        # seconds to wait for the queue to drain after the stream
TAG = "crash"


def recipients(seq):
    """Two different accounts per message, rotating so that every pair of INBOXes sees traffic."""
    first = seq % ACCOUNTS
    return [f"crash{(first + k * (1 + seq // ACCOUNTS % (ACCOUNTS - 1))) % ACCOUNTS + 1}@example.test"
            for k in range(PER_MESSAGE)]


class DeliveryCrashTest(SuiteTestCase):
    # Crashed consumers' entries are claimed after 10 s; the reconciler looks every 10 s and
    # re-enqueues what has waited 5 claim periods (some of the backlog: redelivered entries
    # that must stay no-ops). Cheap password hashes: the accounts are set-up, not the test.
    extra_env = {"KITE_DELIVERY_CLAIM_IDLE": "10s", "KITE_DELIVERY_RECONCILE_INTERVAL": "10s",
                 "KITE_AUTH_ARGON2_MEMORY_KIB": "1024", "KITE_AUTH_ARGON2_ITERATIONS": "1"}

    # ------------------------------------------------------------------ helpers
    def scalar(self, sql):
        return int(psql(self, sql)[0][0])

    def delivered_count(self):
        return self.scalar("SELECT count(*) FROM deliveries")

    def backlog(self):
        return self.scalar("SELECT count(*) FROM spool_recipients WHERE kind = 'local' AND state IN ('queued', 'deferred')")

    def pending(self):
        """Entries of kite:deliver read by some consumer and not yet acknowledged."""
        out = redis_cli(self, "XPENDING", "kite:deliver", "delivery").splitlines()
        return int(out[0]) if out and out[0].isdigit() else 0

    def start_replicas(self):
        self.kite_local("start-daemon", "delivery")
        self.kite_local("start-daemon", "delivery@2")
        self.assertTrue(wait_healthy(self, "delivery"), "kite-delivery is not SERVING")
        self.assertTrue(wait_replica_healthy(self, "delivery", 2), "kite-delivery@2 is not SERVING")

    def kill_after(self, name, deliveries, stream):
        """Waits for `deliveries` rows in `deliveries`, then kill -9 NAME, restarts it."""
        reached = wait_until(lambda: self.delivered_count() >= deliveries, 300, 0.2)
        self.assertTrue(reached, f"delivery stalled below {deliveries} before killing {name}")
        self.kite_local("kill-daemon", name, "KILL")
        at = {"delivered": self.delivered_count(), "backlog": self.backlog(), "pending": self.pending(),
              "accepted": stream.accepted_count()}
        print(f"[{TAG}] kill -9 kite-{name}: {at['delivered']} delivered, backlog {at['backlog']} recipients "
              f"queued, {at['pending']} stream entries pending (read, unacknowledged), "
              f"{at['accepted']} messages accepted so far", file=sys.stderr)
        # The point of the test: the kill happens while there is a backlog to drain.
        self.assertGreater(at["backlog"], 0, f"kite-{name} was killed with nothing queued")
        time.sleep(1)  # the other replica works alone for a moment
        self.kite_local("start-daemon", name)
        if "@" in name:
            base, instance = name.split("@")
            self.assertTrue(wait_replica_healthy(self, base, int(instance)), f"kite-{name} did not come back")
        else:
            self.assertTrue(wait_healthy(self, name), f"kite-{name} did not come back")
        return at

    def mailbox_counts(self):
        """({(seq, address): [mailbox names, one per entry]}, {seq: message rows (bodies)}) for
        every crash-N message filed."""
        rows = psql(self, r"""
            SELECT a.address, b.name, substring(encode(m.body, 'escape') FROM 'X-Seq: crash-([0-9]+)'), m.id
            FROM mailbox_entries e
            JOIN accounts a ON a.id = e.account_id
            JOIN mailboxes b ON b.account_id = e.account_id AND b.id = e.mailbox_id
            JOIN messages m ON m.id = e.message_id
            WHERE a.address LIKE 'crash%@example.test'""")
        found = collections.defaultdict(list)
        bodies = collections.defaultdict(set)
        for address, mailbox, seq, message_id in rows:
            seq = int(seq) if seq else -1
            found[(seq, address)].append(mailbox)
            bodies[seq].add(message_id)
        return found, {seq: len(ids) for seq, ids in bodies.items()}

    def log_counts(self):
        """(entries claimed, redelivered entries recognised as done) over both replicas' logs."""
        claimed = duplicates = 0
        for path in glob.glob(os.path.join(self.data, "log", "kite-delivery*.log")):
            with open(path, errors="replace") as f:
                for line in f:
                    if "delivery.claimed" in line:
                        m = re.search(r"entries=(\d+)", line)
                        claimed += int(m.group(1)) if m else 0
                    elif "delivery.duplicate" in line or ("delivery.done" in line and 'outcome="duplicate"' in line):
                        duplicates += 1
        return claimed, duplicates

    # ------------------------------------------------------------------ the test
    @record_failure
    def test_kill_delivery_replicas_while_draining(self):
        began = time.monotonic()
        for i in range(1, ACCOUNTS + 1):
            self.ok("user", "add", f"crash{i}@example.test", "--password-stdin", stdin=f"crash-password-{i}\n")
        # A backlog first: nothing consumes kite:deliver until 40 % of the run is accepted.
        self.kite_local("kill-daemon", "delivery", "TERM")
        stream = Stream(self, TAG, MESSAGES, CONNECTIONS, deadline=STREAM_DEADLINE, recipients=recipients).start()
        start_at = int(MESSAGES * START_DRAIN_AT)
        self.assertTrue(wait_until(lambda: stream.accepted_count() >= start_at, STREAM_DEADLINE, 0.1),
                        f"the stream did not get going: {stream.accepted_count()} accepted")
        print(f"[{TAG}] {stream.accepted_count()} accepted, backlog {self.backlog()}: starting 2 replicas "
              f"({time.monotonic() - began:.0f} s)", file=sys.stderr)
        self.start_replicas()
        base = self.delivered_count()
        kills = [self.kill_after("delivery@2", base + KILL_EVERY, stream)]
        kills.append(self.kill_after("delivery", kills[0]["delivered"] + KILL_EVERY, stream))
        stream.join()
        print(f"[{TAG}] stream done: {len(stream.accepted)} accepted, backlog {self.backlog()} "
              f"({time.monotonic() - began:.0f} s)", file=sys.stderr)

        # Drained: no local recipient left queued (the replicas also claim what the killed
        # consumers left pending).
        drained = wait_until(lambda: self.backlog() == 0, DRAIN_WAIT, 1)
        print(f"[{TAG}] drained: backlog {self.backlog()} ({time.monotonic() - began:.0f} s)", file=sys.stderr)

        expected = {(seq, a) for seq in stream.accepted for a in recipients(seq)}
        maybe = {(seq, a) for seq in stream.unacked for a in recipients(seq)}
        found, bodies = self.mailbox_counts()
        lost = sorted(expected - set(found))
        duplicates = {k: v for k, v in found.items() if len(v) > 1}
        unexpected = sorted(set(found) - expected - maybe)
        misfiled = {k: v for k, v in found.items() if k in expected and v != ["INBOX"] and len(v) == 1}
        lost_messages = {seq for seq, _ in lost}
        stored_twice = {seq: n for seq, n in bodies.items() if n > 1}
        claimed, redelivered = self.log_counts()
        spool_rows = self.scalar("SELECT count(*) FROM spool")
        queued_rows = psql(self, "SELECT state, count(*) FROM spool_recipients GROUP BY state ORDER BY state")
        print(f"[{TAG}] sent {MESSAGES} messages x {PER_MESSAGE} recipients; accepted {len(stream.accepted)} "
              f"({len(expected)} message-recipient pairs), delivered {len(expected & set(found))} pairs "
              f"({len({seq for seq, _ in expected & set(found)})} messages), duplicates "
              f"{sum(len(v) - 1 for v in duplicates.values())}, lost {len(lost)} pairs "
              f"({len(lost_messages)} messages), bodies stored more than once {len(stored_twice)}; unacknowledged {len(stream.unacked)}, refused "
              f"{len(stream.refused)}, SMTP reconnects {stream.connect_failures}; entries claimed from "
              f"killed consumers {claimed}, redelivered entries recognised as done {redelivered}; "
              f"spool rows left {spool_rows}, spool_recipients by state {queued_rows}; "
              f"{time.monotonic() - began:.0f} s", file=sys.stderr)

        self.assertTrue(drained, f"the queue did not drain: {self.backlog()} recipients still queued")
        self.assertEqual(lost[:20], [], f"accepted with 250 but not in the mailbox ({len(lost)} in all)")
        self.assertEqual(dict(list(duplicates.items())[:20]), {}, "filed more than once")
        self.assertEqual(unexpected[:20], [], "filed but never sent")
        self.assertEqual(dict(list(misfiled.items())[:20]), {}, "filed somewhere else than INBOX")
        self.assertEqual(dict(list(stored_twice.items())[:20]), {}, "one message, several bodies (stored once: design.md)")
        self.assertEqual(queued_rows, [], "spool recipients left behind")
        self.assertEqual(spool_rows, 0, "spool rows left behind")
        # Most of the run must have been accepted, or the test proves little.
        self.assertGreaterEqual(len(stream.accepted), MESSAGES * 9 // 10, "too few messages accepted")
        self.assertEqual(len(kills), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)

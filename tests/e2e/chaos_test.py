#!/usr/bin/python3
# ctest-timeout: 1800
"""Chaos: a steady stream of mail and live IMAP sessions while every part of the suite is
killed in turn. Every message that got 250 ends in its mailbox exactly once (issue 9).

The run (docs/reliability.md):
  - CHAOS_MESSAGES numbered messages (X-Seq: chaos-N; default 10 000, what CI runs)
    over CHAOS_SMTP sessions into kite-mta and CHAOS_SUBMISSION sessions into kite-submission
    (implicit TLS, AUTH PLAIN as the sending account), each message to one of four accounts;
    every message's outcome is recorded: accepted (250 after DATA), unacknowledged (the
    connection broke after DATA was sent: its commit may or may not have happened, so it is
    never counted as lost) or refused (any other answer to DATA);
  - CHAOS_IMAP IMAP clients (implicit TLS) looping SELECT / NOOP / FETCH of the newest
    message's X-Seq the whole time, reconnecting (and logging in again) whenever their session
    breaks;
  - during the stream, spread over it by the number of messages accepted, one fault at a time:
    kill -9 and restart of kite-mta, kite-submission, kite-delivery, kite-imap, kite-pop3,
    kite-caldav, kite-freebusy, kite-auth; kill -9 and restart of Redis (what was in memory is
    gone); FLUSHALL of Redis (streams and consumer groups gone); PostgreSQL stopped with
    `pg_ctl stop -m immediate` (a crash: WAL recovery at the next start), down for two seconds,
    started again (scripts/kite-local restart-postgres), with every daemon left running.
Afterwards (the checks; none on time):
  - every accepted message is in its recipient's INBOX exactly once (SQL over mailbox_entries,
    matched on the X-Seq header): lost = 0, duplicates = 0; nothing filed that was never sent
    or that was refused;
  - nothing stuck: no spool recipient queued or deferred, no spool row left, `kitectl queue
    list` empty, no entry pending (read, unacknowledged) in the kite:deliver consumer group;
  - every daemon still runs (none died of the PostgreSQL or Redis restart) and is SERVING;
  - every IMAP client reconnected after the kill of kite-imap and works again at the end; a
    POP3 login works at the end;
  - printed: sent, accepted, unacknowledged, refused, delivered, duplicates, lost, the IMAP
    reconnects per client, the SMTP reconnects, and the duration.
Bounded in count and time. Never uses DNS: 127.0.0.1 and .test only.
"""
import collections
import imaplib
import os
import poplib
import re
import smtplib
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import DAEMONS, SuiteTestCase, insecure_context, record_failure  # noqa: E402
from kite_ops import message, psql, redis_cli, wait_healthy, wait_until  # noqa: E402

# Not KITE_* (the daemons refuse unknown KITE_ variables). CI runs the default, 10 000
# messages (4 to 8 minutes in the ASan build on 2 busy cores: docs/reliability.md).
MESSAGES = int(os.environ.get("CHAOS_MESSAGES", "10000"))
SMTP_SESSIONS = int(os.environ.get("CHAOS_SMTP", "6"))
SUBMISSION_SESSIONS = int(os.environ.get("CHAOS_SUBMISSION", "2"))
IMAP_CLIENTS = int(os.environ.get("CHAOS_IMAP", "3"))
ACCOUNTS = 4
TAG = "chaos"
STREAM_DEADLINE = int(os.environ.get("CHAOS_DEADLINE", "1500"))  # seconds: bound on the stream
DRAIN_WAIT = 300        # seconds for the queue to drain after the stream
PG_DOWN = 2             # seconds without PostgreSQL
RECOVER_WAIT = 120      # seconds for a restarted part to serve again


def address(i):
    return f"chaos{i}@example.test"


def password(i):
    return f"chaos-password-{i}"


def recipient(seq):
    return address(seq % ACCOUNTS + 1)




class Stream:
    """Numbered messages over SMTP (kite-mta) and submission (kite-submission, AUTH) sessions,
    each worker reconnecting after failures; records accepted / unacknowledged / refused per
    number (as kite_ops.Stream, plus the submission fronts)."""

    def __init__(self, suite, total, smtp, submission, deadline):
        self.suite, self.total = suite, total
        self.deadline = time.monotonic() + deadline
        self.lock = threading.Lock()
        self.next_seq = 0
        # Numbers above hold_at wait until release(): the stream cannot end before the last
        # fault, however fast it runs. held: how long it had to wait (printed).
        self.hold_at = total
        self.released = threading.Event()
        self.held_since = None
        self.held = 0.0
        self.accepted, self.unacked, self.refused = set(), set(), set()
        self.refused_codes = collections.Counter()
        self.via = {"mta": 0, "submission": 0}
        self.reconnects = {"mta": 0, "submission": 0}
        self.threads = [threading.Thread(target=self.worker, args=("mta",), daemon=True) for _ in range(smtp)]
        # Submission session k logs in as account k+1 and sends as it.
        self.threads += [threading.Thread(target=self.worker, args=("submission", k % ACCOUNTS + 1), daemon=True)
                         for k in range(submission)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self):
        for t in self.threads:
            t.join(max(1, self.deadline - time.monotonic() + 60))

    def done(self):
        return not any(t.is_alive() for t in self.threads)

    def accepted_count(self):
        with self.lock:
            return len(self.accepted)

    def take(self):
        while True:
            with self.lock:
                if self.next_seq >= self.total:
                    return None
                if self.next_seq < self.hold_at or self.released.is_set():
                    self.next_seq += 1
                    return self.next_seq
                if self.held_since is None:
                    self.held_since = time.monotonic()
            self.released.wait(1)

    def release(self):
        with self.lock:
            if self.held_since is not None:
                self.held = time.monotonic() - self.held_since
            self.released.set()

    def connect(self, front, account):
        if front == "mta":
            conn = smtplib.SMTP("127.0.0.1", self.suite.port("smtp"), local_hostname="client.test", timeout=60)
            conn.ehlo()
        else:
            conn = smtplib.SMTP_SSL("127.0.0.1", self.suite.port("sub_tls"), local_hostname="client.test",
                                    timeout=60, context=insecure_context())
            conn.ehlo()
            conn.login(address(account), password(account))
        return conn

    def worker(self, front, account=None):
        conn = None
        seq = self.take()
        while seq is not None and time.monotonic() < self.deadline:
            rcpt = recipient(seq)
            mail_from = address(account) if account else "stream@client.test"
            _, body = message(rcpt, seq, TAG, sender=mail_from)
            data_sent = False
            try:
                if conn is None:
                    conn = self.connect(front, account)
                code, resp = conn.mail(mail_from)
                if code != 250:
                    raise smtplib.SMTPResponseException(code, resp)
                code, resp = conn.rcpt(rcpt)
                if code != 250:
                    raise smtplib.SMTPResponseException(code, resp)
                data_sent = True
                code, resp = conn.data(body)
                with self.lock:
                    (self.accepted if code == 250 else self.refused).add(seq)
                    if code != 250:
                        self.refused_codes[code] += 1
                    self.via[front] += 1
                seq = self.take()
            except (smtplib.SMTPException, OSError):
                # Before DATA nothing was committed: the same number again on a new session.
                # After DATA the outcome is unknown: counted apart, never as lost.
                if conn is not None:
                    try:
                        conn.close()
                    except OSError:
                        pass
                conn = None
                with self.lock:
                    self.reconnects[front] += 1
                    if data_sent:
                        self.unacked.add(seq)
                if data_sent:
                    seq = self.take()
                else:
                    time.sleep(0.2)
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass


class ImapClient(threading.Thread):
    """An IMAP session that loops SELECT / NOOP / FETCH until stopped and reconnects (new
    connection, LOGIN, SELECT) whenever anything fails. `sessions` counts sessions that got as
    far as SELECT; `reconnects` = sessions - 1; `last_ok` is when the last loop succeeded."""

    def __init__(self, suite, account):
        super().__init__(daemon=True)
        self.suite, self.account = suite, account
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sessions = 0
        self.failed_attempts = 0
        self.loops = 0
        self.last_ok = 0.0
        self.last_error = ""

    @property
    def reconnects(self):
        return max(0, self.sessions - 1)

    def check(self, typ, data, what):
        if typ != "OK":
            raise imaplib.IMAP4.error(f"{what}: {typ} {data}")

    def run(self):
        while not self.stop.is_set():
            m = None
            try:
                m = imaplib.IMAP4_SSL("127.0.0.1", self.suite.port("imap_tls"), ssl_context=insecure_context(),
                                      timeout=30)
                m.login(address(self.account), password(self.account))
                typ, data = m.select("INBOX")
                self.check(typ, data, "SELECT")
                with self.lock:
                    self.sessions += 1
                while not self.stop.is_set():
                    typ, data = m.noop()
                    self.check(typ, data, "NOOP")
                    typ, data = m.select("INBOX", readonly=True)
                    self.check(typ, data, "SELECT")
                    exists = int(data[0])
                    if exists:
                        typ, data = m.fetch(str(exists), "(UID FLAGS BODY.PEEK[HEADER.FIELDS (X-SEQ)])")
                        self.check(typ, data, "FETCH")
                    with self.lock:
                        self.loops += 1
                        self.last_ok = time.monotonic()
                    self.stop.wait(0.3)
                try:
                    m.logout()
                except (imaplib.IMAP4.error, OSError):
                    pass
            except (imaplib.IMAP4.error, imaplib.IMAP4.abort, OSError, ValueError) as e:
                with self.lock:
                    self.failed_attempts += 1
                    self.last_error = str(e)[:200]
                if m is not None:
                    try:
                        m.shutdown()
                    except (OSError, imaplib.IMAP4.error):
                        pass
                self.stop.wait(0.5)


class ChaosTest(SuiteTestCase):
    # Crashed consumers' entries are claimed after 2 s; the reconciler looks every second and
    # re-enqueues what waited 5 claim periods. Cheap password hashes: every reconnect logs in.
    extra_env = {"KITE_DELIVERY_CLAIM_IDLE": "2s", "KITE_DELIVERY_RECONCILE_INTERVAL": "1s",
                 "KITE_AUTH_ARGON2_MEMORY_KIB": "1024", "KITE_AUTH_ARGON2_ITERATIONS": "1"}

    # ------------------------------------------------------------------ helpers
    def scalar(self, sql):
        return int(psql(self, sql)[0][0])

    def backlog(self):
        return self.scalar("SELECT count(*) FROM spool_recipients WHERE state IN ('queued', 'deferred')")

    def pending(self):
        """Entries of kite:deliver read by a consumer and not acknowledged (0 if no group)."""
        try:
            out = redis_cli(self, "XPENDING", "kite:deliver", "delivery").splitlines()
        except AssertionError:
            return 0
        return int(out[0]) if out and out[0].isdigit() else 0

    def all_serving(self):
        """One `kitectl --json health`: every daemon SERVING."""
        try:
            states = {item["daemon"]: item["status"] for item in self.kitectl("--json", "health").json()}
        except ValueError:
            return False
        return all(states.get(f"kite-{d}") == "SERVING" for d in DAEMONS)

    def pids(self):
        out = {}
        for d in DAEMONS:
            try:
                with open(os.path.join(self.data, "run", f"kite-{d}.pid")) as f:
                    out[d] = int(f.readline().strip())
            except (OSError, ValueError):
                out[d] = None
        return out

    def alive(self, pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split()[2] != "Z"
        except OSError:
            return False

    def kill_daemon(self, name):
        def fault():
            self.kite_local("kill-daemon", name, "KILL")
            time.sleep(1)  # clients meet a closed port meanwhile
            self.kite_local("start-daemon", name)
            self.assertTrue(wait_healthy(self, name, RECOVER_WAIT), f"kite-{name} did not come back")
        return f"kill -9 kite-{name}", fault

    def redis_restart(self):
        self.kite_local("kill-daemon", "redis", "KILL")
        time.sleep(1)  # kite-mta keeps answering 250: the spool is the truth
        self.kite_local("start-daemon", "redis")

    def redis_flush(self):
        self.assertEqual(redis_cli(self, "FLUSHALL"), "OK")

    def postgres_restart(self):
        t0 = time.monotonic()
        self.kite_local("restart-postgres", str(PG_DOWN))
        t1 = time.monotonic()
        # The daemons reconnect on their own; nothing is restarted.
        self.assertTrue(wait_until(self.all_serving, RECOVER_WAIT, 0.5),
                        f"not every daemon SERVING after the PostgreSQL restart: {self.kitectl('health').stdout}")
        print(f"[{TAG}] PostgreSQL back after {t1 - t0:.1f} s; every daemon SERVING {time.monotonic() - t1:.1f} s later",
              file=sys.stderr)

    def mailbox_counts(self):
        """{(seq, address): [mailbox names, one per entry]} for every chaos-N message filed."""
        rows = psql(self, r"""
            SELECT a.address, b.name, substring(encode(m.body, 'escape') FROM 'X-Seq: chaos-([0-9]+)')
            FROM mailbox_entries e
            JOIN accounts a ON a.id = e.account_id
            JOIN mailboxes b ON b.account_id = e.account_id AND b.id = e.mailbox_id
            JOIN messages m ON m.id = e.message_id
            WHERE a.address LIKE 'chaos%@example.test'""")
        found = {}
        for addr, mailbox, seq in rows:
            found.setdefault((int(seq) if seq else -1, addr), []).append(mailbox)
        return found

    def idle_sees_delivery(self):
        """IDLE on chaos1's INBOX, one more message to it over SMTP: True once '* N EXISTS' with
        a larger N arrives (kite-delivery published, kite-imap's notifier heard it)."""
        s = insecure_context().wrap_socket(socket.create_connection(("127.0.0.1", self.port("imap_tls")), timeout=60))
        f = s.makefile("rb")

        def command(tag, text):
            s.sendall(f"{tag} {text}\r\n".encode())
            lines = []
            while True:
                line = f.readline()
                if not line:
                    raise AssertionError(f"IMAP connection closed after {text}")
                lines.append(line.rstrip(b"\r\n"))
                if line.startswith(tag.encode() + b" "):
                    if not line.startswith(tag.encode() + b" OK"):
                        raise AssertionError(f"{text}: {line!r}")
                    return lines

        try:
            f.readline()  # greeting
            command("a1", f'LOGIN "{address(1)}" "{password(1)}"')
            exists = max(int(m.group(1)) for m in (re.match(rb"\* (\d+) EXISTS", x) for x in command("a2", "SELECT INBOX")) if m)
            s.sendall(b"a3 IDLE\r\n")
            if not f.readline().startswith(b"+"):
                return False
            _, body = message(address(1), 1, "idle-probe")
            with smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=60) as c:
                c.sendmail("probe@client.test", [address(1)], body)
            deadline = time.monotonic() + RECOVER_WAIT
            while time.monotonic() < deadline:
                m = re.match(rb"\* (\d+) EXISTS", f.readline())
                if m and int(m.group(1)) > exists:
                    s.sendall(b"DONE\r\n")
                    return True
            return False
        finally:
            s.close()

    def pop3_works(self):
        p = poplib.POP3_SSL("127.0.0.1", self.port("pop3_tls"), context=insecure_context(), timeout=30)
        try:
            p.user(address(1))
            p.pass_(password(1))
            count, _ = p.stat()
            return count
        finally:
            p.quit()

    # ------------------------------------------------------------------ the test
    @record_failure
    def test_chaos(self):
        began = time.monotonic()
        mode = "the default, as in CI" if "CHAOS_MESSAGES" not in os.environ else "CHAOS_MESSAGES; the default is 10000"
        print(f"[{TAG}] {MESSAGES} messages ({mode}), "
              f"{SMTP_SESSIONS} SMTP + {SUBMISSION_SESSIONS} submission sessions, {IMAP_CLIENTS} IMAP clients",
              file=sys.stderr)
        for i in range(1, ACCOUNTS + 1):
            self.ok("user", "add", address(i), "--password-stdin", stdin=password(i) + "\n")

        clients = [ImapClient(self, i % ACCOUNTS + 1) for i in range(IMAP_CLIENTS)]
        for c in clients:
            c.start()
        self.assertTrue(wait_until(lambda: all(c.loops > 0 for c in clients), 60, 0.2),
                        "the IMAP clients did not start working")

        # Interleaved, so that the Redis and PostgreSQL faults also fall in the middle of the stream;
        # kite-imap is killed before Redis is, so the IDLE check at the end sees whether its
        # notifier came back from the Redis restart on its own.
        k = self.kill_daemon
        faults = [k("mta"), k("imap"), k("submission"), ("kill -9 Redis, restart", self.redis_restart),
                  k("delivery"), (f"PostgreSQL stop -m immediate, {PG_DOWN} s down, start", self.postgres_restart),
                  k("pop3"), ("Redis FLUSHALL", self.redis_flush), k("caldav"), k("freebusy"), k("auth")]

        stream = Stream(self, MESSAGES, SMTP_SESSIONS, SUBMISSION_SESSIONS, STREAM_DEADLINE)
        stream.hold_at = MESSAGES - MESSAGES // (len(faults) + 2)  # the last stretch after the last fault
        stream.start()
        injected = []
        for k, (what, fault) in enumerate(faults, 1):
            # Spread over the stream: fault k once k/(n+2) of the messages are accepted.
            at = MESSAGES * k // (len(faults) + 2)
            reached = wait_until(lambda: stream.accepted_count() >= at or stream.held_since or stream.done(),
                                 STREAM_DEADLINE, 0.1)
            self.assertTrue(reached and not stream.done(),
                            f"the stream ended or stalled at {stream.accepted_count()} accepted before '{what}'")
            t0 = time.monotonic()
            fault()
            injected.append(what)
            print(f"[{TAG}] {what}: at {stream.accepted_count()} accepted, backlog {self.backlog()}, "
                  f"recovered in {time.monotonic() - t0:.1f} s ({time.monotonic() - began:.0f} s)", file=sys.stderr)
        faults_done = time.monotonic()
        stream.release()
        stream.join()
        streamed = time.monotonic()
        print(f"[{TAG}] stream done: {len(stream.accepted)} accepted ({time.monotonic() - began:.0f} s; "
              f"held {stream.held:.0f} s before its last stretch for the faults to finish)", file=sys.stderr)

        drained = wait_until(lambda: self.backlog() == 0 and self.pending() == 0, DRAIN_WAIT, 1)
        drain_done = time.monotonic()
        # Every IMAP client has worked since the last fault, then stop them.
        imap_back = wait_until(lambda: all(c.last_ok > faults_done for c in clients), RECOVER_WAIT, 0.5)
        for c in clients:
            c.stop.set()
        for c in clients:
            c.join(60)

        found = self.mailbox_counts()
        expected = {(seq, recipient(seq)) for seq in stream.accepted}
        maybe = {(seq, recipient(seq)) for seq in stream.unacked}
        lost = sorted(expected - set(found))
        duplicates = {k: v for k, v in found.items() if len(v) > 1}
        unexpected = sorted(set(found) - expected - maybe)
        misfiled = {k: v for k, v in found.items() if k in expected and v != ["INBOX"] and len(v) == 1}
        unacked_delivered = len(maybe & set(found))
        delivered = len(expected & set(found))
        spool_rows = self.scalar("SELECT count(*) FROM spool")
        queued_rows = psql(self, "SELECT kind, state, count(*) FROM spool_recipients GROUP BY kind, state "
                                 "ORDER BY kind, state")
        queue_list = self.ok("--json", "queue", "list").json()
        pending = self.pending()
        pids = self.pids()
        dead = [d for d, pid in pids.items() if pid is None or not self.alive(pid)]
        pop3_count = self.pop3_works()
        idle_ok = self.idle_sees_delivery()  # after the counts: its message is not a chaos-N one

        print(f"[{TAG}] RESULT sent {MESSAGES}, accepted {len(stream.accepted)} "
              f"(kite-mta + kite-submission: {stream.via['mta']} + {stream.via['submission']} answered), "
              f"unacknowledged {len(stream.unacked)} (of which delivered {unacked_delivered}), "
              f"refused {len(stream.refused)} {dict(stream.refused_codes)}, delivered {delivered}, "
              f"duplicates {sum(len(v) - 1 for v in duplicates.values())}, lost {len(lost)}", file=sys.stderr)
        print(f"[{TAG}] faults injected ({len(injected)}): {'; '.join(injected)}", file=sys.stderr)
        print(f"[{TAG}] IMAP reconnects per client: "
              + ", ".join(f"{address(c.account)} {c.reconnects} ({c.failed_attempts} failed attempts, "
                          f"{c.loops} loops)" for c in clients)
              + f"; SMTP reconnects: kite-mta {stream.reconnects['mta']}, kite-submission "
              f"{stream.reconnects['submission']}", file=sys.stderr)
        print(f"[{TAG}] left: spool rows {spool_rows}, spool_recipients {queued_rows}, queue list "
              f"{len(queue_list)}, kite:deliver pending {pending}; POP3 STAT {pop3_count}; IDLE told of new mail "
              f"{idle_ok}; daemons not running {dead}",
              file=sys.stderr)
        print(f"[{TAG}] duration: stream {streamed - began:.0f} s, drained {drain_done - began:.0f} s, "
              f"total {time.monotonic() - began:.0f} s", file=sys.stderr)

        self.assertEqual(len(injected), len(faults))
        self.assertEqual(lost[:20], [], f"accepted with 250 but not in the mailbox ({len(lost)} in all)")
        self.assertEqual(dict(list(duplicates.items())[:20]), {}, "filed more than once")
        self.assertEqual(unexpected[:20], [], "filed but never sent, or refused and filed anyway")
        self.assertEqual(dict(list(misfiled.items())[:20]), {}, "filed somewhere else than INBOX")
        self.assertTrue(drained, f"the queue did not drain: backlog {self.backlog()}, pending {self.pending()}")
        self.assertEqual(queued_rows, [], "spool recipients left behind")
        self.assertEqual(spool_rows, 0, "spool rows left behind")
        self.assertEqual(queue_list, [], "kitectl queue list is not empty")
        self.assertEqual(pending, 0, "kite:deliver entries left pending")
        self.assertEqual(dead, [], "daemons not running at the end")
        self.assertTrue(self.all_serving(), f"not every daemon SERVING at the end: {self.kitectl('health').stdout}")
        self.assertTrue(imap_back, "an IMAP client did not work again after the faults: "
                        + "; ".join(f"{address(c.account)}: {c.last_error}" for c in clients))
        # kill -9 of kite-imap broke every session: each client must have come back.
        for c in clients:
            self.assertGreaterEqual(c.reconnects, 1, f"IMAP client of {address(c.account)} never reconnected")
        self.assertGreaterEqual(pop3_count, 1, "POP3 shows no message")
        self.assertTrue(idle_ok, "IDLE was not told of a delivery after the faults")
        # Most of the stream must have been accepted, or the test proves little.
        self.assertGreaterEqual(len(stream.accepted), MESSAGES * 9 // 10, "too few messages accepted")
        if SUBMISSION_SESSIONS:
            self.assertGreater(stream.via["submission"], 0, "nothing went through kite-submission")


if __name__ == "__main__":
    unittest.main(verbosity=2)

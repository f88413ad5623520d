#!/usr/bin/python3
# ctest-timeout: 900
"""kite-delivery end to end: lists, aliases, shared mailboxes, Sieve, vacation, quotas.

The whole suite runs (scripts/kite-local on a random port offset); mail goes in through
kite-mta with smtplib, and the mailboxes are read back from PostgreSQL (and over IMAP where the
IMAP server already supports it). Sieve scripts are stored with `kitectl sieve put` when that
command exists, else written straight into sieve_scripts (the delivery engine reads them
there either way).

Never uses DNS: every address is 127.0.0.1 and every domain ends in .test.
"""
import concurrent.futures
import os
import smtplib
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402
from kite_ops import imap, psql, wait_until  # noqa: E402

DOMAIN = "example.test"
PASSWORD = "delivery-password-123"


def msg(to, subject, sender="outsider@client.test", extra="", body="Hello.\r\n", size=0):
    token = uuid.uuid4().hex
    head = (
        f"From: <{sender}>\r\n"
        f"To: <{to}>\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{token}@client.test>\r\n"
        f"X-Token: {token}\r\n"
        "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
        f"{extra}"
        "\r\n"
    )
    text = head + body
    line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
    if size > len(text):
        text += line * ((size - len(text)) // len(line))
    return token, text.encode("utf-8")


class Delivery(SuiteTestCase):
    extra_env = {
        "KITE_DELIVERY_CLAIM_IDLE": "2s",
        "KITE_DELIVERY_RECONCILE_INTERVAL": "1s",
        "KITE_DELIVERY_QUOTA_RETRY": "1s",
        # Remote targets wait in the spool; the relay would only find no DNS.
        "KITE_MTA_RELAY_ENABLED": "false",
    }

    # ------------------------------------------------------------------ helpers
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            users = ["alice", "bob", "carol", "dave", "erin", "sieve", "vac", "target", "poster", "quota",
                     "quota2", "rej"]
            for u in users:
                r = cls.kitectl("user", "add", f"{u}@{DOMAIN}", "--password", PASSWORD)
                if r.returncode != 0:
                    raise AssertionError(repr(r))
            cls.has_kitectl_sieve = cls.kitectl("sieve", "--help").returncode == 0
        except BaseException:
            cls.failed = True
            cls.tearDownClass()
            raise

    def q(self, sql, *params):
        return psql(self, sql, *params)

    def send(self, sender, rcpts, data, expect_ok=True):
        with smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=60) as s:
            refused = s.sendmail(sender, rcpts, data)
        if expect_ok:
            self.assertEqual(refused, {})
        return refused

    def copies(self, token, address=None, mailbox=None):
        """[(address, mailbox, flags)] of every mailbox entry whose message has X-Token: token."""
        rows = self.q(
            "SELECT a.address, mb.name, array_to_string(e.flags, ' ') FROM mailbox_entries e "
            "JOIN messages m ON m.id = e.message_id JOIN accounts a ON a.id = e.account_id "
            "JOIN mailboxes mb ON mb.account_id = e.account_id AND mb.id = e.mailbox_id "
            "WHERE position(convert_to(:'v1', 'UTF8') in m.body) > 0 ORDER BY 1, 2", f"X-Token: {token}")
        out = [(r[0], r[1], r[2]) for r in rows]
        if address is not None:
            out = [c for c in out if c[0] == address]
        if mailbox is not None:
            out = [c for c in out if c[1] == mailbox]
        return out

    def wait_copies(self, token, n, timeout=60):
        got = wait_until(lambda: len(self.copies(token)) >= n, timeout)
        return self.copies(token)

    def settled(self):
        """No local recipient still queued (deferred ones wait for their retry)."""
        return wait_until(lambda: self.q("SELECT count(*) FROM spool_recipients WHERE kind = 'local' "
                                         "AND state = 'queued'")[0][0] == "0", 60)

    def put_script(self, address, script, name="main"):
        if self.has_kitectl_sieve:
            r = self.kitectl("sieve", "put", address, name, "-", stdin=script)
            self.assertEqual(r.returncode, 0, repr(r))
            r = self.kitectl("sieve", "activate", address, name)
            self.assertEqual(r.returncode, 0, repr(r))
            return
        self.q("DELETE FROM sieve_scripts WHERE account_id = (SELECT id FROM accounts WHERE address = :'v1')", address)
        self.q("INSERT INTO sieve_scripts(account_id, name, script, active) "
               "SELECT id, :'v2', :'v3', true FROM accounts WHERE address = :'v1'", address, name, script)

    def bodies(self, address, contains):
        """Every message body in `address`'s mailboxes containing `contains` (str)."""
        rows = self.q("SELECT encode(m.body, 'hex') FROM mailbox_entries e JOIN messages m ON m.id = e.message_id "
                      "JOIN accounts a ON a.id = e.account_id WHERE a.address = :'v1' "
                      "AND position(convert_to(:'v2', 'UTF8') in m.body) > 0", address, contains)
        return [bytes.fromhex(r[0]).decode("utf-8", "replace") for r in rows]

    def generated(self, to, contains):
        """Spooled or delivered messages the system wrote to `to` containing `contains`."""
        spooled = self.q(
            "SELECT count(*) FROM spool s JOIN spool_recipients r ON r.spool_id = s.id "
            "WHERE s.source = 'internal' AND r.recipient = :'v1' AND position(convert_to(:'v2', 'UTF8') in s.body) > 0",
            to, contains)[0][0]
        delivered = self.q(
            "SELECT count(*) FROM mailbox_entries e JOIN messages m ON m.id = e.message_id "
            "JOIN accounts a ON a.id = e.account_id WHERE a.address = :'v1' "
            "AND position(convert_to(:'v2', 'UTF8') in m.body) > 0", to, contains)[0][0]
        return int(spooled) + int(delivered)

    # ------------------------------------------------------------------ lists
    @record_failure
    def test_list_of_1000_members_stored_once(self):
        self.q("INSERT INTO accounts(domain_id, local_part, address, password_hash) "
               "SELECT d.id, 'member' || g, 'member' || g || '@example.test', '!' "
               "FROM domains d, generate_series(1, 1000) g WHERE d.name = 'example.test'")
        self.q("INSERT INTO mailboxes(account_id, name, uidvalidity) SELECT id, 'INBOX', 1 FROM accounts "
               "WHERE address LIKE 'member%@example.test'")
        self.ok("list", "add", f"big@{DOMAIN}")
        self.q("INSERT INTO list_members(list_id, address, account_id) SELECT l.id, a.address, a.id "
               "FROM lists l, accounts a WHERE l.address = 'big@example.test' AND a.address LIKE 'member%@example.test'")
        token, data = msg(f"big@{DOMAIN}", "to a thousand")
        self.send("outsider@client.test", [f"big@{DOMAIN}"], data)
        wait_until(lambda: len(self.copies(token)) >= 1000, 120)
        copies = self.copies(token)
        self.assertEqual(len(copies), 1000)
        self.assertEqual(len({c[0] for c in copies}), 1000)
        self.assertTrue(all(c[1] == "INBOX" for c in copies))
        bodies = self.q("SELECT count(*) FROM messages WHERE position(convert_to(:'v1', 'UTF8') in body) > 0",
                        f"X-Token: {token}")
        self.assertEqual(bodies[0][0], "1", "the body is stored once")
        # Quota counts it for every mailbox that holds it.
        used = self.q("SELECT min(q.bytes), max(q.bytes), count(*) FROM quota_usage q JOIN accounts a "
                      "ON a.id = q.account_id WHERE a.address LIKE 'member%@example.test'")
        self.assertEqual(used[0][2], "1000")
        self.assertEqual(used[0][0], used[0][1])
        self.assertGreaterEqual(int(used[0][0]), len(data))
        # The structure was parsed once and stored with the body.
        self.assertEqual(self.q("SELECT structure IS NOT NULL FROM messages WHERE position(convert_to(:'v1', 'UTF8') "
                                "in body) > 0", f"X-Token: {token}")[0][0], "t")

    @record_failure
    def test_nested_lists_and_loops_deliver_once(self):
        self.ok("list", "add", f"outer@{DOMAIN}")
        self.ok("list", "add", f"inner@{DOMAIN}")
        for lst, members in [("outer", ["alice", "bob", "inner"]), ("inner", ["bob", "carol", "outer"])]:
            for m in members:
                self.ok("list", "member", "add", f"{lst}@{DOMAIN}", f"{m}@{DOMAIN}")
        self.ok("list", "member", "add", f"inner@{DOMAIN}", "friend@remote.test")
        token, data = msg(f"outer@{DOMAIN}", "nested")
        # alice is also a direct recipient: still one copy.
        self.send("outsider@client.test", [f"outer@{DOMAIN}", f"alice@{DOMAIN}"], data)
        wait_until(lambda: len(self.copies(token)) >= 3, 60)
        self.settled()
        copies = self.copies(token)
        self.assertEqual(sorted(c[0] for c in copies), [f"alice@{DOMAIN}", f"bob@{DOMAIN}", f"carol@{DOMAIN}"])
        # The remote member is a remote recipient of the same spool row (no copy of the body).
        remote = self.q("SELECT r.kind, r.state FROM spool_recipients r JOIN spool s ON s.id = r.spool_id "
                        "WHERE r.recipient = 'friend@remote.test' AND position(convert_to(:'v1', 'UTF8') in s.body) > 0",
                        f"X-Token: {token}")
        self.assertEqual(remote, [["remote", "queued"]])

    @record_failure
    def test_members_only_list_refuses_outsider(self):
        self.ok("list", "add", f"team@{DOMAIN}", "--policy", "members")
        for m in ["alice", "dave"]:
            self.ok("list", "member", "add", f"team@{DOMAIN}", f"{m}@{DOMAIN}")
        token, data = msg(f"team@{DOMAIN}", "from outside")
        with smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=60) as s:
            s.ehlo()
            self.assertEqual(s.mail("outsider@client.test")[0], 250)
            code, text = s.rcpt(f"team@{DOMAIN}")
            self.assertEqual(code, 550, text)
            self.assertIn(b"5.7.1", text)
        token, data = msg(f"team@{DOMAIN}", "from a member", sender=f"dave@{DOMAIN}")
        self.send(f"dave@{DOMAIN}", [f"team@{DOMAIN}"], data)
        wait_until(lambda: len(self.copies(token)) >= 2, 60)
        self.assertEqual(sorted(c[0] for c in self.copies(token)), [f"alice@{DOMAIN}", f"dave@{DOMAIN}"])

    @record_failure
    def test_forwarding_alias(self):
        self.ok("alias", "add", f"sales@{DOMAIN}", "partner@remote.test")
        token, data = msg(f"sales@{DOMAIN}", "forwarded")
        self.send("outsider@client.test", [f"sales@{DOMAIN}"], data)
        rows = wait_until(lambda: self.q(
            "SELECT r.kind FROM spool_recipients r JOIN spool s ON s.id = r.spool_id "
            "WHERE r.recipient = 'partner@remote.test' AND position(convert_to(:'v1', 'UTF8') in s.body) > 0",
            f"X-Token: {token}"), 60)
        self.assertEqual(rows, [["remote"]])

    # ------------------------------------------------------------------ shared mailboxes
    @record_failure
    def test_shared_mailbox_one_copy_one_state(self):
        self.ok("shared", "add", f"support@{DOMAIN}")
        self.ok("shared", "grant", f"support@{DOMAIN}", f"alice@{DOMAIN}", "--read")
        self.ok("shared", "grant", f"support@{DOMAIN}", f"bob@{DOMAIN}", "--read")
        token, data = msg(f"support@{DOMAIN}", "shared")
        self.send("outsider@client.test", [f"support@{DOMAIN}"], data)
        wait_until(lambda: self.copies(token), 60)
        self.assertEqual(self.copies(token), [(f"support@{DOMAIN}", "INBOX", "")])

    # ------------------------------------------------------------------ Sieve
    SIEVE = r'''require ["fileinto", "mailbox", "imap4flags", "envelope", "copy", "reject"];
# Mailing list traffic into its own folder, created on the fly.
if header :contains "List-Id" "kite-dev" {
  fileinto :create "Lists/kite-dev";
  stop;
}
if address :is :domain "from" "boss.test" {
  addflag "\\Flagged";
}
if envelope :localpart :is "from" "spammer" { discard; stop; }
if header :matches "Subject" "*[SPAM]*" { fileinto "Junk"; stop; }
if allof (exists "X-Priority", not size :over 100K) {
  fileinto :flags ["\\Seen", "$Important"] "Priority";
}
if anyof (header :is "Subject" "copy me", address :all :is "cc" "watch@client.test") {
  redirect :copy "target@example.test";
}
if header :is "Subject" "move me" { redirect "target@example.test"; stop; }
if size :over 200K { fileinto "Big"; }
if true { keep; }
'''

    @record_failure
    def test_sieve_tests_and_actions(self):
        me = f"sieve@{DOMAIN}"
        self.put_script(me, self.SIEVE)
        cases = {
            "list": dict(extra="List-Id: Kite developers <kite-dev.lists.test>\r\n"),
            "boss": dict(sender="ceo@boss.test"),
            "spammer": dict(sender="spammer@client.test"),
            "spam": dict(subject="Buy now [SPAM] cheap"),
            "prio": dict(extra="X-Priority: 1\r\n"),
            "copy": dict(subject="copy me"),
            "cc": dict(extra="Cc: <watch@client.test>\r\n"),
            "move": dict(subject="move me"),
            "big": dict(size=250 * 1024),
            "plain": dict(),
        }
        tokens = {}
        for name, kw in cases.items():
            sender = kw.pop("sender", "friend@client.test")
            subject = kw.pop("subject", f"case {name}")
            token, data = msg(me, subject, sender=sender, **kw)
            tokens[name] = token
            self.send(sender, [me], data)
        wait_until(lambda: self.copies(tokens["plain"]), 60)
        self.settled()
        wait_until(lambda: self.copies(tokens["move"]), 30)

        def where(name, address=me):
            return [(c[1], c[2]) for c in self.copies(tokens[name], address=address)]

        self.assertEqual(where("list"), [("Lists/kite-dev", "")])
        self.assertEqual(where("boss"), [("INBOX", "\\Flagged")])
        self.assertEqual(where("spammer"), [])
        self.assertEqual(where("spam"), [("Junk", "")])
        self.assertEqual(sorted(where("prio")), [("INBOX", ""), ("Priority", "\\Seen $Important")])
        self.assertEqual(where("copy"), [("INBOX", "")])
        self.assertEqual(where("copy", f"target@{DOMAIN}"), [("INBOX", "")])
        self.assertEqual(where("cc", f"target@{DOMAIN}"), [("INBOX", "")])
        self.assertEqual(where("move"), [])
        self.assertEqual(where("move", f"target@{DOMAIN}"), [("INBOX", "")])
        self.assertEqual(sorted(where("big")), [("Big", ""), ("INBOX", "")])
        self.assertEqual(where("plain"), [("INBOX", "")])
        # The redirected copy carries Delivered-To (loop protection).
        body = self.bodies(f"target@{DOMAIN}", f"X-Token: {tokens['move']}")
        self.assertTrue(body and body[0].startswith(f"Delivered-To: {me}"), body)

    @record_failure
    def test_sieve_redirect_loop_is_broken(self):
        # erin -> dave -> erin: the message ends in a mailbox, never circles.
        self.put_script(f"erin@{DOMAIN}", 'redirect "dave@example.test";')
        self.put_script(f"dave@{DOMAIN}", 'redirect "erin@example.test";')
        token, data = msg(f"erin@{DOMAIN}", "loop")
        self.send("friend@client.test", [f"erin@{DOMAIN}"], data)
        wait_until(lambda: self.copies(token), 60)
        self.settled()
        copies = self.copies(token)
        self.assertEqual(copies, [(f"erin@{DOMAIN}", "INBOX", "")])
        self.put_script(f"erin@{DOMAIN}", "keep;")
        self.put_script(f"dave@{DOMAIN}", "keep;")

    @record_failure
    def test_sieve_runtime_error_files_into_inbox(self):
        # Five redirects exceed the limit (4): a runtime error, so INBOX.
        script = "".join(f'redirect "r{i}@remote.test";\n' for i in range(5))
        self.put_script(f"carol@{DOMAIN}", script)
        token, data = msg(f"carol@{DOMAIN}", "too many redirects")
        self.send("friend@client.test", [f"carol@{DOMAIN}"], data)
        wait_until(lambda: self.copies(token), 60)
        self.assertEqual([(c[1]) for c in self.copies(token)], ["INBOX"])
        self.put_script(f"carol@{DOMAIN}", "keep;")

    @record_failure
    def test_sieve_reject_sends_notice(self):
        self.put_script(f"rej@{DOMAIN}", 'require "reject";\nreject "I do not take mail about that.";')
        token, data = msg(f"rej@{DOMAIN}", "rejected", sender=f"poster@{DOMAIN}")
        self.send(f"poster@{DOMAIN}", [f"rej@{DOMAIN}"], data)
        wait_until(lambda: self.generated(f"poster@{DOMAIN}", "I do not take mail about that."), 60)
        self.assertEqual(self.copies(token, address=f"rej@{DOMAIN}"), [])
        notice = self.bodies(f"poster@{DOMAIN}", "disposition-notification")
        self.assertEqual(len(notice), 1)
        self.assertIn("Disposition: automatic-action/MDN-sent-automatically; deleted", notice[0])
        self.assertIn("Auto-Submitted: auto-replied", notice[0])

    @record_failure
    def test_vacation_once_per_sender_never_to_lists(self):
        me = f"vac@{DOMAIN}"
        self.put_script(me, 'require "vacation";\n'
                            'vacation :days 7 :subject "Out of office" "I am away until Monday.";')
        sender = f"poster@{DOMAIN}"
        for i in range(3):
            _, data = msg(me, f"question {i}", sender=sender)
            self.send(sender, [me], data)
        # A list message, an auto-submitted one and a bulk one: no reply to those senders.
        _, data = msg(me, "list", sender=f"bob@{DOMAIN}", extra="List-Id: <x.lists.test>\r\n")
        self.send(f"bob@{DOMAIN}", [me], data)
        _, data = msg(me, "auto", sender=f"carol@{DOMAIN}", extra="Auto-Submitted: auto-generated\r\n")
        self.send(f"carol@{DOMAIN}", [me], data)
        _, data = msg(me, "bulk", sender=f"dave@{DOMAIN}", extra="Precedence: bulk\r\n")
        self.send(f"dave@{DOMAIN}", [me], data)
        # Not addressed to me in To/Cc (a Bcc): no reply either.
        _, data = msg("someone@else.test", "bcc", sender=f"erin@{DOMAIN}")
        self.send(f"erin@{DOMAIN}", [me], data)
        # Null sender: never.
        _, data = msg(me, "bounce", sender="")
        self.send("", [me], data)
        last, data = msg(me, "last", sender=f"alice@{DOMAIN}")
        self.send(f"alice@{DOMAIN}", [me], data)
        wait_until(lambda: self.generated(f"alice@{DOMAIN}", "I am away until Monday."), 60)
        self.settled()
        self.assertEqual(self.generated(sender, "I am away until Monday."), 1)
        for other in ["bob", "carol", "dave", "erin"]:
            self.assertEqual(self.generated(f"{other}@{DOMAIN}", "I am away until Monday."), 0, other)
        reply = self.bodies(sender, "I am away")[0]
        self.assertIn("Auto-Submitted: auto-replied", reply)
        self.assertIn("Subject: Out of office", reply)
        self.assertIn("In-Reply-To: <", reply)
        self.assertIn(f"From: <{me}>", reply)
        # Header injection through the subject is impossible.
        self.put_script(me, 'require "vacation";\n'
                            'vacation :handle "h2" :subject "Away\\r\\nBcc: victim@remote.test" "Gone.";')
        _, data = msg(me, "inject", sender=f"target@{DOMAIN}")
        self.send(f"target@{DOMAIN}", [me], data)
        wait_until(lambda: self.generated(f"target@{DOMAIN}", "Gone."), 60)
        reply = self.bodies(f"target@{DOMAIN}", "Gone.")[0]
        head = reply.split("\r\n\r\n")[0]
        self.assertNotIn("\r\nBcc:", head)

    # ------------------------------------------------------------------ quotas
    def usage(self, address):
        r = self.q("SELECT q.bytes, q.warned FROM quota_usage q JOIN accounts a ON a.id = q.account_id "
                   "WHERE a.address = :'v1'", address)
        return (int(r[0][0]), r[0][1] == "t") if r else (0, False)

    @record_failure
    def test_quota_warning_once_then_full(self):
        me = f"quota@{DOMAIN}"
        self.ok("quota", "set", me, "100000")
        warnings = lambda: self.q(  # noqa: E731
            "SELECT count(*) FROM mailbox_entries e JOIN messages m ON m.id = e.message_id JOIN accounts a "
            "ON a.id = e.account_id WHERE a.address = :'v1' AND position(convert_to('Auto-Submitted: auto-generated "
            "(quota warning)', 'UTF8') in m.body) > 0", me)[0][0]
        tokens = []
        for i in range(3):  # 30 %, 60 %, 90 %: the warning comes with the third
            token, data = msg(me, f"fill {i}", size=30000)
            tokens.append(token)
            self.send("friend@client.test", [me], data)
            wait_until(lambda: self.copies(token), 60)
            self.assertEqual(warnings(), "1" if i == 2 else "0", i)
        # Over the limit: not stored, deferred with 4.2.2, and no second warning.
        token, data = msg(me, "too much", size=30000)
        self.send("friend@client.test", [me], data)
        state = wait_until(lambda: self.q(
            "SELECT r.state, r.last_error FROM spool_recipients r JOIN spool s ON s.id = r.spool_id "
            "WHERE r.recipient = :'v1' AND r.state = 'deferred' AND position(convert_to(:'v2', 'UTF8') in s.body) > 0",
            me, f"X-Token: {token}"), 60)
        self.assertEqual(state[0][0], "deferred")
        self.assertIn("4.2.2", state[0][1])
        self.assertEqual(self.copies(token), [])
        used, warned = self.usage(me)
        self.assertLessEqual(used, 100000)
        self.assertTrue(warned)
        self.assertEqual(warnings(), "1")
        # Its lifetime runs out: the sender gets a bounce (5.2.2) and the recipient fails.
        self.q("UPDATE spool SET received_at = now() - interval '6 days' WHERE position(convert_to(:'v1', 'UTF8') "
               "in body) > 0", f"X-Token: {token}")
        self.q("UPDATE spool_recipients SET next_attempt_at = now() WHERE recipient = :'v1' AND state = 'deferred'", me)
        wait_until(lambda: self.q("SELECT count(*) FROM spool_recipients WHERE recipient = :'v1' AND state = 'deferred'",
                                  me)[0][0] == "0", 60)
        bounce = wait_until(lambda: self.q(
            "SELECT count(*) FROM spool s JOIN spool_recipients r ON r.spool_id = s.id WHERE r.recipient = "
            "'friend@client.test' AND s.mail_from = '' AND position(convert_to('5.2.2', 'UTF8') in s.body) > 0")[0][0]
            != "0", 60)
        self.assertTrue(bounce)
        # Room again (a message removed), then filling past 80 % again warns again.
        self.q("DELETE FROM mailbox_entries e USING accounts a WHERE a.id = e.account_id AND a.address = :'v1'", me)
        self.q("UPDATE quota_usage SET bytes = 0, messages = 0 FROM accounts a WHERE a.id = quota_usage.account_id "
               "AND a.address = :'v1'", me)
        token, data = msg(me, "small", size=1000)
        self.send("friend@client.test", [me], data)
        wait_until(lambda: self.copies(token), 60)
        self.assertFalse(self.usage(me)[1], "usage fell below the threshold: the next crossing warns again")
        token, data = msg(me, "big again", size=85000)
        self.send("friend@client.test", [me], data)
        wait_until(lambda: self.copies(token), 60)
        self.assertEqual(warnings(), "1")  # the old warning was deleted with the rest: this is the new one

    @record_failure
    def test_concurrent_deliveries_never_pass_the_limit(self):
        me = f"quota2@{DOMAIN}"
        self.ok("quota", "set", me, "200000")
        datas = [msg(me, f"race {i}", size=25000) for i in range(20)]

        def one(d):
            self.send("friend@client.test", [me], d[1])

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            list(pool.map(one, datas))
        self.settled()
        wait_until(lambda: self.q("SELECT count(*) FROM spool_recipients WHERE recipient = :'v1' AND state = 'queued'",
                                  me)[0][0] == "0", 60)
        used, _ = self.usage(me)
        self.assertLessEqual(used, 200000)
        stored = self.q("SELECT coalesce(sum(e.size), 0), count(*) FROM mailbox_entries e JOIN accounts a "
                        "ON a.id = e.account_id WHERE a.address = :'v1'", me)
        self.assertEqual(int(stored[0][0]), used, "usage is exactly what is stored")
        deferred = self.q("SELECT count(*) FROM spool_recipients WHERE recipient = :'v1' AND state = 'deferred'", me)
        self.assertGreater(int(deferred[0][0]), 0)

    # ------------------------------------------------------------------ parse once
    @record_failure
    def test_malformed_mime_is_delivered_with_a_structure(self):
        me = f"bob@{DOMAIN}"
        extra = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n"
        body = ("--b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                "!!!not base64!!!\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
                "--b1 never closed\r\n")
        token, data = msg(me, "broken mime", extra=extra, body=body)
        self.send("friend@client.test", [me], data)
        wait_until(lambda: self.copies(token), 60)
        self.assertEqual([c[1] for c in self.copies(token)], ["INBOX"])
        self.assertEqual(self.q("SELECT structure IS NOT NULL FROM messages WHERE position(convert_to(:'v1', 'UTF8') "
                                "in body) > 0", f"X-Token: {token}")[0][0], "t")

    # ------------------------------------------------------------------ IMAP sees it
    @record_failure
    def test_imap_reads_sieve_folder(self):
        me = f"alice@{DOMAIN}"
        self.put_script(me, 'require "fileinto";\nif header :contains "Subject" "report" { fileinto "Reports"; }')
        token, data = msg(me, "weekly report")
        self.send("friend@client.test", [me], data)
        wait_until(lambda: self.copies(token, mailbox="Reports"), 60)
        m = imap(self, me, PASSWORD)
        try:
            typ, d = m.select("Reports", readonly=True)
            self.assertEqual(typ, "OK", d)
            typ, d = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (X-TOKEN)])")
            self.assertEqual(typ, "OK")
            self.assertIn(token.encode(), d[0][1])
        finally:
            m.logout()


if __name__ == "__main__":
    unittest.main(verbosity=2)

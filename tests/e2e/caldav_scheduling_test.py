#!/usr/bin/python3
"""End-to-end: implicit scheduling (RFC 6638) over CalDAV, with iMIP (RFC 6047) both ways.

The whole suite runs under scripts/kite-local on loopback. An organiser (olga) PUTs an event
over HTTP (requests, Basic auth, plain HTTP from loopback) inviting a local user (demo), a room
(auto-accept, 08:00-18:00 UTC on weekdays, at most 2 h) and an outside address (carol@
other.test):
  a) the organiser's stored copy shows SCHEDULE-STATUS per attendee and the room's ACCEPTED;
     demo's calendar holds the invitation (NEEDS-ACTION) and demo's scheduling inbox the REQUEST
  b) demo accepts with a PUT of their copy: the organiser's copy shows demo ACCEPTED
  c) the room declines a conflicting, a too long and an out-of-hours booking
  d) the outside address receives, through kite-mta's relay and this test's dnsmasq, an iMIP
     mail that python3-icalendar parses (METHOD:REQUEST, the event's UID), caught by smtp-sink
  e) carol's REPLY by mail (SMTP into kite-mta, handed to kite-caldav by kite-delivery) sets
     carol's PARTSTAT in the organiser's copy
  f) the organiser deletes the event: carol gets an iMIP CANCEL, demo's copy is cancelled
Never the system resolver: dnsmasq with --no-resolv --no-hosts, every address on loopback.
"""
import datetime
import email
import email.policy
import os
import re
import shutil
import smtplib
import sys
import tempfile
import time
import unittest
import uuid

import requests
from icalendar import Calendar

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402
from loopback_peers import start_dnsmasq, start_smtp_sink, stop  # noqa: E402

OLGA, OLGA_PW = "olga@example.test", "olga-password-123"
DEMO, DEMO_PW = "demo@example.test", "demo-password-123"
ROOM = "room@example.test"
CAROL = "carol@other.test"


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def unfold(text):
    return text.replace("\r\n", "\n").replace("\n ", "")


def next_tuesday(weeks=1):
    """A Tuesday at least a week ahead (a weekday inside the room's working hours)."""
    day = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=7 * weeks)
    while day.weekday() != 1:
        day += datetime.timedelta(days=1)
    return day


def stamp(day, hour, minute=0):
    return f"{day:%Y%m%d}T{hour:02d}{minute:02d}00Z"


def event(uid, organiser, attendees, start, end, sequence=0):
    lines = "".join(f"ATTENDEE;{params}:mailto:{a}\n" for a, params in attendees)
    return crlf("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Kite e2e//EN\nBEGIN:VEVENT\n"
                f"UID:{uid}\nDTSTAMP:20261120T090000Z\nDTSTART:{start}\nDTEND:{end}\n"
                f"SUMMARY:Planning {uid[:8]}\nSEQUENCE:{sequence}\n"
                f"ORGANIZER;CN=Olga:mailto:{organiser}\n"
                f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{organiser}\n{lines}"
                "END:VEVENT\nEND:VCALENDAR\n")


def attendee_line(text, address):
    for line in unfold(text).split("\n"):
        if line.startswith("ATTENDEE") and line.lower().endswith(f":mailto:{address}"):
            return line
    return ""


class CaldavScheduling(SuiteTestCase):
    procs = []
    tmp = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kite-caldav-sched-e2e-")
        os.chmod(cls.tmp, 0o777)
        cls.sink_dir = os.path.join(cls.tmp, "sink")
        os.makedirs(cls.sink_dir)
        os.chmod(cls.sink_dir, 0o777)
        dns, dns_port = start_dnsmasq("local=/test/\nmx-host=other.test,mx.other.test,10\n"
                                      "host-record=mx.other.test,127.0.0.3\n", cls.tmp)
        cls.procs.append(dns)
        sink, cls.mx_port = start_smtp_sink("127.0.0.3", maildir=cls.sink_dir)
        cls.procs.append(sink)
        cls.extra_env = {
            "KITE_GLOBAL_DNS_SERVERS": f"127.0.0.1:{dns_port}",
            "KITE_MTA_RELAY_PORT": str(cls.mx_port),
            "KITE_MTA_RELAY_RECONCILE_INTERVAL": "1s",
            "KITE_DELIVERY_RECONCILE_INTERVAL": "1s",
        }
        try:
            super().setUpClass()
            cls.setup_directory()
        except BaseException:
            cls.failed = True
            cls.stop_peers()
            raise

    @classmethod
    def setup_directory(cls):
        for args, stdin in ((["user", "add", OLGA, "--name", "Olga", "--password-stdin"], OLGA_PW + "\n"),
                            (["resource", "add", ROOM, "--kind", "room", "--name", "Room 1", "--capacity", "10",
                              "--max-duration", "2h", "--hours", "08:00-18:00", "--days", "mon-fri", "--tz", "UTC",
                              "--auto-accept"], None)):
            r = cls.kitectl(*args, stdin=stdin)
            if r.returncode != 0:
                raise AssertionError(repr(r))
        for who in ((OLGA, OLGA_PW), (DEMO, DEMO_PW)):
            cls.open_home(who)

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

    # ------------------------------------------------------------------ helpers
    @classmethod
    def open_home(cls, who):
        """What a client does first: PROPFIND the calendar home (creates the default calendar)."""
        r = requests.request("PROPFIND", f"http://127.0.0.1:{cls.port('http')}/dav/calendars/{who[0]}/",
                             headers={"Depth": "1"}, auth=who, timeout=30)
        if r.status_code != 207:
            raise AssertionError(f"PROPFIND of {who[0]}'s home: {r.status_code} {r.text}")

    def url(self, owner, name):
        return f"http://127.0.0.1:{self.port('http')}/dav/calendars/{owner}/calendar/{name}"

    def put(self, who, owner, name, text, etag=None):
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if etag:
            headers["If-Match"] = etag
        r = requests.put(self.url(owner, name), data=text.encode(), headers=headers, auth=who, timeout=30)
        self.assertIn(r.status_code, (201, 204), r.text)

    def get(self, who, owner, name):
        r = requests.get(self.url(owner, name), auth=who, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        return r.text, r.headers.get("ETag")

    def calendar_objects(self, who, owner):
        """name -> text of every object in the owner's default calendar (calendar-query)."""
        body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                "<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"/></C:filter>"
                "</C:calendar-query>")
        r = requests.request("REPORT", f"http://127.0.0.1:{self.port('http')}/dav/calendars/{owner}/calendar/",
                             data=body, headers={"Depth": "1", "Content-Type": "application/xml"}, auth=who,
                             timeout=30)
        self.assertEqual(r.status_code, 207, r.text)
        hrefs = re.findall(r"<(?:[A-Za-z0-9]+:)?href>([^<]+)</(?:[A-Za-z0-9]+:)?href>", r.text)
        return [h.strip().rsplit("/", 1)[1] for h in hrefs if h.strip().endswith(".ics")]

    def sink_messages(self):
        out = []
        for root, _, files in os.walk(self.sink_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    out.append(f.read())
        return out

    def wait_for_mail(self, needle, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for raw in self.sink_messages():
                if needle.encode() in raw or needle.encode() in raw.replace(b"\r\n ", b""):
                    return raw
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                for part in msg.walk():
                    if part.get_content_type() == "text/calendar" and needle in part.get_content():
                        return raw
            time.sleep(0.3)
        self.fail(f"no mail with {needle} reached the sink within {timeout} s")

    def invite(self):
        """olga invites demo, the room and carol; returns (uid, stored text)."""
        if getattr(self, "_invited", None):
            return self._invited
        uid = f"e2e-{uuid.uuid4().hex}"
        day = next_tuesday()
        text = event(uid, OLGA, [(DEMO, "PARTSTAT=NEEDS-ACTION;RSVP=TRUE"), (ROOM, "CUTYPE=ROOM"),
                                 (CAROL, "PARTSTAT=NEEDS-ACTION;RSVP=TRUE")], stamp(day, 9), stamp(day, 10))
        self.put((OLGA, OLGA_PW), OLGA, f"{uid}.ics", text)
        stored, _ = self.get((OLGA, OLGA_PW), OLGA, f"{uid}.ics")
        type(self)._invited = (uid, stored, day)
        return type(self)._invited

    # ------------------------------------------------------------------ tests
    @record_failure
    def test_a_invitation_reaches_the_local_user_and_the_room(self):
        uid, stored, _ = self.invite()
        self.assertIn("SCHEDULE-STATUS=1.2", attendee_line(stored, DEMO))
        self.assertIn("PARTSTAT=ACCEPTED", attendee_line(stored, ROOM))
        self.assertIn("SCHEDULE-STATUS=1.1", attendee_line(stored, CAROL))
        found = [n for n in self.calendar_objects((DEMO, DEMO_PW), DEMO)
                 if uid in self.get((DEMO, DEMO_PW), DEMO, n)[0]]
        self.assertEqual(len(found), 1)
        copy, _ = self.get((DEMO, DEMO_PW), DEMO, found[0])
        self.assertIn("PARTSTAT=NEEDS-ACTION", attendee_line(copy, DEMO))

    @record_failure
    def test_b_local_user_accepts(self):
        uid, _, _ = self.invite()
        name = [n for n in self.calendar_objects((DEMO, DEMO_PW), DEMO)
                if uid in self.get((DEMO, DEMO_PW), DEMO, n)[0]][0]
        copy, etag = self.get((DEMO, DEMO_PW), DEMO, name)
        cal = Calendar.from_ical(copy)
        for comp in cal.walk("VEVENT"):
            atts = comp.get("ATTENDEE")
            for a in atts if isinstance(atts, list) else [atts]:
                if str(a).lower() == f"mailto:{DEMO}":
                    a.params["PARTSTAT"] = "ACCEPTED"
                    a.params.pop("RSVP", None)
        self.put((DEMO, DEMO_PW), DEMO, name, cal.to_ical().decode(), etag=etag)
        organiser, _ = self.get((OLGA, OLGA_PW), OLGA, f"{uid}.ics")
        self.assertIn("PARTSTAT=ACCEPTED", attendee_line(organiser, DEMO))

    @record_failure
    def test_c_room_declines_conflicting_long_and_late_bookings(self):
        _, _, day = self.invite()
        for label, start, end in (("conflict", stamp(day, 9, 30), stamp(day, 10, 30)),
                                  ("long", stamp(day, 12), stamp(day, 15)),
                                  ("late", stamp(day, 19), stamp(day, 20))):
            uid = f"{label}-{uuid.uuid4().hex}"
            self.put((DEMO, DEMO_PW), DEMO, f"{uid}.ics", event(uid, DEMO, [(ROOM, "CUTYPE=ROOM")], start, end))
            stored, _ = self.get((DEMO, DEMO_PW), DEMO, f"{uid}.ics")
            self.assertIn("PARTSTAT=DECLINED", attendee_line(stored, ROOM), label)
        ok = f"ok-{uuid.uuid4().hex}"
        self.put((DEMO, DEMO_PW), DEMO, f"{ok}.ics",
                 event(ok, DEMO, [(ROOM, "CUTYPE=ROOM")], stamp(day, 10), stamp(day, 11)))
        stored, _ = self.get((DEMO, DEMO_PW), DEMO, f"{ok}.ics")
        self.assertIn("PARTSTAT=ACCEPTED", attendee_line(stored, ROOM))

    @record_failure
    def test_d_outside_address_gets_an_imip_mail(self):
        uid, _, _ = self.invite()
        raw = self.wait_for_mail(uid)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertIn(OLGA, msg["From"])
        parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        self.assertEqual(len(parts), 1)
        self.assertEqual(parts[0].get_param("method"), "REQUEST")
        cal = Calendar.from_ical(parts[0].get_content())
        self.assertEqual(str(cal["METHOD"]), "REQUEST")
        self.assertEqual([str(e["UID"]) for e in cal.walk("VEVENT")], [uid])

    @record_failure
    def test_e_emailed_reply_updates_the_organiser(self):
        uid, stored, day = self.invite()
        reply = crlf("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Other//EN\nMETHOD:REPLY\nBEGIN:VEVENT\n"
                     f"UID:{uid}\nDTSTAMP:20261121T090000Z\nDTSTART:{stamp(day, 9)}\nSEQUENCE:0\n"
                     f"ORGANIZER:mailto:{OLGA}\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{CAROL}\n"
                     "END:VEVENT\nEND:VCALENDAR\n")
        body = crlf(f"From: Carol <{CAROL}>\nTo: <{OLGA}>\nSubject: Accepted\nMessage-ID: <{uid}.r@other.test>\n"
                    "MIME-Version: 1.0\nContent-Type: text/calendar; charset=UTF-8; method=REPLY\n\n") + reply
        s = smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test", timeout=60)
        try:
            s.sendmail(CAROL, [OLGA], body.encode())
        finally:
            s.quit()
        deadline = time.monotonic() + 90
        while True:
            organiser, _ = self.get((OLGA, OLGA_PW), OLGA, f"{uid}.ics")
            if "PARTSTAT=ACCEPTED" in attendee_line(organiser, CAROL):
                break
            self.assertLess(time.monotonic(), deadline, "the emailed REPLY did not reach the organiser's copy")
            time.sleep(0.5)

    @record_failure
    def test_f_deleting_cancels_for_everyone(self):
        uid, _, _ = self.invite()
        r = requests.delete(self.url(OLGA, f"{uid}.ics"), auth=(OLGA, OLGA_PW), timeout=30)
        self.assertEqual(r.status_code, 204, r.text)
        deadline = time.monotonic() + 90
        while True:
            cancels = []
            for raw in self.sink_messages():
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                for part in msg.walk():
                    if part.get_content_type() == "text/calendar" and uid in part.get_content():
                        if part.get_param("method") == "CANCEL":
                            cancels.append(Calendar.from_ical(part.get_content()))
            if cancels:
                break
            self.assertLess(time.monotonic(), deadline, "no CANCEL reached the outside attendee")
            time.sleep(0.3)
        self.assertEqual(str(cancels[0]["METHOD"]), "CANCEL")
        name = [n for n in self.calendar_objects((DEMO, DEMO_PW), DEMO)
                if uid in self.get((DEMO, DEMO_PW), DEMO, n)[0]][0]
        copy, _ = self.get((DEMO, DEMO_PW), DEMO, name)
        self.assertIn("STATUS:CANCELLED", unfold(copy))


if __name__ == "__main__":
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""End-to-end: kite-caldav (RFC 4791 CalDAV, RFC 4918 WebDAV, RFC 6578 sync) against the suite.

The suite is started by scripts/kite-local (tests/fixtures/kite_suite.py, which sets
caldav.allow_plaintext_loopback); clients are Debian's python3-caldav and raw http.client
requests. Checks:
  a) /.well-known/caldav redirects to /dav/; OPTIONS advertises calendar-access; the
     principal has calendar-home-set, calendar-user-address-set and the inbox/outbox URLs
  b) python3-caldav creates a calendar, puts a single event and a recurring event with an
     override (RECURRENCE-ID) and an EXDATE, and GET returns byte for byte what was stored
  c) time-range queries: only the events in the range, the recurring one by an instance
     only; with expansion the instances (override moved, EXDATE left out)
  d) calendar-multiget returns the asked objects (and 404 for a missing one)
  e) sync-collection: initial sync, then create / modify / delete show up (deleted as 404)
     with a new token; a bad token is 403 valid-sync-token
  f) preconditions: invalid iCalendar (valid-calendar-data), a second object with the same
     UID (409 no-uid-conflict with its href), If-None-Match: * on an existing object and a
     stale If-Match (412), a VTODO in a VEVENT-only calendar (supported-calendar-component),
     an object too large (max-resource-size or 413)
  g) authentication: none or wrong -> 401 with WWW-Authenticate Basic; another user's
     calendar -> 403; HTTPS works too
  h) sharing (kitectl calendar share): read lets the grantee read but not write (403);
     read-write lets the grantee write; unshare takes it away again
  i) delegation (account_grants through kitectl shared grant): --write writes the shared
     account's calendar, --read only reads; principal-property-search by display name;
     RFC 4331 quota properties on the home
  j) client setup on the same HTTP front, without authentication: Thunderbird autoconfig
     (both paths) names this host with IMAP 993/143, POP3 995, SMTP 465/587 for a local
     domain and 404 for another; Outlook Autodiscover (POX POST) answers the same servers;
     /.well-known/mta-sts.txt on Host mta-sts.example.test is an RFC 8461 policy
Never uses DNS: every address is 127.0.0.1 and every domain ends in .test.
"""
import base64
import datetime
import http.client
import os
import re
import ssl
import sys
import unittest
import uuid

import caldav

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, insecure_context, record_failure  # noqa: E402

PASSWORD = "caldav-password-123"
DOMAIN = "example.test"
USERS = ["cala", "calb", "calc"]


def addr(name):
    return f"{name}@{DOMAIN}"


SINGLE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Kite tests//EN\r
BEGIN:VEVENT\r
UID:single-{tag}@client.test\r
DTSTAMP:20261101T090000Z\r
DTSTART:20261202T100000Z\r
DTEND:20261202T110000Z\r
SUMMARY:Single {tag}\r
END:VEVENT\r
END:VCALENDAR\r
"""

# Daily at 09:00 Europe/Berlin from 2026-12-07 for 5 days; the 9th moved to 15:00, the 10th
# removed by EXDATE.
RECURRING = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Kite tests//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:daily-{tag}@client.test\r
DTSTAMP:20261101T090000Z\r
DTSTART;TZID=Europe/Berlin:20261207T090000\r
DTEND;TZID=Europe/Berlin:20261207T093000\r
RRULE:FREQ=DAILY;COUNT=5\r
EXDATE;TZID=Europe/Berlin:20261210T090000\r
SUMMARY:Stand-up {tag}\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:daily-{tag}@client.test\r
DTSTAMP:20261101T090000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20261209T090000\r
DTSTART;TZID=Europe/Berlin:20261209T150000\r
DTEND;TZID=Europe/Berlin:20261209T153000\r
SUMMARY:Stand-up {tag} (moved)\r
END:VEVENT\r
END:VCALENDAR\r
"""

TODO = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Kite tests//EN\r
BEGIN:VTODO\r
UID:todo-{tag}@client.test\r
DTSTAMP:20261101T090000Z\r
SUMMARY:Task\r
END:VTODO\r
END:VCALENDAR\r
"""


def auth_header(user, password=PASSWORD):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class CalDav(SuiteTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for u in USERS:
            r = cls.kitectl("user", "add", addr(u), "--password-stdin", stdin=PASSWORD + "\n")
            if r.returncode != 0:
                cls.failed = True
                cls.tearDownClass()
                raise AssertionError(repr(r))

    def base(self):
        return f"http://127.0.0.1:{self.port('http')}"

    def client(self, user):
        return caldav.DAVClient(self.base() + "/dav/", username=addr(user), password=PASSWORD, timeout=30)

    def request(self, method, path, body=None, headers=None, user="cala", password=PASSWORD, tls=False):
        if tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port("https"), timeout=30,
                                               context=insecure_context())
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port("http"), timeout=30)
        h = dict(headers or {})
        if user is not None:
            h["Authorization"] = auth_header(addr(user), password)
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), data

    def home(self, user):
        return f"/dav/calendars/{addr(user)}/"

    def put(self, path, text, user="cala", headers=None):
        h = {"Content-Type": "text/calendar; charset=utf-8"}
        h.update(headers or {})
        return self.request("PUT", path, text, h, user=user)

    def new_calendar(self, user, name):
        status, _, body = self.request("MKCALENDAR", self.home(user) + name + "/", user=user)
        self.assertEqual(status, 201, body)
        return self.home(user) + name + "/"

    @record_failure
    def test_a_discovery(self):
        status, headers, _ = self.request("GET", "/.well-known/caldav", user=None)
        self.assertEqual(status, 301)
        self.assertEqual(headers["location"], "/dav/")
        status, headers, _ = self.request("OPTIONS", "/dav/", user=None)
        self.assertEqual(status, 200)
        self.assertIn("calendar-access", headers["dav"])
        self.assertIn("extended-mkcol", headers["dav"])
        p = self.client("cala").principal()
        self.assertTrue(str(p.url).endswith(f"/dav/principals/{addr('cala')}/"), p.url)
        body = """<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
          <d:prop><c:calendar-home-set/><c:calendar-user-address-set/><c:schedule-inbox-URL/>
          <c:schedule-outbox-URL/><d:current-user-principal/><d:displayname/></d:prop></d:propfind>"""
        status, _, data = self.request("PROPFIND", f"/dav/principals/{addr('cala')}/", body, {"Depth": "0"})
        self.assertEqual(status, 207)
        text = data.decode()
        self.assertIn(f"<d:href>{self.home('cala')}</d:href>", text)
        self.assertIn(f"mailto:{addr('cala')}", text)
        self.assertIn("/inbox/", text)
        self.assertIn("/outbox/", text)
        # Depth infinity is refused.
        status, _, data = self.request("PROPFIND", self.home("cala"), body, {"Depth": "infinity"})
        self.assertEqual(status, 403)
        self.assertIn(b"propfind-finite-depth", data)

    @record_failure
    def test_b_store_and_get_exactly(self):
        client = self.client("cala")
        cal = client.principal().make_calendar(name="Roundtrip", cal_id="roundtrip")
        single = SINGLE.format(tag="b")
        daily = RECURRING.format(tag="b")
        # python3-caldav re-serialises what it saves (vobject): the byte-exact check PUTs raw.
        path = str(cal.url.path)
        self.assertEqual(self.put(path + "single-b.ics", single)[0], 201)
        self.assertEqual(self.put(path + "daily-b.ics", daily)[0], 201)
        for name, text in (("single-b.ics", single), ("daily-b.ics", daily)):
            status, headers, data = self.request("GET", path + name)
            self.assertEqual(status, 200)
            self.assertEqual(data.decode(), text)
            self.assertTrue(headers["content-type"].startswith("text/calendar"))
            self.assertRegex(headers["etag"], r'^"[0-9a-f]{32}"$')
            status, headers2, data = self.request("HEAD", path + name)
            self.assertEqual(status, 200)
            self.assertEqual(data, b"")
            self.assertEqual(headers2["etag"], headers["etag"])
        names = sorted(str(e.instance.vevent.summary.value) for e in cal.events())
        self.assertEqual(names, ["Single b", "Stand-up b"])
        self.assertEqual(str(cal.event_by_uid("daily-b@client.test").instance.vevent.uid.value), "daily-b@client.test")
        # What python3-caldav saves comes back as it sent it (same events, same instances).
        saved = cal.save_event(SINGLE.format(tag="b2"))
        again = cal.event_by_uid("single-b2@client.test")
        self.assertEqual(str(again.instance.vevent.summary.value), "Single b2")
        self.assertEqual(again.instance.vevent.dtstart.value, saved.instance.vevent.dtstart.value)

    @record_failure
    def test_c_time_range(self):
        client = self.client("cala")
        cal = client.principal().make_calendar(name="Ranges", cal_id="ranges")
        cal.save_event(SINGLE.format(tag="c"))
        cal.save_event(RECURRING.format(tag="c"))
        # Only the single event on 2026-12-02.
        found = cal.date_search(datetime.datetime(2026, 12, 2, tzinfo=datetime.timezone.utc),
                                datetime.datetime(2026, 12, 3, tzinfo=datetime.timezone.utc), expand=False)
        self.assertEqual([str(e.instance.vevent.uid.value) for e in found], ["single-c@client.test"])
        # The recurring one on 2026-12-08 (an instance, not its first day).
        found = cal.date_search(datetime.datetime(2026, 12, 8, tzinfo=datetime.timezone.utc),
                                datetime.datetime(2026, 12, 9, tzinfo=datetime.timezone.utc), expand=False)
        self.assertEqual([str(e.instance.vevent.uid.value) for e in found], ["daily-c@client.test"])
        # Nothing on the EXDATE'd day (only the excluded instance would be there).
        found = cal.date_search(datetime.datetime(2026, 12, 10, 7, tzinfo=datetime.timezone.utc),
                                datetime.datetime(2026, 12, 10, 9, tzinfo=datetime.timezone.utc), expand=False)
        self.assertEqual(found, [])
        # Expanded: 4 instances (5 minus the EXDATE), the 9th at 14:00 UTC (moved).
        body = """<?xml version="1.0"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
 <d:prop><d:getetag/><c:calendar-data><c:expand start="20261201T000000Z" end="20261231T000000Z"/></c:calendar-data></d:prop>
 <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
   <c:time-range start="20261206T000000Z" end="20261231T000000Z"/></c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>"""
        status, _, data = self.request("REPORT", str(cal.url.path), body, {"Depth": "1",
                                                                             "Content-Type": "application/xml"})
        self.assertEqual(status, 207, data)
        text = data.decode().replace("&#13;", "")
        self.assertEqual(text.count("UID:daily-c@client.test"), 4, text)
        self.assertIn("DTSTART:20261209T140000Z", text)
        self.assertNotIn("DTSTART:20261210T080000Z", text)
        self.assertNotIn("RRULE", text)
        self.assertNotIn("single-c", text)

    @record_failure
    def test_d_multiget(self):
        client = self.client("cala")
        cal = client.principal().make_calendar(name="Multi", cal_id="multi")
        e1 = cal.save_event(SINGLE.format(tag="d"))
        e2 = cal.save_event(RECURRING.format(tag="d"))
        body = f"""<?xml version="1.0"?>
<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
 <d:prop><d:getetag/><c:calendar-data/></d:prop>
 <d:href>{e1.url.path}</d:href><d:href>{e2.url.path}</d:href><d:href>{cal.url.path}missing.ics</d:href>
</c:calendar-multiget>"""
        status, _, data = self.request("REPORT", str(cal.url.path), body, {"Depth": "1",
                                                                             "Content-Type": "application/xml"})
        self.assertEqual(status, 207, data)
        text = data.decode()
        self.assertIn("single-d@client.test", text)
        self.assertIn("daily-d@client.test", text)
        self.assertIn("404", text)
        objs = cal.calendar_multiget([e1.url, e2.url])
        self.assertEqual(sorted(str(o.instance.vevent.uid.value) for o in objs),
                         ["daily-d@client.test", "single-d@client.test"])

    @record_failure
    def test_e_sync_collection(self):
        client = self.client("cala")
        cal = client.principal().make_calendar(name="Sync", cal_id="sync")
        e1 = cal.save_event(SINGLE.format(tag="e1"))
        first = cal.objects_by_sync_token(load_objects=True)
        self.assertEqual(len(list(first)), 1)
        token = first.sync_token
        self.assertTrue(token.startswith("http"), token)
        e2 = cal.save_event(SINGLE.format(tag="e2"))
        e1.instance.vevent.summary.value = "Changed"
        e1.save()
        changed = cal.objects_by_sync_token(sync_token=token, load_objects=False)
        self.assertEqual(sorted(str(o.url.path) for o in changed), sorted([str(e1.url.path), str(e2.url.path)]))
        token2 = changed.sync_token
        self.assertNotEqual(token, token2)
        e2.delete()
        body = f"""<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token2}</d:sync-token>
<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"""
        status, _, data = self.request("REPORT", str(cal.url.path), body, {"Content-Type": "application/xml"})
        self.assertEqual(status, 207, data)
        text = data.decode()
        self.assertIn(str(e2.url.path).replace("%40", "@"), text.replace("%40", "@"))
        self.assertIn("404 Not Found", text)
        self.assertNotIn("single-e1", text)
        # Nothing changed since the latest token.
        latest = re.search(r"<d:sync-token>([^<]+)</d:sync-token>", text).group(1)
        body2 = body.replace(token2, latest)
        status, _, data = self.request("REPORT", str(cal.url.path), body2, {"Content-Type": "application/xml"})
        self.assertEqual(status, 207)
        self.assertNotIn(b"<d:response>", data)
        bad = body.replace(token2, "http://kite.example/sync/999999")
        status, _, data = self.request("REPORT", str(cal.url.path), bad, {"Content-Type": "application/xml"})
        self.assertEqual(status, 403)
        self.assertIn(b"valid-sync-token", data)

    @record_failure
    def test_f_preconditions(self):
        path = self.new_calendar("cala", "pre")
        status, _, data = self.put(path + "bad.ics", "BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n")
        self.assertEqual(status, 403)
        self.assertIn(b"valid-calendar-data", data)
        status, headers, _ = self.put(path + "one.ics", SINGLE.format(tag="f"))
        self.assertEqual(status, 201)
        etag = headers["etag"]
        status, _, data = self.put(path + "two.ics", SINGLE.format(tag="f"))
        self.assertEqual(status, 409)
        self.assertIn(b"no-uid-conflict", data)
        self.assertIn(b"one.ics", data)
        status, _, _ = self.put(path + "one.ics", SINGLE.format(tag="f"), headers={"If-None-Match": "*"})
        self.assertEqual(status, 412)
        status, _, _ = self.put(path + "one.ics", SINGLE.format(tag="f"), headers={"If-Match": '"0000"'})
        self.assertEqual(status, 412)
        status, headers, _ = self.put(path + "one.ics", SINGLE.format(tag="f"), headers={"If-Match": etag})
        self.assertEqual(status, 204)
        status, _, _ = self.request("DELETE", path + "one.ics", headers={"If-Match": '"0000"'})
        self.assertEqual(status, 412)
        # A VEVENT-only calendar refuses a VTODO.
        body = """<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:set><d:prop><d:displayname>Events only</d:displayname><c:supported-calendar-component-set>
<c:comp name="VEVENT"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"""
        status, _, data = self.request("MKCALENDAR", self.home("cala") + "events/", body,
                                       {"Content-Type": "application/xml"})
        self.assertEqual(status, 201, data)
        status, _, data = self.put(self.home("cala") + "events/t.ics", TODO.format(tag="f"))
        self.assertEqual(status, 403)
        self.assertIn(b"supported-calendar-component", data)
        big = SINGLE.format(tag="big").replace("SUMMARY:", "DESCRIPTION:" + "x" * (1100 * 1024) + "\r\nSUMMARY:")
        status, _, data = self.put(path + "big.ics", big)
        self.assertIn(status, (403, 413))
        if status == 403:
            self.assertIn(b"max-resource-size", data)
        # MKCALENDAR on an existing calendar.
        status, _, _ = self.request("MKCALENDAR", path)
        self.assertIn(status, (403, 405))

    @record_failure
    def test_g_authentication_and_other_users(self):
        status, headers, _ = self.request("PROPFIND", self.home("cala"), headers={"Depth": "0"}, user=None)
        self.assertEqual(status, 401)
        self.assertIn('Basic realm="Kite"', headers["www-authenticate"])
        status, _, _ = self.request("PROPFIND", self.home("cala"), headers={"Depth": "0"}, password="wrong")
        self.assertEqual(status, 401)
        path = self.new_calendar("cala", "private")
        self.assertEqual(self.put(path + "p.ics", SINGLE.format(tag="g"))[0], 201)
        for method, body in (("GET", None), ("PROPFIND", None), ("DELETE", None)):
            status, _, _ = self.request(method, path + "p.ics", body, {"Depth": "0"}, user="calb")
            self.assertEqual(status, 403, method)
        status, _, _ = self.put(path + "q.ics", SINGLE.format(tag="g2"), user="calb")
        self.assertEqual(status, 403)
        status, _, _ = self.request("PROPFIND", path, headers={"Depth": "1"}, user="calb")
        self.assertEqual(status, 403)
        # HTTPS.
        status, _, data = self.request("GET", path + "p.ics", tls=True)
        self.assertEqual(status, 200)
        self.assertIn(b"single-g@client.test", data)

    @record_failure
    def test_h_sharing(self):
        path = self.new_calendar("cala", "team")
        self.assertEqual(self.put(path + "t.ics", SINGLE.format(tag="h"))[0], 201)
        self.ok("calendar", "share", addr("cala"), "team", addr("calb"), "read")
        status, _, data = self.request("GET", path + "t.ics", user="calb")
        self.assertEqual(status, 200)
        self.assertIn(b"single-h@client.test", data)
        status, _, data = self.request("PROPFIND", path, headers={"Depth": "1"}, user="calb")
        self.assertEqual(status, 207)
        self.assertIn(b"t.ics", data)
        status, _, _ = self.put(path + "u.ics", SINGLE.format(tag="h2"), user="calb")
        self.assertEqual(status, 403)
        status, _, _ = self.request("DELETE", path + "t.ics", user="calb")
        self.assertEqual(status, 403)
        # calc has nothing.
        status, _, _ = self.request("GET", path + "t.ics", user="calc")
        self.assertEqual(status, 403)
        self.ok("calendar", "share", addr("cala"), "team", addr("calb"), "read-write")
        status, _, _ = self.put(path + "u.ics", SINGLE.format(tag="h2"), user="calb")
        self.assertEqual(status, 201)
        # The grantee may not delete or change the calendar itself.
        status, _, _ = self.request("DELETE", path, user="calb")
        self.assertEqual(status, 403)
        listing = self.ok("calendar", "list", addr("cala")).stdout
        self.assertIn(addr("calb"), listing)
        self.ok("calendar", "unshare", addr("cala"), "team", addr("calb"))
        status, _, _ = self.request("GET", path + "t.ics", user="calb")
        self.assertEqual(status, 403)

    @record_failure
    def test_i_delegation_search_quota(self):
        # Delegation through account_grants: a shared account's calendars.
        self.ok("shared", "add", addr("calteam"), "--name", "Team Room")
        self.ok("shared", "grant", addr("calteam"), addr("calc"), "--write")
        self.ok("shared", "grant", addr("calteam"), addr("calb"), "--read")
        team = f"/dav/calendars/{addr('calteam')}/calendar/"
        status, _, data = self.put(team + "d.ics", SINGLE.format(tag="i"), user="calc")
        self.assertEqual(status, 201, data)
        status, _, data = self.request("GET", team + "d.ics", user="calb")
        self.assertEqual(status, 200)
        self.assertIn(b"single-i@client.test", data)
        status, _, _ = self.put(team + "e.ics", SINGLE.format(tag="i2"), user="calb")
        self.assertEqual(status, 403)
        status, _, _ = self.request("GET", team + "d.ics", user="cala")
        self.assertEqual(status, 403)
        # principal-property-search by display name.
        body = """<?xml version="1.0"?><d:principal-property-search xmlns:d="DAV:">
<d:property-search><d:prop><d:displayname/></d:prop><d:match>team ro</d:match></d:property-search>
<d:prop><d:displayname/></d:prop></d:principal-property-search>"""
        status, _, data = self.request("REPORT", "/dav/principals/", body, {"Depth": "0",
                                                                             "Content-Type": "application/xml"})
        self.assertEqual(status, 207, data)
        self.assertIn(f"/dav/principals/{addr('calteam')}/".encode(), data)
        self.assertIn(b"Team Room", data)
        self.assertNotIn(addr("cala").encode(), data)
        # Quota properties (RFC 4331) on the home.
        body = """<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:quota-used-bytes/>
<d:quota-available-bytes/></d:prop></d:propfind>"""
        status, _, data = self.request("PROPFIND", self.home("cala"), body, {"Depth": "0"})
        self.assertEqual(status, 207)
        self.assertRegex(data.decode(), r"<d:quota-used-bytes>\d+</d:quota-used-bytes>")
        self.assertRegex(data.decode(), r"<d:quota-available-bytes>\d+</d:quota-available-bytes>")

    @record_failure
    def test_j_client_setup(self):
        import xml.etree.ElementTree as ET
        for path in ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"):
            status, headers, data = self.request("GET", f"{path}?emailaddress={addr('cala')}", user=None)
            self.assertEqual(status, 200, data)
            self.assertIn("xml", headers.get("content-type", ""))
            root = ET.fromstring(data)
            servers = {}
            for kind in ("incomingServer", "outgoingServer"):
                for e in root.iter(kind):
                    servers.setdefault(e.get("type"), []).append(
                        (e.findtext("hostname"), e.findtext("port"), e.findtext("socketType"), e.findtext("username")))
            self.assertIn(("mail.example.test", "993", "SSL", "%EMAILADDRESS%"), servers["imap"])
            self.assertIn(("mail.example.test", "143", "STARTTLS", "%EMAILADDRESS%"), servers["imap"])
            self.assertIn(("mail.example.test", "995", "SSL", "%EMAILADDRESS%"), servers["pop3"])
            self.assertIn(("mail.example.test", "465", "SSL", "%EMAILADDRESS%"), servers["smtp"])
            self.assertIn(("mail.example.test", "587", "STARTTLS", "%EMAILADDRESS%"), servers["smtp"])
        status, _, _ = self.request("GET", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a@nowhere.test",
                                    user=None)
        self.assertEqual(status, 404)
        pox = ('<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
               'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>' + addr("cala") +
               '</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/'
               'outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>')
        status, _, data = self.request("POST", "/autodiscover/autodiscover.xml", pox,
                                       {"Content-Type": "text/xml"}, user=None)
        self.assertEqual(status, 200, data)
        text = data.decode()
        self.assertIn("<Server>mail.example.test</Server>", text)
        self.assertRegex(text, r"<Type>IMAP</Type>")
        self.assertRegex(text, r"<Port>993</Port>")
        status, headers, data = self.request("GET", "/.well-known/mta-sts.txt", None,
                                             {"Host": "mta-sts.example.test"}, user=None)
        self.assertEqual(status, 200, data)
        self.assertTrue(headers.get("content-type", "").startswith("text/plain"), headers)
        lines = [ln.strip() for ln in data.decode().splitlines() if ln.strip()]
        self.assertEqual(lines[0], "version: STSv1")
        self.assertIn("mode: testing", lines)
        self.assertIn("mx: mail.example.test", lines)
        self.assertTrue(any(re.fullmatch(r"max_age: \d+", ln) for ln in lines), lines)
        status, _, _ = self.request("GET", "/.well-known/mta-sts.txt", None, {"Host": "mta-sts.nowhere.test"}, user=None)
        self.assertEqual(status, 404)


if __name__ == "__main__":
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""End-to-end: vdirsyncer (Debian's package) syncs a local filesystem calendar with Kite.

A local vdir collection "personal" with two events and Kite's default calendar "calendar"
with one event (PUT over HTTP) are paired with collections ["from a", "from b"]:
`vdirsyncer discover` (its prompts answered "y": create the missing collection on the other
side) and `vdirsyncer sync` copy both ways; then an event changed locally and one changed on
Kite travel the other way; a last sync changes nothing (no copy/update/delete lines, same
local files, same sync tokens on Kite). Config and status live in a temporary folder; plain
HTTP on loopback (caldav.allow_plaintext_loopback). Never uses DNS.
"""
import base64
import glob
import hashlib
import http.client
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402

USER = "vdir@example.test"
PASSWORD = "vdir-password-123"


def event(uid, summary, day):
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Kite tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20261101T000000Z\r\nDTSTART:202612{day:02d}T100000Z\r\nDTEND:202612{day:02d}T110000Z\r\n"
            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


class Vdirsyncer(SuiteTestCase):
    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port("http"), timeout=30)
        h = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
        h.update(headers or {})
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data

    def vdirsyncer(self, work, *args):
        r = subprocess.run(["vdirsyncer", "-c", os.path.join(work, "config"), *args], input="y\n" * 20,
                           capture_output=True, text=True, timeout=300, cwd=work)
        out = r.stdout + r.stderr
        print(f"$ vdirsyncer {' '.join(args)}\n{out}", file=sys.stderr)
        self.assertEqual(r.returncode, 0, out)
        return out

    def local_state(self, work):
        out = {}
        for path in sorted(glob.glob(os.path.join(work, "local", "*", "*.ics"))):
            with open(path, "rb") as f:
                out[os.path.relpath(path, work)] = hashlib.sha256(f.read()).hexdigest()
        return out

    def kite_tokens(self):
        body = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/></d:prop></d:propfind>')
        status, data = self.request("PROPFIND", f"/dav/calendars/{USER}/", body, {"Depth": "1"})
        self.assertEqual(status, 207)
        return sorted(re.findall(r"<d:sync-token>([^<]*)</d:sync-token>", data.decode()))

    def kite_objects(self, calendar):
        body = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>')
        status, data = self.request("PROPFIND", f"/dav/calendars/{USER}/{calendar}/", body, {"Depth": "1"})
        self.assertEqual(status, 207, data)
        return re.findall(r"<d:href>([^<]*\.ics)</d:href>", data.decode())

    @record_failure
    def test_sync_both_ways(self):
        self.ok("user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
        # Kite's side: the default calendar with one event.
        status, _ = self.request("PUT", f"/dav/calendars/{USER}/calendar/kite-1.ics", event("kite-1@client.test",
                                 "From Kite", 3), {"Content-Type": "text/calendar"})
        self.assertEqual(status, 201)
        with tempfile.TemporaryDirectory() as work:
            os.makedirs(os.path.join(work, "local", "personal"))
            os.makedirs(os.path.join(work, "status"))
            for i in (1, 2):
                with open(os.path.join(work, "local", "personal", f"local-{i}.ics"), "w", newline="") as f:
                    f.write(event(f"local-{i}@client.test", f"Local {i}", 10 + i))
            with open(os.path.join(work, "config"), "w") as f:
                f.write(f"""[general]
status_path = "{work}/status/"

[pair kite]
a = "local"
b = "remote"
collections = ["from a", "from b"]
conflict_resolution = "a wins"

[storage local]
type = "filesystem"
path = "{work}/local/"
fileext = ".ics"

[storage remote]
type = "caldav"
url = "http://127.0.0.1:{self.port('http')}/dav/"
username = "{USER}"
password = "{PASSWORD}"
""")
            self.vdirsyncer(work, "discover")
            self.vdirsyncer(work, "sync")
            # Both ways.
            self.assertEqual(len(self.kite_objects("personal")), 2)
            local_cal = glob.glob(os.path.join(work, "local", "calendar", "*.ics"))
            self.assertEqual(len(local_cal), 1)
            with open(local_cal[0]) as f:
                self.assertIn("UID:kite-1@client.test", f.read())
            # A local change goes to Kite, a Kite change comes to the filesystem.
            with open(os.path.join(work, "local", "personal", "local-1.ics"), "w", newline="") as f:
                f.write(event("local-1@client.test", "Local 1 changed", 11))
            href = self.kite_objects("calendar")[0]
            status, _ = self.request("PUT", href, event("kite-1@client.test", "From Kite changed", 3),
                                     {"Content-Type": "text/calendar"})
            self.assertEqual(status, 204)
            self.vdirsyncer(work, "sync")
            found = False
            for h in self.kite_objects("personal"):
                status, data = self.request("GET", h)
                found = found or b"SUMMARY:Local 1 changed" in data
            self.assertTrue(found)
            with open(local_cal[0]) as f:
                self.assertIn("SUMMARY:From Kite changed", f.read())
            # A further sync changes nothing on either side.
            before_local, before_kite = self.local_state(work), self.kite_tokens()
            out = self.vdirsyncer(work, "sync")
            self.assertNotRegex(out, r"(?i)copying|updating|deleting")
            self.assertEqual(self.local_state(work), before_local)
            self.assertEqual(self.kite_tokens(), before_kite)


if __name__ == "__main__":
    unittest.main(verbosity=2)

// fb_seed — fills a Kite database with people and recurring calendar events, for the
// free/busy end-to-end test and benchmark (tests/e2e/freebusy_test.py,
// tests/bench/freebusy_bench.py). Test-only; never part of a deployment.
//
//   fb_seed [--pg URL] [--domain D] [--users N] [--prefix P] [--singles K] [--seed S]
//
// Creates domain D (if missing) and the accounts P1@D .. PN@D (if missing; with the password
// hash "!", which never verifies: free/busy needs no login), each with a regular calendar
// "work" holding, from Monday 5 January 2026:
//  - a stand-up every weekday 09:00-09:15 UTC without end, one day excluded (EXDATE) and one
//    moved to 16:00 (RECURRENCE-ID override);
//  - a weekly one-hour meeting on a day and hour drawn per user, 52 times, with its third
//    instance cancelled by an override (STATUS:CANCELLED);
//  - K single events in the first four weeks at random working hours, 30-120 minutes, some
//    TENTATIVE, some TRANSP:TRANSPARENT, some STATUS:CANCELLED.
// Every event carries a SUMMARY, LOCATION, DESCRIPTION and ATTENDEE with the marker
// "CONFIDENTIAL" (the tests assert that no answer contains it).
// Objects are stored as calendar objects with their index columns (first_start, last_end,
// is_recurring, transparent, uid, component) computed by lib/calendar's Ingest, as the
// CalDAV server stores them. Re-running replaces the objects (same uris). Without --pg the
// PostgreSQL URL comes from $KITE_CONFIG (global.postgres_url).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/base/strings.h"
#include "lib/calendar/calendar.h"
#include "lib/config/config.h"
#include "lib/directory/directory.h"
#include "lib/store/pool.h"

namespace {

constexpr char kUsage[] =
    "Usage: fb_seed [--pg URL] [--domain D] [--users N (1-100000)] [--prefix P] [--singles K (0-200)] [--seed S]\n";

struct Options {
  std::string pg;
  std::string domain = "bench.test";
  int users = 1000;
  std::string prefix = "user";
  int singles = 10;
  unsigned seed = 1;
};

constexpr int64_t kMonday = 1767571200;  // 2026-01-05T00:00:00Z

std::string Utc(int64_t t) { return kite::calendar::FormatUtc(t); }

std::string Details(const std::string& who, const std::string& what) {
  return absl::StrCat("SUMMARY:CONFIDENTIAL ", what, " of ", who, "\r\nLOCATION:CONFIDENTIAL room\r\n",
                      "DESCRIPTION:CONFIDENTIAL agenda\r\nATTENDEE;CN=Partner:mailto:partner@client.test\r\n");
}

std::string Calendar(const std::string& body) {
  return absl::StrCat("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Kite//fb_seed//EN\r\n", body, "END:VCALENDAR\r\n");
}

std::string Vevent(const std::string& uid, const std::string& props) {
  return absl::StrCat("BEGIN:VEVENT\r\nUID:", uid, "\r\nDTSTAMP:20260101T000000Z\r\n", props, "END:VEVENT\r\n");
}

std::vector<std::pair<std::string, std::string>> EventsFor(const std::string& who, int index, int singles,
                                                           std::mt19937& rng) {
  std::vector<std::pair<std::string, std::string>> out;  // (uri, text)
  const std::string d = Details(who, "meeting");
  // Stand-up: weekdays 09:00-09:15, open-ended; Wednesday of week 1 excluded, Thursday of
  // week 2 moved to 16:00.
  int64_t standup = kMonday + 9 * 3600;
  std::string uid = absl::StrCat("standup-", index, "@seed.test");
  out.emplace_back(
      "standup.ics",
      Calendar(Vevent(uid, absl::StrCat("DTSTART:", Utc(standup), "\r\nDTEND:", Utc(standup + 900),
                                        "\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR\r\nEXDATE:",
                                        Utc(standup + 2 * 86400), "\r\n", d)) +
               Vevent(uid, absl::StrCat("RECURRENCE-ID:", Utc(standup + 10 * 86400), "\r\nDTSTART:",
                                        Utc(kMonday + 10 * 86400 + 16 * 3600), "\r\nDTEND:",
                                        Utc(kMonday + 10 * 86400 + 16 * 3600 + 900), "\r\n", d))));
  // Weekly meeting: a weekday and hour (10..16) of its own, 52 times; the third cancelled.
  int64_t weekly = kMonday + static_cast<int64_t>(rng() % 5) * 86400 + (10 + static_cast<int64_t>(rng() % 7)) * 3600;
  uid = absl::StrCat("weekly-", index, "@seed.test");
  out.emplace_back(
      "weekly.ics",
      Calendar(Vevent(uid, absl::StrCat("DTSTART:", Utc(weekly), "\r\nDTEND:", Utc(weekly + 3600),
                                        "\r\nRRULE:FREQ=WEEKLY;COUNT=52\r\n", d)) +
               Vevent(uid, absl::StrCat("RECURRENCE-ID:", Utc(weekly + 14 * 86400), "\r\nDTSTART:",
                                        Utc(weekly + 14 * 86400), "\r\nDTEND:", Utc(weekly + 14 * 86400 + 3600),
                                        "\r\nSTATUS:CANCELLED\r\n", d))));
  for (int k = 0; k < singles; ++k) {
    int64_t start = kMonday + static_cast<int64_t>(rng() % 28) * 86400 + (8 + static_cast<int64_t>(rng() % 9)) * 3600 +
                    static_cast<int64_t>(rng() % 4) * 900;
    int64_t length = (2 + static_cast<int64_t>(rng() % 7)) * 900;
    std::string extra;
    switch (rng() % 8) {
      case 0:
        extra = "STATUS:TENTATIVE\r\n";
        break;
      case 1:
        extra = "TRANSP:TRANSPARENT\r\n";
        break;
      case 2:
        extra = "STATUS:CANCELLED\r\n";
        break;
      default:
        break;
    }
    uid = absl::StrCat("single-", index, "-", k, "@seed.test");
    out.emplace_back(absl::StrCat("single-", k, ".ics"),
                     Calendar(Vevent(uid, absl::StrCat("DTSTART:", Utc(start), "\r\nDTEND:", Utc(start + length),
                                                       "\r\n", extra, Details(who, "appointment")))));
  }
  return out;
}

int Fail(const std::string& why) {
  std::fprintf(stderr, "fb_seed: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (i + 1 >= args.size()) {
      std::fprintf(stderr, "fb_seed: %s needs a value\n%s", a.c_str(), kUsage);
      return 2;
    }
    const std::string& v = args[++i];
    bool ok = true;
    if (a == "--pg") {
      o.pg = v;
    } else if (a == "--domain") {
      o.domain = v;
    } else if (a == "--prefix") {
      o.prefix = v;
    } else if (a == "--users") {
      ok = absl::SimpleAtoi(v, &o.users) && o.users >= 1 && o.users <= 100000;
    } else if (a == "--singles") {
      ok = absl::SimpleAtoi(v, &o.singles) && o.singles >= 0 && o.singles <= 200;
    } else if (a == "--seed") {
      ok = absl::SimpleAtoi(v, &o.seed);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "fb_seed: bad option %s %s\n%s", a.c_str(), v.c_str(), kUsage);
      return 2;
    }
  }
  if (o.pg.empty()) {
    const char* path = std::getenv("KITE_CONFIG");
    auto config = kite::config::Config::Load(kite::config::KiteSchema(), path ? path : "",
                                             kite::config::ProcessEnvironment());
    if (!config.ok()) return Fail(std::string(config.status().message()));
    o.pg = config->String("global", "postgres_url");
  }
  auto pool = kite::store::Pool::Create({.url = o.pg, .pool_size = 2});
  if (!pool.ok()) return Fail(std::string(pool.status().message()));
  if (auto s = kite::directory::CreateDomain(**pool, o.domain); !s.ok() && !absl::IsAlreadyExists(s.status())) {
    return Fail(std::string(s.status().message()));
  }
  std::mt19937 rng(o.seed);
  auto begin = std::chrono::steady_clock::now();
  size_t objects = 0;
  for (int i = 1; i <= o.users; ++i) {
    std::string address = absl::StrCat(o.prefix, i, "@", o.domain);
    auto existing = kite::directory::FindAccount(**pool, address);
    if (!existing.ok()) return Fail(std::string(existing.status().message()));
    int64_t id = 0;
    if (*existing) {
      id = (*existing)->id;
    } else {
      auto created = kite::directory::CreateAccount(**pool, address, absl::StrCat("User ", i), "!", 0);
      if (!created.ok()) return Fail(absl::StrCat(address, ": ", created.status().message()));
      id = *created;
    }
    auto events = EventsFor(address, i, o.singles, rng);
    std::vector<kite::calendar::Object> ingested;
    for (const auto& [uri, text] : events) {
      kite::calendar::IngestError error;
      auto object = kite::calendar::Ingest(text, {}, &error);
      if (!object) return Fail(absl::StrCat(address, " ", uri, ": ", error.reason));
      ingested.push_back(std::move(*object));
    }
    absl::Status s = (*pool)->Transact([&](pqxx::work& tx) {
      tx.exec_params("INSERT INTO calendars (account_id, uri, display_name) VALUES ($1, 'work', 'Work') "
                     "ON CONFLICT (account_id, uri) DO NOTHING",
                     id);
      int64_t calendar =
          tx.exec_params1("SELECT id FROM calendars WHERE account_id = $1 AND uri = 'work'", id)[0].as<int64_t>();
      for (size_t k = 0; k < events.size(); ++k) {
        const auto& object = ingested[k];
        const std::string& text = events[k].second;
        tx.exec_params(
            "INSERT INTO calendar_objects (account_id, calendar_id, uri, uid, component, ical, etag, size, "
            "first_start, last_end, is_recurring, transparent, organizer, sequence) "
            "VALUES ($1, $2, $3, $4, $5, $6, md5($6), octet_length($6), to_timestamp($7::bigint), "
            "to_timestamp($8::bigint), $9, $10, NULLIF($11, ''), $12) "
            "ON CONFLICT (account_id, calendar_id, uri) DO UPDATE SET ical = EXCLUDED.ical, etag = EXCLUDED.etag, "
            "size = EXCLUDED.size, first_start = EXCLUDED.first_start, last_end = EXCLUDED.last_end, "
            "is_recurring = EXCLUDED.is_recurring, transparent = EXCLUDED.transparent, updated_at = now()",
            id, calendar, events[k].first, object.uid, object.component, text,
            object.first_start ? std::optional<int64_t>(*object.first_start) : std::nullopt,
            object.last_end ? std::optional<int64_t>(*object.last_end) : std::nullopt, object.recurring,
            object.transparent, object.organizer, object.sequence);
      }
    });
    if (!s.ok()) return Fail(absl::StrCat(address, ": ", s.message()));
    objects += events.size();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::printf("fb_seed: %d users in %s with %zu calendar objects in %.1f s\n", o.users, o.domain.c_str(), objects,
              seconds);
  return 0;
}

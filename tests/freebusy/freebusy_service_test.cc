// kite-freebusy's FreeBusy service called in-process against a real PostgreSQL and Redis:
// recurrences with overrides and EXDATE, time zones, TRANSPARENT / CANCELLED / TENTATIVE,
// transparent calendars and the scheduling inbox left out, overlapping events merged, working
// hours as BUSY-UNAVAILABLE (people and resources), visibility refused, aliases and
// sub-addresses, the cache (a hit, then Invalidate and the Redis INCR), Redis down, FindTime,
// the external URL's tokens, the bounds, and no event detail in any answer.
// Plus the pure parts: the cache encoding, the slot search, address canonicalisation.
#include "freebusy/freebusy_service.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "fixtures/test_env.h"
#include "freebusy/cache.h"
#include "freebusy/store.h"
#include "lib/calendar/calendar.h"
#include "lib/directory/directory.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace {

namespace v1 = kite::freebusy::v1;
using kite::calendar::BusyPeriod;
using kite::calendar::BusyType;

std::string Crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

int64_t T(const char* utc) {
  auto t = kite::calendar::ParseUtc(utc);
  REQUIRE(t.has_value());
  return *t;
}

const char* TypeName(v1::BusyType t) {
  switch (t) {
    case v1::BUSY_TYPE_BUSY:
      return "BUSY";
    case v1::BUSY_TYPE_BUSY_TENTATIVE:
      return "BUSY-TENTATIVE";
    case v1::BUSY_TYPE_BUSY_UNAVAILABLE:
      return "BUSY-UNAVAILABLE";
    default:
      return "?";
  }
}

std::vector<std::string> Lines(const v1::TargetAvailability& r) {
  std::vector<std::string> out;
  for (const auto& p : r.busy()) {
    out.push_back(kite::calendar::FormatUtc(p.start().seconds()) + "/" + kite::calendar::FormatUtc(p.end().seconds()) +
                  " " + TypeName(p.type()));
  }
  return out;
}

// A loopback port nothing listens on.
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

constexpr char kSecretWords[] = "Secret-Board-Meeting";

std::string Event(const std::string& uid, const std::string& body) {
  return Crlf("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Kite//freebusy test//EN\n" + body + "END:VCALENDAR\n");
}

std::string Vevent(const std::string& uid, const std::string& props) {
  return "BEGIN:VEVENT\nUID:" + uid + "\nDTSTAMP:20260101T000000Z\nSUMMARY:" + kSecretWords +
         "\nLOCATION:Room of " + kSecretWords + "\nDESCRIPTION:About " + kSecretWords +
         "\nATTENDEE;CN=Someone:mailto:someone@example.test\n" + props + "END:VEVENT\n";
}

struct Env {
  std::unique_ptr<kite::store::Pool> pool;
  prometheus::Registry registry;
  std::unique_ptr<kite::freebusy::Cache> cache;
  std::unique_ptr<kite::freebusy::FreeBusyService> svc;
  int64_t alice = 0;  // the viewer
  int64_t bob = 0;    // the target with events
  int64_t carol = 0;  // another domain: not visible to alice
  int64_t room = 0;   // a resource with working hours
  int64_t bob_cal = 0;

  explicit Env(int redis_port = kite::testing::RedisPort()) {
    auto p = kite::store::Pool::Create({.url = kite::testing::FreshDatabase("freebusy"), .pool_size = 4});
    REQUIRE(p.ok());
    pool = std::move(*p);
    REQUIRE(kite::store::Migrate(*pool).ok());
    // The fixture's Redis is shared by every test (and process): account ids of this database
    // start at a random value so that no two tests share cache keys.
    std::random_device random;
    int64_t first_id = 1000000 + static_cast<int64_t>(random() % 1000000) * 1000;  // < 2^31
    Exec("SELECT setval(pg_get_serial_sequence('accounts', 'id'), " + std::to_string(first_id) + ")");
    REQUIRE(kite::directory::CreateDomain(*pool, "example.test").ok());
    REQUIRE(kite::directory::CreateDomain(*pool, "other.test").ok());
    alice = kite::directory::CreateAccount(*pool, "alice@example.test", "Alice", "!", 0).value();
    bob = kite::directory::CreateAccount(*pool, "bob@example.test", "Bob", "!", 0).value();
    carol = kite::directory::CreateAccount(*pool, "carol@other.test", "Carol", "!", 0).value();
    absl::Status alias = kite::directory::AddAlias(*pool, "robert@example.test", "bob@example.test");
    INFO(alias.ToString());
    REQUIRE(alias.ok());
    kite::directory::ResourcePolicy policy;
    policy.hours = kite::directory::ParseWorkingHours("08:00-18:00", "mon-fri").value();
    policy.timezone = "Europe/Paris";
    room = kite::directory::CreateResource(*pool, "room1@example.test", "Room 1", policy).value();
    bob_cal = AddCalendar(bob, "work");

    kite::freebusy::CacheOptions options;
    options.redis.port = redis_port;
    options.redis.timeout = std::chrono::milliseconds(500);
    cache = std::make_unique<kite::freebusy::Cache>(options);
    svc = std::make_unique<kite::freebusy::FreeBusyService>(*pool, cache.get(), registry,
                                                            kite::freebusy::ServiceOptions{});
  }

  int64_t AddCalendar(int64_t account, const std::string& uri, const std::string& kind = "calendar",
                      bool transparent = false) {
    auto r = pool->Transact([&](pqxx::work& tx) {
      return tx
          .exec_params1("INSERT INTO calendars (account_id, uri, kind, transparent) VALUES ($1, $2, $3, $4) RETURNING id",
                        account, uri, kind, transparent)[0]
          .as<int64_t>();
    });
    REQUIRE(r.ok());
    return *r;
  }

  // Stores an object with its index columns computed by lib/calendar (as calstore does).
  void Put(int64_t account, int64_t calendar, const std::string& uri, const std::string& text) {
    kite::calendar::IngestError error;
    auto object = kite::calendar::Ingest(text, {}, &error);
    INFO(uri << ": " << error.reason);
    REQUIRE(object.has_value());
    auto s = pool->Transact([&](pqxx::work& tx) {
      tx.exec_params(
          "INSERT INTO calendar_objects (account_id, calendar_id, uri, uid, component, ical, etag, size, first_start, "
          "last_end, is_recurring, transparent) VALUES ($1, $2, $3, $4, $5, $6, md5($6), length($6), "
          "to_timestamp($7::bigint), to_timestamp($8::bigint), $9, $10) "
          "ON CONFLICT (account_id, calendar_id, uri) DO UPDATE SET ical = EXCLUDED.ical, etag = EXCLUDED.etag, "
          "first_start = EXCLUDED.first_start, last_end = EXCLUDED.last_end, is_recurring = EXCLUDED.is_recurring, "
          "transparent = EXCLUDED.transparent",
          account, calendar, uri, object->uid, object->component, text,
          object->first_start ? std::optional<int64_t>(*object->first_start) : std::nullopt,
          object->last_end ? std::optional<int64_t>(*object->last_end) : std::nullopt, object->recurring,
          object->transparent);
    });
    REQUIRE(s.ok());
  }

  void Exec(const std::string& sql) { REQUIRE(pool->Transact([&](pqxx::work& tx) { tx.exec(sql); }).ok()); }

  v1::AvailabilityResponse Availability(int64_t viewer, std::vector<std::string> targets, const char* start,
                                        const char* end, grpc::StatusCode want = grpc::StatusCode::OK) {
    v1::AvailabilityRequest req;
    req.set_viewer_account_id(viewer);
    for (auto& t : targets) req.add_targets(t);
    req.mutable_start()->set_seconds(T(start));
    req.mutable_end()->set_seconds(T(end));
    v1::AvailabilityResponse resp;
    grpc::Status st = svc->Availability(nullptr, &req, &resp);
    INFO(st.error_message());
    REQUIRE(st.error_code() == want);
    return resp;
  }

  double Cached(const char* result) {
    for (const auto& family : registry.Collect()) {
      if (family.name != "kite_freebusy_cache_total") continue;
      for (const auto& m : family.metric) {
        if (m.label.size() == 1 && m.label[0].value == result) return m.counter.value;
      }
    }
    return 0;
  }

  // Bob's events for 5..26 January 2026 (5 January is a Monday).
  void BobsWeeks() {
    // Weekly Monday 10:00-11:00 UTC; 12 January excluded; 19 January moved to Tuesday 14:00.
    Put(bob, bob_cal, "weekly.ics",
        Event("weekly", Vevent("weekly", "DTSTART:20260105T100000Z\nDTEND:20260105T110000Z\nRRULE:FREQ=WEEKLY;COUNT=10\n"
                                         "EXDATE:20260112T100000Z\n") +
                            Vevent("weekly", "RECURRENCE-ID:20260119T100000Z\nDTSTART:20260120T140000Z\n"
                                             "DTEND:20260120T150000Z\n")));
    // Overlaps the first Monday: merged into 10:00-12:00.
    Put(bob, bob_cal, "overlap.ics", Event("overlap", Vevent("overlap", "DTSTART:20260105T103000Z\nDTEND:20260105T120000Z\n")));
    Put(bob, bob_cal, "transparent.ics",
        Event("transparent", Vevent("transparent", "DTSTART:20260106T090000Z\nDTEND:20260106T100000Z\nTRANSP:TRANSPARENT\n")));
    Put(bob, bob_cal, "cancelled.ics",
        Event("cancelled", Vevent("cancelled", "DTSTART:20260107T090000Z\nDTEND:20260107T100000Z\nSTATUS:CANCELLED\n")));
    Put(bob, bob_cal, "tentative.ics",
        Event("tentative", Vevent("tentative", "DTSTART:20260108T090000Z\nDTEND:20260108T100000Z\nSTATUS:TENTATIVE\n")));
    // Daily 08:00-08:30 Berlin time (07:00 UTC in winter), three days.
    Put(bob, bob_cal, "berlin.ics",
        Event("berlin", Vevent("berlin", "DTSTART;TZID=Europe/Berlin:20260113T080000\nDTEND;TZID=Europe/Berlin:20260113T083000\n"
                                         "RRULE:FREQ=DAILY;COUNT=3\n")));
    // Recurring and transparent, with one opaque override: only the override is busy.
    Put(bob, bob_cal, "mostly-free.ics",
        Event("mostly-free",
              Vevent("mostly-free", "DTSTART:20260121T160000Z\nDTEND:20260121T170000Z\nRRULE:FREQ=DAILY;COUNT=3\n"
                                    "TRANSP:TRANSPARENT\n") +
                  Vevent("mostly-free", "RECURRENCE-ID:20260122T160000Z\nDTSTART:20260122T160000Z\n"
                                        "DTEND:20260122T170000Z\nTRANSP:OPAQUE\n")));
    int64_t holidays = AddCalendar(bob, "holidays", "calendar", /*transparent=*/true);
    Put(bob, holidays, "holiday.ics", Event("holiday", Vevent("holiday", "DTSTART:20260109T090000Z\nDTEND:20260109T100000Z\n")));
    int64_t inbox = AddCalendar(bob, "inbox", "inbox");
    Put(bob, inbox, "invite.ics", Event("invite", Vevent("invite", "DTSTART:20260109T120000Z\nDTEND:20260109T130000Z\n")));
    // Outside the range asked for.
    Put(bob, bob_cal, "later.ics", Event("later", Vevent("later", "DTSTART:20260301T090000Z\nDTEND:20260301T100000Z\n")));
  }
};

const std::vector<std::string> kBobsBusy = {
    "20260105T100000Z/20260105T120000Z BUSY",           "20260108T090000Z/20260108T100000Z BUSY-TENTATIVE",
    "20260113T070000Z/20260113T073000Z BUSY",           "20260114T070000Z/20260114T073000Z BUSY",
    "20260115T070000Z/20260115T073000Z BUSY",           "20260120T140000Z/20260120T150000Z BUSY",
    "20260122T160000Z/20260122T170000Z BUSY",
};

}  // namespace

TEST_CASE("the cache encoding round-trips and refuses malformed values", "[freebusy][cache]") {
  std::vector<BusyPeriod> periods = {{100, 200, BusyType::kBusy}, {300, 400, BusyType::kTentative},
                                     {500, 600, BusyType::kUnavailable}};
  std::string text = kite::freebusy::EncodePeriods(periods);
  CHECK(text == "v1 100-200-0 300-400-1 500-600-2");
  auto back = kite::freebusy::DecodePeriods(text);
  REQUIRE(back.has_value());
  REQUIRE(back->size() == 3);
  CHECK((*back)[1].start == 300);
  CHECK((*back)[2].type == BusyType::kUnavailable);
  CHECK(kite::freebusy::DecodePeriods("v1")->empty());
  for (const char* bad : {"", "v2 1-2-0", "v1 1-2", "v1 2-1-0", "v1 1-2-3", "v1 1-2-0 ", "v1 x-2-0",
                          "v1 1-99999999999999999999-0"}) {
    INFO(bad);
    CHECK_FALSE(kite::freebusy::DecodePeriods(bad).has_value());
  }
  CHECK_FALSE(kite::freebusy::DecodePeriods("v1 1-2-0 3-4-0", 1).has_value());
  CHECK(kite::freebusy::GenerationKey(42) == "kite:fb:gen:{42}");
  CHECK(kite::freebusy::AnswerKey(42, "7", 1, 2) == "kite:fb:ans:{42}:7:1:2");
}

TEST_CASE("addresses are canonicalised leniently", "[freebusy][store]") {
  using kite::freebusy::CanonicalAddress;
  CHECK(CanonicalAddress("Bob@Example.TEST") == "bob@example.test");
  CHECK(CanonicalAddress("mailto:bob+work@example.test") == "bob@example.test");
  CHECK(CanonicalAddress(" MAILTO:bob@example.test ") == "bob@example.test");
  CHECK(CanonicalAddress("bob") == "");
  CHECK(CanonicalAddress("@example.test") == "");
  CHECK(CanonicalAddress("bob@") == "");
  CHECK(CanonicalAddress("bo b@example.test") == "");
  CHECK(CanonicalAddress("+x@example.test") == "");
}

TEST_CASE("free slots are found between busy periods on the granularity grid", "[freebusy][findtime]") {
  using kite::freebusy::FindFreeSlots;
  // Busy 1000-1900 and 2000-3000 (overlapping runs), window 0-7200, 30 min, 15 min grid.
  auto slots = FindFreeSlots({{1000, 1900}, {1800, 2000}, {2500, 3000}}, 0, 7200, 1800, 900, 10);
  REQUIRE(slots.size() == 2);
  CHECK(slots[0].start == 3600);  // 0..1800 collides with 1000; next grid point after 3000 is 3600
  CHECK(slots[1].start == 5400);
  // The window's start off-grid; max respected; zero-length periods ignored.
  slots = FindFreeSlots({{100, 100}}, 10, 100000, 900, 900, 3);
  REQUIRE(slots.size() == 3);
  CHECK(slots[0].start == 900);
  CHECK(slots[1].start == 1800);
  // A long period that starts before a short one still blocks.
  slots = FindFreeSlots({{0, 5000}, {100, 200}}, 0, 7200, 900, 900, 5);
  REQUIRE(slots.size() == 2);
  CHECK(slots[0].start == 5400);
  CHECK(FindFreeSlots({}, 0, 800, 900, 900, 5).empty());
}

TEST_CASE("availability expands recurrences with overrides and EXDATE, honours TRANSP, STATUS and "
          "transparent calendars, merges, and leaks nothing",
          "[freebusy][integration]") {
  Env env;
  env.BobsWeeks();
  auto resp = env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20260126T000000Z");
  REQUIRE(resp.results_size() == 1);
  CHECK(resp.results(0).target() == "bob@example.test");
  CHECK(resp.results(0).visible());
  CHECK(Lines(resp.results(0)) == kBobsBusy);
  std::string wire = resp.SerializeAsString() + resp.DebugString();
  CHECK(wire.find(kSecretWords) == std::string::npos);
  CHECK(wire.find("someone@") == std::string::npos);

  SECTION("a range cuts the periods at its edges") {
    auto cut = env.Availability(env.alice, {"bob@example.test"}, "20260105T103000Z", "20260105T110000Z");
    CHECK(Lines(cut.results(0)) == std::vector<std::string>{"20260105T103000Z/20260105T110000Z BUSY"});
  }
  SECTION("an alias and a sub-address reach the same account; mailto: is accepted") {
    auto again = env.Availability(env.alice, {"Robert@example.test", "mailto:bob+x@example.test"}, "20260105T000000Z",
                                  "20260126T000000Z");
    CHECK(again.results(0).target() == "Robert@example.test");
    CHECK(Lines(again.results(0)) == kBobsBusy);
    CHECK(Lines(again.results(1)) == kBobsBusy);
  }
}

TEST_CASE("targets the viewer may not see, unknown ones and lists are not visible, not free",
          "[freebusy][integration]") {
  Env env;
  REQUIRE(kite::directory::CreateList(*env.pool, "team@example.test", kite::directory::PostingPolicy::kAnyone).ok());
  int64_t cal = env.AddCalendar(env.carol, "cal");
  env.Put(env.carol, cal, "e.ics", Event("e", Vevent("e", "DTSTART:20260105T100000Z\nDTEND:20260105T110000Z\n")));
  auto resp = env.Availability(env.alice,
                               {"carol@other.test", "nobody@example.test", "team@example.test", "not an address",
                                "someone@remote.test", "bob@example.test"},
                               "20260105T000000Z", "20260112T000000Z");
  REQUIRE(resp.results_size() == 6);
  for (int i = 0; i < 5; ++i) {
    INFO(resp.results(i).target());
    CHECK_FALSE(resp.results(i).visible());
    CHECK(resp.results(i).busy_size() == 0);
  }
  CHECK(resp.results(5).visible());
  // Carol sees her own.
  auto own = env.Availability(env.carol, {"carol@other.test"}, "20260105T000000Z", "20260112T000000Z");
  CHECK(own.results(0).visible());
  CHECK(own.results(0).busy_size() == 1);
  REQUIRE(kite::directory::SetAccountEnabled(*env.pool, "bob@example.test", false).ok());
  auto disabled = env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20260112T000000Z");
  CHECK_FALSE(disabled.results(0).visible());
}

TEST_CASE("working hours make the rest BUSY-UNAVAILABLE, for people and resources", "[freebusy][integration]") {
  Env env;
  kite::calendar::WorkingHours hours;
  hours.timezone = "UTC";
  for (int d = 0; d < 5; ++d) hours.days[d].emplace_back(9 * 60, 17 * 60);
  REQUIRE(kite::freebusy::SetCalendarSettings(*env.pool, env.bob, hours, "UTC").ok());
  CHECK_FALSE(kite::freebusy::SetCalendarSettings(*env.pool, env.bob, hours, "Mars/Olympus").ok());
  env.Put(env.bob, env.bob_cal, "e.ics", Event("e", Vevent("e", "DTSTART:20260105T100000Z\nDTEND:20260105T110000Z\n")));
  // Monday 5 January 2026, the whole day.
  auto resp = env.Availability(env.alice, {"bob@example.test", "room1@example.test"}, "20260105T000000Z",
                               "20260106T000000Z");
  CHECK(Lines(resp.results(0)) == std::vector<std::string>{"20260105T000000Z/20260105T090000Z BUSY-UNAVAILABLE",
                                                          "20260105T100000Z/20260105T110000Z BUSY",
                                                          "20260105T170000Z/20260106T000000Z BUSY-UNAVAILABLE"});
  // The room: 08:00-18:00 Paris time = 07:00-17:00 UTC in winter.
  CHECK(Lines(resp.results(1)) == std::vector<std::string>{"20260105T000000Z/20260105T070000Z BUSY-UNAVAILABLE",
                                                          "20260105T170000Z/20260106T000000Z BUSY-UNAVAILABLE"});
  // Saturday: unavailable all day.
  auto weekend = env.Availability(env.alice, {"bob@example.test"}, "20260110T000000Z", "20260111T000000Z");
  CHECK(Lines(weekend.results(0)) ==
        std::vector<std::string>{"20260110T000000Z/20260111T000000Z BUSY-UNAVAILABLE"});
  // Cleared: free again (the settings change went through Invalidate, as kitectl does).
  REQUIRE(kite::freebusy::SetCalendarSettings(*env.pool, env.bob, std::nullopt, "UTC").ok());
  REQUIRE(env.cache->Invalidate(env.bob).ok());
  weekend = env.Availability(env.alice, {"bob@example.test"}, "20260110T000000Z", "20260111T000000Z");
  CHECK(weekend.results(0).busy_size() == 0);
}

TEST_CASE("answers are cached until Invalidate or a Redis INCR of the generation", "[freebusy][cache][integration]") {
  Env env;
  env.Put(env.bob, env.bob_cal, "e.ics", Event("e", Vevent("e", "DTSTART:20260105T100000Z\nDTEND:20260105T110000Z\n")));
  auto first = env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20260112T000000Z");
  CHECK(first.results(0).busy_size() == 1);
  CHECK(env.Cached("miss") == 1);
  // A change written without telling the cache: the cached answer is still served.
  env.Put(env.bob, env.bob_cal, "f.ics", Event("f", Vevent("f", "DTSTART:20260106T100000Z\nDTEND:20260106T110000Z\n")));
  auto cached = env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20260112T000000Z");
  CHECK(cached.results(0).busy_size() == 1);
  CHECK(env.Cached("hit") == 1);
  // Invalidate over the service: the next answer is fresh.
  v1::InvalidateRequest inv;
  inv.set_account_id(env.bob);
  v1::InvalidateResponse inv_resp;
  REQUIRE(env.svc->Invalidate(nullptr, &inv, &inv_resp).ok());
  auto fresh = env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20260112T000000Z");
  CHECK(fresh.results(0).busy_size() == 2);
  CHECK(env.Cached("miss") == 2);
  // Another daemon's INCR does the same.
  env.Put(env.bob, env.bob_cal, "g.ics", Event("g", Vevent("g", "DTSTART:20260107T100000Z\nDTEND:20260107T110000Z\n")));
  auto redis = kite::redis::Client::Connect({.port = kite::testing::RedisPort()});
  REQUIRE(redis.ok());
  REQUIRE((*redis)->Command({"INCR", kite::freebusy::GenerationKey(env.bob)}).ok());
  auto after_incr = env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20260112T000000Z");
  CHECK(after_incr.results(0).busy_size() == 3);
  // Another range is another answer; the cached value carries periods only.
  auto key_reply = (*redis)->Command({"GET", kite::freebusy::GenerationKey(env.bob)});
  REQUIRE(key_reply.ok());
  auto answer = (*redis)->Command(
      {"GET", kite::freebusy::AnswerKey(env.bob, key_reply->str, T("20260105T000000Z"), T("20260112T000000Z"))});
  REQUIRE(answer.ok());
  REQUIRE(answer->type == kite::redis::Reply::kString);
  CHECK(answer->str.find(kSecretWords) == std::string::npos);
  auto ttl = (*redis)->Command(
      {"TTL", kite::freebusy::AnswerKey(env.bob, key_reply->str, T("20260105T000000Z"), T("20260112T000000Z"))});
  REQUIRE(ttl.ok());
  CHECK(ttl->integer > 0);
  // Several targets at once (one MGET round trip): all hits; an INCR drops only its account.
  env.Availability(env.alice, {"alice@example.test", "bob@example.test"}, "20260105T000000Z", "20260112T000000Z");
  double hits = env.Cached("hit"), misses = env.Cached("miss");
  auto both = env.Availability(env.alice, {"alice@example.test", "bob@example.test"}, "20260105T000000Z",
                               "20260112T000000Z");
  CHECK(env.Cached("hit") == hits + 2);
  CHECK(both.results(1).busy_size() == 3);
  REQUIRE((*redis)->Command({"INCR", kite::freebusy::GenerationKey(env.bob)}).ok());
  env.Availability(env.alice, {"alice@example.test", "bob@example.test"}, "20260105T000000Z", "20260112T000000Z");
  CHECK(env.Cached("hit") == hits + 3);
  CHECK(env.Cached("miss") == misses + 1);
  key_reply = (*redis)->Command({"GET", kite::freebusy::GenerationKey(env.bob)});
  REQUIRE(key_reply.ok());
  // A lost generation counter starts again at a random value, not at one used before.
  REQUIRE((*redis)->Command({"DEL", kite::freebusy::GenerationKey(env.bob)}).ok());
  env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20260112T000000Z");
  auto regenerated = (*redis)->Command({"GET", kite::freebusy::GenerationKey(env.bob)});
  REQUIRE(regenerated.ok());
  CHECK(regenerated->str != key_reply->str);
}

TEST_CASE("with Redis down every answer is computed, none refused", "[freebusy][cache][integration]") {
  Env env(ClosedPort());
  env.Put(env.bob, env.bob_cal, "e.ics", Event("e", Vevent("e", "DTSTART:20260105T100000Z\nDTEND:20260105T110000Z\n")));
  for (int i = 0; i < 3; ++i) {
    auto resp = env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20260112T000000Z");
    CHECK(resp.results(0).busy_size() == 1);
  }
  CHECK(env.Cached("unavailable") == 3);
  CHECK(env.Cached("hit") == 0);
  v1::InvalidateRequest inv;
  inv.set_account_id(env.bob);
  v1::InvalidateResponse inv_resp;
  CHECK(env.svc->Invalidate(nullptr, &inv, &inv_resp).error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("the bounds: range length, order, target count", "[freebusy][integration]") {
  Env env;
  env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20270110T000000Z",
                   grpc::StatusCode::INVALID_ARGUMENT);
  env.Availability(env.alice, {"bob@example.test"}, "20260105T000000Z", "20260105T000000Z",
                   grpc::StatusCode::INVALID_ARGUMENT);
  env.Availability(env.alice, std::vector<std::string>(101, "bob@example.test"), "20260105T000000Z",
                   "20260106T000000Z", grpc::StatusCode::INVALID_ARGUMENT);
  auto ok = env.Availability(env.alice, std::vector<std::string>(100, "bob@example.test"), "20260105T000000Z",
                             "20270105T000000Z");
  CHECK(ok.results_size() == 100);
}

TEST_CASE("find a time: the first free slots of all visible attendees within working hours",
          "[freebusy][findtime][integration]") {
  Env env;
  env.BobsWeeks();
  kite::calendar::WorkingHours hours;
  for (int d = 0; d < 5; ++d) hours.days[d].emplace_back(9 * 60, 17 * 60);
  REQUIRE(kite::freebusy::SetCalendarSettings(*env.pool, env.alice, hours, "UTC").ok());
  int64_t cal = env.AddCalendar(env.alice, "cal");
  env.Put(env.alice, cal, "a.ics", Event("a", Vevent("a", "DTSTART:20260105T090000Z\nDTEND:20260105T094500Z\n")));

  v1::FindTimeRequest req;
  req.set_viewer_account_id(env.alice);
  req.add_attendees("alice@example.test");
  req.add_attendees("bob@example.test");
  req.add_attendees("carol@other.test");  // not visible: left out and reported
  req.set_duration_seconds(3600);
  req.mutable_window_start()->set_seconds(T("20260105T000000Z"));
  req.mutable_window_end()->set_seconds(T("20260112T000000Z"));
  req.set_max_results(4);
  v1::FindTimeResponse resp;
  REQUIRE(env.svc->FindTime(nullptr, &req, &resp).ok());
  REQUIRE(resp.not_visible_size() == 1);
  CHECK(resp.not_visible(0) == "carol@other.test");
  std::vector<std::string> starts;
  for (const auto& s : resp.slots()) starts.push_back(kite::calendar::FormatUtc(s.start().seconds()));
  // Alice busy 09:00-09:45, Bob 10:00-12:00: the first hour is 12:00, then 13:00, ...
  CHECK(starts == std::vector<std::string>{"20260105T120000Z", "20260105T130000Z", "20260105T140000Z",
                                           "20260105T150000Z"});

  SECTION("ignoring working hours, the night is free") {
    req.set_ignore_working_hours(true);
    resp.Clear();
    REQUIRE(env.svc->FindTime(nullptr, &req, &resp).ok());
    CHECK(kite::calendar::FormatUtc(resp.slots(0).start().seconds()) == "20260105T000000Z");
  }
  SECTION("a tentative event blocks unless tentative_is_free") {
    req.mutable_window_start()->set_seconds(T("20260108T090000Z"));
    req.set_max_results(1);
    resp.Clear();
    REQUIRE(env.svc->FindTime(nullptr, &req, &resp).ok());
    CHECK(kite::calendar::FormatUtc(resp.slots(0).start().seconds()) == "20260108T100000Z");
    req.set_tentative_is_free(true);
    resp.Clear();
    REQUIRE(env.svc->FindTime(nullptr, &req, &resp).ok());
    CHECK(kite::calendar::FormatUtc(resp.slots(0).start().seconds()) == "20260108T090000Z");
  }
  SECTION("bad requests are refused") {
    req.set_duration_seconds(0);
    CHECK(env.svc->FindTime(nullptr, &req, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    req.set_duration_seconds(3600);
    req.set_granularity_seconds(1);
    CHECK(env.svc->FindTime(nullptr, &req, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    req.set_granularity_seconds(0);
    req.set_max_results(1000);
    CHECK(env.svc->FindTime(nullptr, &req, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_CASE("the external free/busy URL shows busy periods only to the token holder, nothing once revoked or wrong",
          "[freebusy][external][integration]") {
  Env env;
  env.BobsWeeks();
  auto token = kite::freebusy::CreateToken(*env.pool, env.bob);
  REQUIRE(token.ok());
  CHECK(token->size() == 43);
  // Only the hash is stored.
  auto stored = env.pool->Transact([&](pqxx::work& tx) {
    return tx.exec1("SELECT encode(token_hash, 'hex') FROM freebusy_tokens")[0].as<std::string>();
  });
  REQUIRE(stored.ok());
  CHECK(stored->find(*token) == std::string::npos);

  v1::ExternalFreeBusyRequest req;
  req.set_token(*token);
  req.mutable_start()->set_seconds(T("20260105T000000Z"));
  req.mutable_end()->set_seconds(T("20260126T000000Z"));
  v1::ExternalFreeBusyResponse resp;
  REQUIRE(env.svc->ExternalFreeBusy(nullptr, &req, &resp).ok());
  const std::string& ics = resp.icalendar();
  CHECK(ics.find("BEGIN:VFREEBUSY") != std::string::npos);
  CHECK(ics.find("20260120T140000Z/20260120T150000Z") != std::string::npos);
  CHECK(ics.find("FBTYPE=BUSY-TENTATIVE") != std::string::npos);
  CHECK(ics.find(kSecretWords) == std::string::npos);
  CHECK(ics.find("SUMMARY") == std::string::npos);
  CHECK(ics.find("LOCATION") == std::string::npos);
  CHECK(ics.find("someone@") == std::string::npos);

  // Without a range: today onwards (whatever today is, it answers).
  v1::ExternalFreeBusyRequest open;
  open.set_token(*token);
  resp.Clear();
  CHECK(env.svc->ExternalFreeBusy(nullptr, &open, &resp).ok());

  for (std::string bad : {std::string("nope"), std::string(""), *token + "x", std::string(200, 'a'),
                          token->substr(0, 42) + "/"}) {
    req.set_token(bad);
    CHECK(env.svc->ExternalFreeBusy(nullptr, &req, &resp).error_code() == grpc::StatusCode::NOT_FOUND);
  }
  // A new token replaces the old; revoking ends it.
  auto second = kite::freebusy::CreateToken(*env.pool, env.bob);
  REQUIRE(second.ok());
  req.set_token(*token);
  CHECK(env.svc->ExternalFreeBusy(nullptr, &req, &resp).error_code() == grpc::StatusCode::NOT_FOUND);
  req.set_token(*second);
  CHECK(env.svc->ExternalFreeBusy(nullptr, &req, &resp).ok());
  REQUIRE(kite::freebusy::RevokeToken(*env.pool, env.bob).value());
  CHECK_FALSE(kite::freebusy::RevokeToken(*env.pool, env.bob).value());
  CHECK(env.svc->ExternalFreeBusy(nullptr, &req, &resp).error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("visibility of many targets in one statement agrees with lib/directory's FreeBusyVisible",
          "[freebusy][integration]") {
  Env env;
  namespace d = kite::directory;
  int64_t dave = d::CreateAccount(*env.pool, "dave@example.test", "Dave", "!", 0).value();
  int64_t erin = d::CreateAccount(*env.pool, "erin@other.test", "Erin", "!", 0).value();
  int64_t frank = d::CreateAccount(*env.pool, "frank@other.test", "Frank", "!", 0).value();
  int64_t gina = d::CreateAccount(*env.pool, "gina@other.test", "Gina", "!", 0).value();
  (void)frank;
  REQUIRE(d::CreateSharedMailbox(*env.pool, "sales@example.test", "Sales").ok());
  REQUIRE(d::CreateList(*env.pool, "inner@other.test", d::PostingPolicy::kAnyone).ok());
  REQUIRE(d::AddAlias(*env.pool, "franky@other.test", "frank@other.test").ok());
  REQUIRE(d::AddListMember(*env.pool, "inner@other.test", "franky@other.test").ok());
  REQUIRE(d::CreateList(*env.pool, "outer@other.test", d::PostingPolicy::kAnyone).ok());
  REQUIRE(d::AddListMember(*env.pool, "outer@other.test", "inner@other.test").ok());
  d::ResourcePolicy restricted;
  restricted.bookers_all = false;
  restricted.bookers = {"erin@other.test", "outer@other.test"};
  restricted.delegate = "gina@other.test";
  restricted.auto_accept = false;
  REQUIRE(d::CreateResource(*env.pool, "boardroom@example.test", "Board room", restricted).ok());
  // Carol reads Bob's mailbox (a delegation grant): she may see his free/busy.
  env.Exec("INSERT INTO account_grants (owner_account_id, grantee_account_id, may_read) VALUES (" +
           std::to_string(env.bob) + ", " + std::to_string(env.carol) + ", true)");
  REQUIRE(d::SetAccountEnabled(*env.pool, "dave@example.test", false).ok());

  const std::vector<std::string> targets = {
      "bob@example.test",  "robert@example.test", "Bob+x@Example.test",  "carol@other.test",
      "alice@example.test", "sales@example.test",  "room1@example.test",  "boardroom@example.test",
      "erin@other.test",    "outer@other.test",    "nobody@example.test", "someone@remote.test",
      "not an address",     "mailto:erin@other.test"};
  for (int64_t viewer : {env.alice, env.bob, env.carol, dave, erin, frank, gina, int64_t{987654321}}) {
    auto visible = kite::freebusy::VisibleTargets(*env.pool, viewer, targets);
    REQUIRE(visible.ok());
    REQUIRE(visible->size() == targets.size());
    for (size_t i = 0; i < targets.size(); ++i) {
      INFO("viewer " << viewer << " target " << targets[i]);
      auto reference = d::FreeBusyVisible(*env.pool, viewer, kite::freebusy::CanonicalAddress(targets[i]));
      bool expected = reference.ok() && *reference;
      CHECK((*visible)[i].has_value() == expected);
      if ((*visible)[i]) CHECK((*visible)[i]->address == kite::freebusy::CanonicalAddress(targets[i]).substr(0, 0) +
                                                           (*visible)[i]->address);
    }
  }
  // A few decisions spelled out (so that the reference itself is what we think).
  auto seen = [&](int64_t viewer, const std::string& target) {
    return kite::freebusy::VisibleTargets(*env.pool, viewer, {target}).value()[0].has_value();
  };
  CHECK(seen(env.alice, "bob@example.test"));
  CHECK_FALSE(seen(erin, "bob@example.test"));
  CHECK(seen(env.carol, "bob@example.test"));        // the grant
  CHECK_FALSE(seen(env.alice, "boardroom@example.test"));
  CHECK(seen(erin, "boardroom@example.test"));       // a permitted booker
  CHECK(seen(frank, "boardroom@example.test"));      // through outer > inner > alias
  CHECK(seen(gina, "boardroom@example.test"));       // the delegate
  CHECK_FALSE(seen(dave, "alice@example.test"));     // a disabled viewer sees nobody
  CHECK(seen(env.alice, "room1@example.test"));
  CHECK(seen(env.carol, "room1@example.test"));      // unrestricted: everyone local
  REQUIRE(d::SetAccountEnabled(*env.pool, "bob@example.test", false).ok());
  CHECK_FALSE(seen(env.alice, "bob@example.test"));  // a disabled target
  auto target = kite::freebusy::VisibleTargets(*env.pool, env.alice, {"room1@example.test"}).value()[0];
  REQUIRE(target.has_value());
  CHECK(target->resource);
  CHECK(target->timezone == "Europe/Paris");
  REQUIRE(target->hours.has_value());
  CHECK(target->hours->days[0] == std::vector<std::pair<int, int>>{{8 * 60, 18 * 60}});
  CHECK(target->hours->days[5].empty());
}

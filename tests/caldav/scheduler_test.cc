// Implicit scheduling (caldav/scheduler.h) in-process against a real PostgreSQL: the CalDAV
// handlers' write transaction is imitated (Ingest, BeforePut/BeforeDelete, calstore write).
// An organiser invites a local user, a room and an external address; the user's inbox and
// calendar get it, the room books itself when free and declines conflicting, too long and
// out-of-hours bookings, the external address gets a spooled iMIP mail; the user's reply
// updates the organiser's copy; a moderated room waits for its delegate; outbox free/busy.
#include "caldav/scheduler.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <mutex>
#include <optional>
#include <string>

#include "absl/strings/str_replace.h"
#include "caldav/itip.h"
#include "caldav/itip_build.h"
#include "fixtures/test_env.h"
#include "lib/calendar/calendar.h"
#include "lib/calstore/calstore.h"
#include "lib/directory/directory.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace {

namespace cal = kite::calendar;
namespace cs = kite::calstore;
using kite::caldav::ScheduleContext;
using kite::caldav::Scheduler;

constexpr int64_t kNow = 1795435200;  // 2026-11-23T12:00:00Z, a Monday

std::string Crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string Unfold(std::string s) { return absl::StrReplaceAll(s, {{"\r\n ", ""}}); }

// An event organised by `organiser` on 2026-12-01 (a Tuesday).
std::string Event(const std::string& uid, const std::string& organiser,
                  const std::string& attendees, const std::string& start = "20261201T090000Z",
                  const std::string& end = "20261201T100000Z", int sequence = 0,
                  const std::string& extra = "") {
  return Crlf("BEGIN:VCALENDAR\nPRODID:-//Test//EN\nVERSION:2.0\nBEGIN:VEVENT\nUID:" + uid +
              "\nDTSTAMP:20261120T090000Z\nDTSTART:" + start + "\nDTEND:" + end +
              "\nSUMMARY:Project sync\nSEQUENCE:" + std::to_string(sequence) +
              "\nORGANIZER;CN=Org:mailto:" + organiser + "\nATTENDEE;PARTSTAT=ACCEPTED:mailto:" +
              organiser + "\n" + attendees + extra + "END:VEVENT\nEND:VCALENDAR\n");
}

std::string Att(const std::string& address,
                const std::string& params = "PARTSTAT=NEEDS-ACTION;RSVP=TRUE") {
  return "ATTENDEE;" + params + ":mailto:" + address + "\n";
}

struct Env {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<Scheduler> sched;
  int64_t olga = 0, demo = 0, room = 0, hall = 0, boss = 0, vip = 0;
  int64_t now = kNow;  // the scheduler's clock

  Env() {
    auto p = kite::store::Pool::Create(
        {.url = kite::testing::FreshDatabase("caldav_sched"), .pool_size = 3});
    REQUIRE(p.ok());
    pool = std::move(*p);
    REQUIRE(kite::store::Migrate(*pool).ok());
    REQUIRE(kite::directory::CreateDomain(*pool, "example.test").ok());
    olga = kite::directory::CreateAccount(*pool, "olga@example.test", "Olga", "!", 0).value();
    demo = kite::directory::CreateAccount(*pool, "demo@example.test", "Demo", "!", 0).value();
    boss = kite::directory::CreateAccount(*pool, "boss@example.test", "Boss", "!", 0).value();
    kite::directory::ResourcePolicy rp;
    rp.capacity = 10;
    rp.max_duration_seconds = 2 * 3600;
    rp.hours = kite::directory::ParseWorkingHours("08:00-18:00", "mon-fri").value();
    rp.timezone = "UTC";
    room = kite::directory::CreateResource(*pool, "room@example.test", "Room 1", rp).value();
    kite::directory::ResourcePolicy mp;
    mp.auto_accept = false;
    mp.delegate = "boss@example.test";
    hall = kite::directory::CreateResource(*pool, "hall@example.test", "Great Hall", mp).value();
    kite::directory::ResourcePolicy vp;
    vp.bookers_all = false;
    vp.bookers = {"boss@example.test"};
    vip = kite::directory::CreateResource(*pool, "vip@example.test", "VIP room", vp).value();
    kite::caldav::SchedulerOptions opt;
    opt.now = [this] { return now; };
    sched = std::make_unique<Scheduler>(*pool, opt);
    Scheduler::TakeEffects();  // leftovers of an earlier test case on this thread
  }

  ScheduleContext Ctx(int64_t account, const std::string& address, int64_t actor = 0,
                      const std::string& actor_address = "") {
    ScheduleContext ctx;
    ctx.owner_account_id = account;
    ctx.owner_address = address;
    ctx.actor_account_id = actor != 0 ? actor : account;
    ctx.actor_address = actor != 0 ? actor_address : address;
    return ctx;
  }

  // The PUT of a CalDAV handler: the stored version as `previous`, the hook, the write.
  std::string Put(ScheduleContext ctx, const std::string& uri, const std::string& text) {
    auto r = pool->Transact([&](pqxx::work& tx) -> absl::StatusOr<std::string> {
      ctx.calendar_id = cs::EnsureCalendarTx(tx, ctx.owner_account_id, "calendar");
      cal::IngestError error;
      std::optional<cal::Object> next = cal::Ingest(text, {}, &error);
      if (!next) return absl::InvalidArgumentError(error.reason);
      std::optional<cal::Object> previous;
      if (auto row = cs::GetObjectTx(tx, ctx.owner_account_id, ctx.calendar_id, uri, true)) {
        previous = cal::Load(row->ical);
      }
      absl::Status st = sched->BeforePut(tx, ctx, previous ? &*previous : nullptr, *next);
      if (!st.ok()) return st;
      std::string stored = cal::Serialize(next->root.get());
      cs::PutObjectTx(tx, ctx.owner_account_id, ctx.calendar_id, uri, *next, stored);
      return stored;
    });
    INFO(r.status().message());
    REQUIRE(r.ok());
    return Unfold(*r);
  }

  void Delete(ScheduleContext ctx, const std::string& uri) {
    auto st = pool->Transact([&](pqxx::work& tx) -> absl::Status {
      ctx.calendar_id = cs::EnsureCalendarTx(tx, ctx.owner_account_id, "calendar");
      auto row = cs::GetObjectTx(tx, ctx.owner_account_id, ctx.calendar_id, uri, true);
      if (!row) return absl::NotFoundError(uri);
      std::optional<cal::Object> previous = cal::Load(row->ical);
      if (!previous) return absl::InternalError("stored object does not load");
      absl::Status s = sched->BeforeDelete(tx, ctx, *previous);
      if (!s.ok()) return s;
      cs::DeleteObjectTx(tx, ctx.owner_account_id, ctx.calendar_id, uri);
      return absl::OkStatus();
    });
    INFO(st.message());
    REQUIRE(st.ok());
  }

  std::string Scalar(const std::string& sql) {
    auto r = pool->Transact([&](pqxx::work& tx) {
      pqxx::result res = tx.exec(sql);
      if (res.empty()) return std::string("NONE");
      return res[0][0].is_null() ? std::string("NULL") : res[0][0].as<std::string>();
    });
    REQUIRE(r.ok());
    return *r;
  }
  int64_t Count(const std::string& sql) { return std::stoll(Scalar(sql)); }

  // The account's object with that UID in calendars of `kind`, unfolded ("NONE" if absent).
  std::string Object(int64_t account, const std::string& uid,
                     const std::string& kind = "calendar") {
    std::string v = Scalar(
        "SELECT o.ical FROM calendar_objects o JOIN calendars c ON c.account_id = o.account_id "
        "AND c.id = o.calendar_id WHERE o.account_id = " +
        std::to_string(account) + " AND o.uid = '" + uid + "' AND c.kind = '" + kind + "'");
    return Unfold(v);
  }
  std::string ObjectUri(int64_t account, const std::string& uid) {
    return Scalar(
        "SELECT o.uri FROM calendar_objects o JOIN calendars c ON c.account_id = o.account_id AND "
        "c.id = "
        "o.calendar_id WHERE o.account_id = " +
        std::to_string(account) + " AND o.uid = '" + uid + "' AND c.kind = 'calendar'");
  }
  std::string SpoolBody(const std::string& recipient) {
    return Scalar(
        "SELECT convert_from(s.body, 'UTF8') FROM spool s JOIN spool_recipients r ON r.spool_id = "
        "s.id "
        "WHERE r.recipient = '" +
        recipient + "' ORDER BY s.id DESC LIMIT 1");
  }
};

bool Has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// The ATTENDEE line of `address` (its parameters can then be checked in any order).
std::string AttendeeLine(const std::string& text, const std::string& address) {
  size_t pos = 0;
  const std::string tail = ":mailto:" + address;
  while (pos < text.size()) {
    size_t end = text.find("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (line.rfind("ATTENDEE", 0) == 0 && line.size() >= tail.size() &&
        line.compare(line.size() - tail.size(), tail.size(), tail) == 0) {
      return line;
    }
    pos = end + 2;
  }
  return "";
}

// `text` without the ATTENDEE line of `address`.
std::string WithoutAttendee(const std::string& text, const std::string& address) {
  std::string line = AttendeeLine(text, address);
  REQUIRE_FALSE(line.empty());
  return absl::StrReplaceAll(text, {{line + "\r\n", ""}});
}

// Sets PARTSTAT=`to` on `address`'s ATTENDEE line.
std::string WithPartstat(const std::string& text, const std::string& address,
                         const std::string& to) {
  auto root = kite::caldav::ParseCalendar(text);
  REQUIRE(root);
  kite::caldav::SetPartstat(root.get(), address, to);
  return kite::caldav::Serialize(root.get());
}

// The text/calendar part of a spooled message, decoded, and its method parameter.
std::pair<std::string, std::string> CalendarPart(const std::string& mime) {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
  GMimeStream* stream = g_mime_stream_mem_new_with_buffer(mime.data(), mime.size());
  GMimeParser* parser = g_mime_parser_new_with_stream(stream);
  GMimeMessage* msg = g_mime_parser_construct_message(parser, nullptr);
  g_object_unref(parser);
  g_object_unref(stream);
  REQUIRE(msg != nullptr);
  std::pair<std::string, std::string> out;
  GMimeObject* body = g_mime_message_get_mime_part(msg);
  if (GMIME_IS_MULTIPART(body)) {
    for (int i = 0; i < g_mime_multipart_get_count(GMIME_MULTIPART(body)); ++i) {
      GMimeObject* part = g_mime_multipart_get_part(GMIME_MULTIPART(body), i);
      GMimeContentType* ct = g_mime_object_get_content_type(part);
      if (std::string(g_mime_content_type_get_media_subtype(ct)) != "calendar") continue;
      const char* method = g_mime_content_type_get_parameter(ct, "method");
      out.second = method != nullptr ? method : "";
      GMimeStream* mem = g_mime_stream_mem_new();
      g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(part)), mem);
      GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
      out.first.assign(reinterpret_cast<const char*>(bytes->data), bytes->len);
      g_object_unref(mem);
    }
  }
  g_object_unref(msg);
  return out;
}

}  // namespace

TEST_CASE("An organiser invites a local user, a room and an external address",
          "[caldav][scheduler]") {
  Env env;
  std::string stored =
      env.Put(env.Ctx(env.olga, "olga@example.test"), "ev1.ics",
              Event("ev1", "olga@example.test",
                    Att("demo@example.test") + Att("room@example.test", "CUTYPE=ROOM") +
                        Att("carol@other.test") + Att("nobody@example.test")));
  // The organiser's copy shows what happened to each attendee.
  CHECK(Has(AttendeeLine(stored, "demo@example.test"), "SCHEDULE-STATUS=1.2"));
  CHECK(Has(AttendeeLine(stored, "room@example.test"), "PARTSTAT=ACCEPTED"));
  CHECK(Has(AttendeeLine(stored, "room@example.test"), "SCHEDULE-STATUS=1.2"));
  CHECK(Has(AttendeeLine(stored, "carol@other.test"), "SCHEDULE-STATUS=1.1"));
  CHECK(Has(AttendeeLine(stored, "nobody@example.test"), "SCHEDULE-STATUS=3.7"));

  // The user: the REQUEST in the inbox, a NEEDS-ACTION copy in the default calendar.
  std::string inbox = env.Object(env.demo, "ev1", "inbox");
  CHECK(Has(inbox, "METHOD:REQUEST"));
  CHECK_FALSE(Has(inbox, "SCHEDULE-STATUS"));
  CHECK(Has(AttendeeLine(inbox, "room@example.test"),
            "PARTSTAT=ACCEPTED"));  // the room decided first
  std::string copy = env.Object(env.demo, "ev1");
  CHECK(Has(AttendeeLine(copy, "demo@example.test"), "PARTSTAT=NEEDS-ACTION"));
  CHECK_FALSE(Has(copy, "METHOD"));

  // The room booked itself.
  CHECK(Has(AttendeeLine(env.Object(env.room, "ev1"), "room@example.test"), "PARTSTAT=ACCEPTED"));

  // The external address: one iMIP mail in the spool, remote, from the organiser.
  CHECK(env.Count("SELECT count(*) FROM spool_recipients WHERE recipient = 'carol@other.test' AND "
                  "kind = 'remote' "
                  "AND state = 'queued'") == 1);
  CHECK(env.Scalar("SELECT s.mail_from || ' ' || s.source FROM spool s JOIN spool_recipients r ON "
                   "r.spool_id = s.id "
                   "WHERE r.recipient = 'carol@other.test'") == "olga@example.test internal");
  auto [ical, method] = CalendarPart(env.SpoolBody("carol@other.test"));
  CHECK(method == "REQUEST");
  auto parsed = kite::caldav::ParseItip(ical, "REQUEST");
  REQUIRE(parsed.ok());
  CHECK(parsed->uid == "ev1");
  // Nothing for the unknown local address.
  CHECK(env.Count(
            "SELECT count(*) FROM spool_recipients WHERE recipient = 'nobody@example.test'") == 0);
  // What the CalDAV server finishes after the commit: caches of the accounts written, the mail to
  // enqueue.
  kite::caldav::ScheduleEffects fx = Scheduler::TakeEffects();
  REQUIRE(fx.spooled.size() == 1);
  CHECK(fx.spooled[0].recipients.at(0).address == "carol@other.test");
  CHECK_FALSE(fx.spooled[0].recipients.at(0).local);
  CHECK(std::count(fx.accounts.begin(), fx.accounts.end(), env.demo) == 1);
  CHECK(std::count(fx.accounts.begin(), fx.accounts.end(), env.room) == 1);
  CHECK(Scheduler::TakeEffects().spooled.empty());

  SECTION("the user accepts: the organiser's copy shows ACCEPTED and the REPLY is in their inbox") {
    std::string uri = env.ObjectUri(env.demo, "ev1");
    std::string accepted = WithPartstat(copy, "demo@example.test", "ACCEPTED");
    env.Put(env.Ctx(env.demo, "demo@example.test"), uri, accepted);
    CHECK(Has(AttendeeLine(env.Object(env.olga, "ev1"), "demo@example.test"), "PARTSTAT=ACCEPTED"));
    std::string reply = env.Object(env.olga, "ev1", "inbox");
    CHECK(Has(reply, "METHOD:REPLY"));
    CHECK(Has(reply, "mailto:demo@example.test"));

    // A second PUT without a PARTSTAT change sends nothing new.
    env.Put(env.Ctx(env.demo, "demo@example.test"), uri, accepted);
    // Deleting the event as attendee declines it.
    env.Delete(env.Ctx(env.demo, "demo@example.test"), uri);
    CHECK(Has(AttendeeLine(env.Object(env.olga, "ev1"), "demo@example.test"), "PARTSTAT=DECLINED"));
  }

  SECTION(
      "an alarm-only change sends nothing; a move sends a new REQUEST and keeps the room if free") {
    int64_t spooled = env.Count("SELECT count(*) FROM spool");
    std::string alarm =
        absl::StrReplaceAll(stored, {{"END:VEVENT",
                                      "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-"
                                      "PT5M\r\nEND:VALARM\r\nEND:VEVENT"}});
    env.Put(env.Ctx(env.olga, "olga@example.test"), "ev1.ics", alarm);
    CHECK(env.Count("SELECT count(*) FROM spool") == spooled);
    std::string moved =
        absl::StrReplaceAll(stored, {{"DTSTART:20261201T090000Z", "DTSTART:20261201T093000Z"},
                                     {"DTEND:20261201T100000Z", "DTEND:20261201T103000Z"},
                                     {"SEQUENCE:0", "SEQUENCE:1"}});
    std::string again = env.Put(env.Ctx(env.olga, "olga@example.test"), "ev1.ics", moved);
    CHECK(env.Count("SELECT count(*) FROM spool") == spooled + 1);
    CHECK(Has(env.Object(env.demo, "ev1"), "DTSTART:20261201T093000Z"));
    CHECK(Has(AttendeeLine(again, "room@example.test"),
              "PARTSTAT=ACCEPTED"));  // its own slot is no conflict
    CHECK(Has(env.Object(env.room, "ev1"), "DTSTART:20261201T093000Z"));
  }

  SECTION("removing the external attendee cancels for them; deleting cancels for everyone") {
    std::string fewer = WithoutAttendee(stored, "carol@other.test");
    env.Put(env.Ctx(env.olga, "olga@example.test"), "ev1.ics", fewer);
    auto [cancel, m] = CalendarPart(env.SpoolBody("carol@other.test"));
    CHECK(m == "CANCEL");
    CHECK(kite::caldav::ParseItip(cancel, "CANCEL").ok());

    env.Delete(env.Ctx(env.olga, "olga@example.test"), "ev1.ics");
    CHECK(Has(env.Object(env.demo, "ev1"), "STATUS:CANCELLED"));
    CHECK(Has(env.Object(env.demo, "ev1", "inbox"), "METHOD:CANCEL"));
    CHECK(env.Object(env.room, "ev1") == "NONE");  // the room is free again
  }
}

TEST_CASE("A room declines conflicting, too long, out-of-hours and too early bookings",
          "[caldav][scheduler]") {
  Env env;
  auto ctx = env.Ctx(env.olga, "olga@example.test");
  env.Put(ctx, "a.ics", Event("a", "olga@example.test", Att("room@example.test", "CUTYPE=ROOM")));
  CHECK(Has(env.Object(env.room, "a"), "ACCEPTED"));

  auto declined = [&](const std::string& uid, const std::string& start, const std::string& end,
                      const std::string& reason) {
    auto demo = env.Ctx(env.demo, "demo@example.test");
    std::string stored = env.Put(
        demo, uid + ".ics",
        Event(uid, "demo@example.test", Att("room@example.test", "CUTYPE=ROOM"), start, end));
    INFO(stored);
    std::string line = AttendeeLine(stored, "room@example.test");
    CHECK(Has(line, "PARTSTAT=DECLINED"));
    CHECK(Has(line, "SCHEDULE-STATUS=1.2"));
    CHECK(Has(line, "X-KITE-BOOKING=" + reason));
    CHECK(env.Object(env.room, uid) == "NONE");
    CHECK(Has(env.Object(env.demo, uid, "inbox"),
              "METHOD:REPLY"));  // the reason, as the room's REPLY
  };
  declined("conflict", "20261201T093000Z", "20261201T103000Z", "already booked at that time");
  declined("long", "20261202T090000Z", "20261202T120000Z", "longer than the maximum of 2 h");
  declined("late", "20261202T190000Z", "20261202T200000Z", "outside the resources working hours");
  declined("weekend", "20261205T090000Z", "20261205T100000Z",
           "outside the resources working hours");
  declined("past", "20261120T090000Z", "20261120T100000Z", "no occurrence in the future");

  // Back to back with the first booking is fine.
  std::string next =
      env.Put(env.Ctx(env.demo, "demo@example.test"), "b.ics",
              Event("b", "demo@example.test", Att("room@example.test", "CUTYPE=ROOM"),
                    "20261201T100000Z", "20261201T110000Z"));
  CHECK(Has(AttendeeLine(next, "room@example.test"), "PARTSTAT=ACCEPTED"));

  // A restricted room: only its bookers (boss) may book it.
  std::string vip = env.Put(
      ctx, "v.ics", Event("v", "olga@example.test", Att("vip@example.test", "CUTYPE=ROOM")));
  CHECK(Has(AttendeeLine(vip, "vip@example.test"), "PARTSTAT=DECLINED"));
  CHECK(Has(AttendeeLine(vip, "vip@example.test"), "SCHEDULE-STATUS=3.8"));
  std::string by_boss =
      env.Put(env.Ctx(env.boss, "boss@example.test"), "v.ics",
              Event("v2", "boss@example.test", Att("vip@example.test", "CUTYPE=ROOM")));
  CHECK(Has(AttendeeLine(by_boss, "vip@example.test"), "PARTSTAT=ACCEPTED"));
}

TEST_CASE("A moderated resource waits for its delegate, who answers for it",
          "[caldav][scheduler]") {
  Env env;
  std::string stored =
      env.Put(env.Ctx(env.olga, "olga@example.test"), "h.ics",
              Event("h", "olga@example.test", Att("hall@example.test", "CUTYPE=ROOM")));
  CHECK(Has(AttendeeLine(stored, "hall@example.test"), "PARTSTAT=NEEDS-ACTION"));
  CHECK(Has(AttendeeLine(stored, "hall@example.test"), "X-KITE-BOOKING=awaiting the delegate"));
  std::string held = env.Object(env.hall, "h");
  CHECK(Has(held, "STATUS:TENTATIVE"));
  CHECK(Has(AttendeeLine(held, "hall@example.test"), "PARTSTAT=TENTATIVE"));
  CHECK(Has(env.Object(env.boss, "h", "inbox"), "METHOD:REQUEST"));
  CHECK(env.Count("SELECT count(*) FROM spool_recipients WHERE recipient = 'boss@example.test' AND "
                  "kind = 'local' "
                  "AND account_id = " +
                  std::to_string(env.boss)) == 1);

  // The delegate accepts in the hall's calendar (the CalDAV server lets delegates write it).
  std::string uri = env.ObjectUri(env.hall, "h");
  std::string accepted = WithPartstat(held, "hall@example.test", "ACCEPTED");
  std::string hall_copy =
      env.Put(env.Ctx(env.hall, "hall@example.test", env.boss, "boss@example.test"), uri, accepted);
  CHECK(Has(hall_copy, "STATUS:CONFIRMED"));
  CHECK_FALSE(Has(hall_copy, "X-KITE-BOOKING"));
  CHECK(Has(AttendeeLine(env.Object(env.olga, "h"), "hall@example.test"), "PARTSTAT=ACCEPTED"));
  CHECK(Has(env.Object(env.olga, "h", "inbox"), "METHOD:REPLY"));
}

TEST_CASE("An outbox VFREEBUSY request answers busy periods only", "[caldav][scheduler]") {
  Env env;
  env.Put(env.Ctx(env.olga, "olga@example.test"), "s.ics",
          Event("s", "olga@example.test", Att("demo@example.test"), "20261201T090000Z",
                "20261201T100000Z", 0, "LOCATION:Secret place\n"));
  std::string request = Crlf(
      "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Test//EN\nMETHOD:REQUEST\nBEGIN:VFREEBUSY\nUID:fb1\n"
      "DTSTAMP:20261123T120000Z\nDTSTART:20261201T000000Z\nDTEND:20261202T000000Z\n"
      "ORGANIZER:mailto:olga@example.test\nATTENDEE:mailto:demo@example.test\nATTENDEE:mailto:room@"
      "example.test\n"
      "ATTENDEE:mailto:carol@other.test\nEND:VFREEBUSY\nEND:VCALENDAR\n");
  cal::IngestOptions opt;
  opt.components = {"VFREEBUSY"};
  opt.allow_method = true;
  cal::IngestError error;
  std::optional<cal::Object> obj = cal::Ingest(request, opt, &error);
  INFO(error.reason);
  REQUIRE(obj);
  auto xml = env.sched->OutboxPost(env.Ctx(env.olga, "olga@example.test"), *obj);
  INFO(xml.status().message());
  REQUIRE(xml.ok());
  std::string x = Unfold(*xml);
  INFO(x);
  CHECK(Has(x,
            "<C:recipient><D:href>mailto:demo@example.test</D:href></"
            "C:recipient><C:request-status>2.0;Success"));
  CHECK(Has(x, "FREEBUSY"));
  CHECK(Has(x, "20261201T090000Z/"));
  CHECK(Has(x, "mailto:carol@other.test</D:href></C:recipient><C:request-status>5.3"));
  CHECK_FALSE(Has(x, "Project sync"));
  CHECK_FALSE(Has(x, "Secret place"));
  // The room is unavailable outside 08:00-18:00.
  CHECK(Has(x, "BUSY-UNAVAILABLE"));

  // Only the owner may ask as ORGANIZER.
  auto other = env.sched->OutboxPost(env.Ctx(env.demo, "demo@example.test"), *obj);
  CHECK(other.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("A local attendee's answer to a remote organiser is an iMIP REPLY",
          "[caldav][scheduler]") {
  Env env;
  auto demo = env.Ctx(env.demo, "demo@example.test");
  // The invitation as kite-delivery's iMIP path leaves it in demo's calendar (the client's PUT).
  std::string invite = Event("x1", "carol@other.test", Att("demo@example.test"));
  std::string stored = env.Put(demo, "x1.ics", invite);
  CHECK(env.Count("SELECT count(*) FROM spool") == 0);  // not the organiser: no REQUEST from here
  env.Put(demo, "x1.ics", WithPartstat(stored, "demo@example.test", "TENTATIVE"));
  CHECK(env.Scalar("SELECT s.mail_from FROM spool s JOIN spool_recipients r ON r.spool_id = s.id "
                   "WHERE r.recipient = 'carol@other.test' AND r.kind = 'remote'") ==
        "demo@example.test");
  auto [reply, method] = CalendarPart(env.SpoolBody("carol@other.test"));
  CHECK(method == "REPLY");
  auto parsed = kite::caldav::ParseItip(reply, "REPLY");
  REQUIRE(parsed.ok());
  CHECK(kite::caldav::RepliesAsSender(*parsed, "demo@example.test"));
  CHECK(Has(Unfold(reply), "PARTSTAT=TENTATIVE"));
  CHECK(Has(env.SpoolBody("carol@other.test"), "Subject: Tentative: Project sync"));
  // An organiser-side change by an attendee (SUMMARY) is not sent anywhere.
  int64_t spooled = env.Count("SELECT count(*) FROM spool");
  std::string edited =
      absl::StrReplaceAll(env.Object(env.demo, "x1"), {{"SUMMARY:Project sync", "SUMMARY:Mine"}});
  env.Put(demo, "x1.ics", edited);
  CHECK(env.Count("SELECT count(*) FROM spool") == spooled);
}

TEST_CASE("An invitation never overwrites another event with the same UID", "[caldav][scheduler]") {
  Env env;
  std::string own = Crlf(
      "BEGIN:VCALENDAR\nPRODID:-//Test//EN\nVERSION:2.0\nBEGIN:VEVENT\nUID:same\n"
      "DTSTAMP:20261120T090000Z\nDTSTART:20261201T090000Z\nDTEND:20261201T100000Z\n"
      "SUMMARY:Private\nEND:VEVENT\nEND:VCALENDAR\n");
  env.Put(env.Ctx(env.demo, "demo@example.test"), "own.ics", own);
  env.Put(env.Ctx(env.demo, "demo@example.test"), "r.ics",
          Event("roomed", "demo@example.test", Att("room@example.test", "CUTYPE=ROOM")));
  std::string stored = env.Put(env.Ctx(env.olga, "olga@example.test"), "same.ics",
                               Event("same", "olga@example.test", Att("demo@example.test")));
  CHECK(Has(AttendeeLine(stored, "demo@example.test"), "SCHEDULE-STATUS=3.8"));
  CHECK(Has(env.Object(env.demo, "same"), "SUMMARY:Private"));
  CHECK(env.Object(env.demo, "same", "inbox") == "NONE");
  // Nor a room's booking made by someone else.
  std::string grab =
      env.Put(env.Ctx(env.olga, "olga@example.test"), "roomed.ics",
              Event("roomed", "olga@example.test", Att("room@example.test", "CUTYPE=ROOM"),
                    "20261203T090000Z", "20261203T100000Z"));
  CHECK(Has(AttendeeLine(grab, "room@example.test"), "PARTSTAT=DECLINED"));
  CHECK(Has(env.Object(env.room, "roomed"), "ORGANIZER;CN=Org:mailto:demo@example.test"));
}

TEST_CASE("A booking under way keeps its room when the organiser changes it",
          "[caldav][scheduler]") {
  Env env;
  auto ctx = env.Ctx(env.olga, "olga@example.test");
  std::string stored = env.Put(
      ctx, "u.ics", Event("u", "olga@example.test", Att("room@example.test", "CUTYPE=ROOM")));
  REQUIRE(Has(AttendeeLine(stored, "room@example.test"), "PARTSTAT=ACCEPTED"));
  env.now = kNow + 8 * 86400 + 9 * 3600 - 12 * 3600 + 1800;  // 2026-12-01T09:30Z, in the meeting
  std::string longer =
      env.Put(ctx, "u.ics",
              absl::StrReplaceAll(stored, {{"DTEND:20261201T100000Z", "DTEND:20261201T103000Z"}}));
  CHECK(Has(AttendeeLine(longer, "room@example.test"), "PARTSTAT=ACCEPTED"));
  CHECK(Has(env.Object(env.room, "u"), "DTEND:20261201T103000Z"));
}

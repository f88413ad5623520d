// kite-caldav's Scheduling.DeliverItip called in-process against a real PostgreSQL: the
// scheduling inbox, exactly once per (spool id, recipient, part), newer-replaces-older per
// UID, REPLY updating the organiser's copy only for the attendee who sent it, CANCEL marking
// the attendee's copy, invalid objects, sync tokens.
#include "caldav/scheduling_service.h"

#include <libical/ical.h>

#include <catch2/catch.hpp>
#include <string>

#include "fixtures/test_env.h"
#include "lib/directory/directory.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace {

namespace sv1 = kite::scheduling::v1;

std::string Crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

struct Env {
  std::unique_ptr<kite::store::Pool> pool;
  prometheus::Registry registry;
  std::unique_ptr<kite::caldav::SchedulingService> svc;
  int64_t olga = 0;  // organiser
  int64_t demo = 0;  // attendee

  Env() {
    auto p = kite::store::Pool::Create({.url = kite::testing::FreshDatabase("itip_caldav"), .pool_size = 2});
    REQUIRE(p.ok());
    pool = std::move(*p);
    REQUIRE(kite::store::Migrate(*pool).ok());
    REQUIRE(kite::directory::CreateDomain(*pool, "example.test").ok());
    olga = kite::directory::CreateAccount(*pool, "olga@example.test", "Olga", "!", 0).value();
    demo = kite::directory::CreateAccount(*pool, "demo@example.test", "Demo", "!", 0).value();
    svc = std::make_unique<kite::caldav::SchedulingService>(*pool, registry);
  }

  sv1::DeliverItipResponse Deliver(int64_t spool, int64_t account, const std::string& recipient,
                                   const std::string& sender, const std::string& method, const std::string& ics,
                                   int part = 0) {
    sv1::DeliverItipRequest req;
    req.set_spool_id(spool);
    req.set_recipient(recipient);
    req.set_recipient_account_id(account);
    req.set_sender(sender);
    req.set_method(method);
    req.set_icalendar(ics);
    req.set_part(part);
    sv1::DeliverItipResponse resp;
    grpc::Status st = svc->DeliverItip(nullptr, &req, &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return resp;
  }

  std::string Scalar(const std::string& sql) {
    auto r = pool->Transact([&](pqxx::work& tx) {
      auto row = tx.exec1(sql);
      return row[0].is_null() ? std::string("NULL") : row[0].as<std::string>();
    });
    REQUIRE(r.ok());
    return *r;
  }
  int64_t Count(const std::string& sql) { return std::stoll(Scalar(sql)); }

  int64_t AddCalendar(int64_t account, const std::string& uri) {
    auto r = pool->Transact([&](pqxx::work& tx) {
      return tx.exec_params1("INSERT INTO calendars (account_id, uri) VALUES ($1, $2) RETURNING id", account, uri)[0]
          .as<int64_t>();
    });
    REQUIRE(r.ok());
    return *r;
  }
  void AddObject(int64_t account, int64_t calendar, const std::string& uri, const std::string& uid,
                 const std::string& ics, const std::string& organizer, int sequence) {
    auto st = pool->Transact([&](pqxx::work& tx) {
      tx.exec_params(
          "INSERT INTO calendar_objects (account_id, calendar_id, uri, uid, component, ical, etag, size, organizer, "
          "sequence) VALUES ($1, $2, $3, $4, 'VEVENT', $5, 'e0', $6, $7, $8)",
          account, calendar, uri, uid, ics, static_cast<int64_t>(ics.size()), organizer, sequence);
    });
    REQUIRE(st.ok());
  }
  std::string ObjectIcal(int64_t account, const std::string& uri) {
    return Scalar("SELECT ical FROM calendar_objects WHERE account_id = " + std::to_string(account) +
                  " AND uri = '" + uri + "'");
  }
};

std::string Request(const std::string& uid, int sequence, const std::string& summary = "Project sync") {
  return Crlf("BEGIN:VCALENDAR\nPRODID:-//Test//EN\nVERSION:2.0\nMETHOD:REQUEST\nBEGIN:VEVENT\nUID:" + uid +
              "\nDTSTAMP:20261120T090000Z\nDTSTART:20261201T090000Z\nDTEND:20261201T100000Z\nSUMMARY:" + summary +
              "\nSEQUENCE:" + std::to_string(sequence) +
              "\nORGANIZER;CN=Olga:mailto:olga@example.test\n"
              "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:demo@example.test\n"
              "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@other.test\nEND:VEVENT\nEND:VCALENDAR\n");
}

// The organiser's copy: a weekly event with one overridden instance.
std::string OrganiserCopy(const std::string& uid) {
  return Crlf("BEGIN:VCALENDAR\nPRODID:-//Test//EN\nVERSION:2.0\nBEGIN:VEVENT\nUID:" + uid +
              "\nDTSTAMP:20261120T090000Z\nDTSTART:20261201T090000Z\nDTEND:20261201T100000Z\nRRULE:FREQ=WEEKLY\n"
              "SUMMARY:Weekly\nSEQUENCE:1\nORGANIZER:mailto:olga@example.test\n"
              "ATTENDEE;PARTSTAT=ACCEPTED:mailto:olga@example.test\n"
              "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:demo@example.test\n"
              "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@other.test\nEND:VEVENT\n"
              "BEGIN:VEVENT\nUID:" + uid +
              "\nDTSTAMP:20261120T090000Z\nRECURRENCE-ID:20261208T090000Z\nDTSTART:20261208T130000Z\n"
              "DTEND:20261208T140000Z\nSUMMARY:Weekly (moved)\nSEQUENCE:1\nORGANIZER:mailto:olga@example.test\n"
              "ATTENDEE;PARTSTAT=ACCEPTED:mailto:olga@example.test\n"
              "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@other.test\nEND:VEVENT\nEND:VCALENDAR\n");
}

std::string Reply(const std::string& uid, const std::string& attendee, const std::string& partstat,
                  const std::string& recurrence_id = "") {
  return Crlf("BEGIN:VCALENDAR\nPRODID:-//Test//EN\nVERSION:2.0\nMETHOD:REPLY\nBEGIN:VEVENT\nUID:" + uid +
              "\nDTSTAMP:20261121T090000Z\n" + (recurrence_id.empty() ? "" : "RECURRENCE-ID:" + recurrence_id + "\n") +
              "SEQUENCE:1\nORGANIZER:mailto:olga@example.test\nATTENDEE;PARTSTAT=" + partstat + ":mailto:" +
              attendee + "\nEND:VEVENT\nEND:VCALENDAR\n");
}

std::string Cancel(const std::string& uid, int sequence, const std::string& recurrence_id = "") {
  return Crlf("BEGIN:VCALENDAR\nPRODID:-//Test//EN\nVERSION:2.0\nMETHOD:CANCEL\nBEGIN:VEVENT\nUID:" + uid +
              "\nDTSTAMP:20261122T090000Z\n" + (recurrence_id.empty() ? "" : "RECURRENCE-ID:" + recurrence_id + "\n") +
              "SEQUENCE:" + std::to_string(sequence) +
              "\nORGANIZER:mailto:olga@example.test\nATTENDEE:mailto:demo@example.test\nSTATUS:CANCELLED\n"
              "END:VEVENT\nEND:VCALENDAR\n");
}

// PARTSTAT of `address` in the component with `recurrence_id` ("" = master) of `ics`.
std::string Partstat(const std::string& ics, const std::string& address, const std::string& recurrence_id = "") {
  icalcomponent* root = icalparser_parse_string(ics.c_str());
  REQUIRE(root != nullptr);
  std::string result = "absent";
  for (icalcomponent* c = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT); c != nullptr;
       c = icalcomponent_get_next_component(root, ICAL_VEVENT_COMPONENT)) {
    icalproperty* rid = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
    std::string key = rid == nullptr ? "" : icaltime_as_ical_string(icalproperty_get_recurrenceid(rid));
    if (key != recurrence_id) continue;
    for (icalproperty* a = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); a != nullptr;
         a = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
      if (std::string(icalproperty_get_attendee(a)) != "mailto:" + address) continue;
      icalparameter* p = icalproperty_get_first_parameter(a, ICAL_PARTSTAT_PARAMETER);
      result = p == nullptr ? "none" : icalparameter_enum_to_string(icalparameter_get_partstat(p));
    }
  }
  icalcomponent_free(root);
  return result;
}

TEST_CASE("A REQUEST lands in the scheduling inbox, created on first use, exactly once", "[caldav][itip]") {
  Env e;
  auto r = e.Deliver(101, e.demo, "demo@example.test", "olga@example.test", "REQUEST", Request("uid-1@test", 0));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_APPLIED);
  std::string d = std::to_string(e.demo);
  CHECK(e.Scalar("SELECT uri || ' ' || kind FROM calendars WHERE account_id = " + d) == "inbox inbox");
  CHECK(e.Count("SELECT count(*) FROM calendar_objects WHERE account_id = " + d + " AND uid = 'uid-1@test'") == 1);
  CHECK(e.Scalar("SELECT organizer || ' ' || sequence || ' ' || component FROM calendar_objects WHERE account_id = " +
                 d) == "olga@example.test 0 VEVENT");
  std::string uri = e.Scalar("SELECT uri FROM calendar_objects WHERE account_id = " + d);
  CHECK(uri.rfind("imip-101-0-", 0) == 0);
  CHECK(e.ObjectIcal(e.demo, uri) == Request("uid-1@test", 0));  // the object as received
  CHECK(e.Scalar("SELECT sync_token FROM calendars WHERE account_id = " + d) == "1");
  CHECK(e.Scalar("SELECT token || ' ' || op || ' ' || uri FROM calendar_changes WHERE account_id = " + d) ==
        "1 created " + uri);

  // The same (spool id, recipient, part) again: nothing changes.
  r = e.Deliver(101, e.demo, "demo@example.test", "olga@example.test", "REQUEST", Request("uid-1@test", 0));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_DUPLICATE);
  CHECK(e.Scalar("SELECT sync_token FROM calendars WHERE account_id = " + d) == "1");
  CHECK(e.Count("SELECT count(*) FROM calendar_objects WHERE account_id = " + d) == 1);
  // The recipient is compared lower case.
  r = e.Deliver(101, e.demo, "Demo@Example.TEST", "olga@example.test", "REQUEST", Request("uid-1@test", 0));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_DUPLICATE);
  // The same message's second iTIP part is its own key.
  r = e.Deliver(101, e.demo, "demo@example.test", "olga@example.test", "REQUEST", Request("uid-2@test", 0), 1);
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_APPLIED);
  CHECK(e.Count("SELECT count(*) FROM calendar_objects WHERE account_id = " + d) == 2);
}

TEST_CASE("A newer message for the same UID replaces the older one in the inbox, an older one is ignored",
          "[caldav][itip]") {
  Env e;
  std::string d = std::to_string(e.demo);
  REQUIRE(e.Deliver(1, e.demo, "demo@example.test", "olga@example.test", "REQUEST", Request("u@test", 1)).outcome() ==
          sv1::ITIP_OUTCOME_APPLIED);
  std::string first = e.Scalar("SELECT uri FROM calendar_objects WHERE account_id = " + d);
  REQUIRE(e.Deliver(2, e.demo, "demo@example.test", "olga@example.test", "REQUEST", Request("u@test", 2, "Moved"))
              .outcome() == sv1::ITIP_OUTCOME_APPLIED);
  CHECK(e.Count("SELECT count(*) FROM calendar_objects WHERE account_id = " + d) == 1);
  std::string second = e.Scalar("SELECT uri FROM calendar_objects WHERE account_id = " + d);
  CHECK(second != first);
  CHECK(e.ObjectIcal(e.demo, second).find("SUMMARY:Moved") != std::string::npos);
  CHECK(e.Scalar("SELECT string_agg(token || ':' || op || ':' || (uri = '" + first +
                 "'), ' ' ORDER BY token) FROM calendar_changes WHERE account_id = " + d) ==
        "1:created:true 2:deleted:true 3:created:false");
  // A late copy of SEQUENCE 1 does not replace SEQUENCE 2.
  auto r = e.Deliver(3, e.demo, "demo@example.test", "olga@example.test", "REQUEST", Request("u@test", 1, "Old"));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_IGNORED);
  CHECK(e.ObjectIcal(e.demo, second).find("SUMMARY:Moved") != std::string::npos);
  CHECK(e.Scalar("SELECT sync_token FROM calendars WHERE account_id = " + d) == "3");
  CHECK(e.Scalar("SELECT outcome FROM itip_received WHERE spool_id = 3") == "ignored");
}

TEST_CASE("Objects that are not valid iTIP are INVALID and recorded once", "[caldav][itip]") {
  Env e;
  std::string d = std::to_string(e.demo);
  auto deliver = [&](int64_t spool, const std::string& method, const std::string& ics) {
    return e.Deliver(spool, e.demo, "demo@example.test", "olga@example.test", method, ics).outcome();
  };
  CHECK(deliver(1, "REQUEST", "hello, not a calendar") == sv1::ITIP_OUTCOME_INVALID);
  CHECK(deliver(2, "CANCEL", Request("u@test", 0)) == sv1::ITIP_OUTCOME_INVALID);  // METHOD differs
  std::string no_uid = Request("u@test", 0);
  no_uid.erase(no_uid.find("UID:u@test\r\n"), 12);
  CHECK(deliver(3, "REQUEST", no_uid) == sv1::ITIP_OUTCOME_INVALID);
  CHECK(deliver(4, "PUBLISH", Request("u@test", 0)) == sv1::ITIP_OUTCOME_INVALID);
  CHECK(deliver(5, "REQUEST", Request("u@test", 0) + std::string("\xC3", 1)) == sv1::ITIP_OUTCOME_INVALID);
  CHECK(deliver(6, "REQUEST", Crlf("BEGIN:VCALENDAR\nMETHOD:REQUEST\nVERSION:2.0\nEND:VCALENDAR\n")) ==
        sv1::ITIP_OUTCOME_INVALID);
  // Stray or crossed END lines (libical would complain on stderr) and trailing garbage.
  CHECK(deliver(8, "REQUEST", "END:VEVENT\r\n" + Request("u@test", 0)) == sv1::ITIP_OUTCOME_INVALID);
  std::string crossed = Request("u@test", 0);
  crossed.replace(crossed.find("END:VEVENT"), 10, "END:VTODO");
  CHECK(deliver(9, "REQUEST", crossed) == sv1::ITIP_OUTCOME_INVALID);
  CHECK(deliver(10, "REQUEST", Request("u@test", 0) + "BEGIN:VCALENDAR\r\n") == sv1::ITIP_OUTCOME_INVALID);
  // A byte order mark is fine.
  CHECK(deliver(11, "REQUEST", "\xEF\xBB\xBF" + Request("bom@test", 0)) == sv1::ITIP_OUTCOME_APPLIED);
  REQUIRE(e.pool->Transact([](pqxx::work& tx) { tx.exec0("DELETE FROM calendar_objects"); }).ok());
  CHECK(deliver(1, "REQUEST", "hello, not a calendar") == sv1::ITIP_OUTCOME_DUPLICATE);
  CHECK(e.Count("SELECT count(*) FROM calendar_objects") == 0);
  CHECK(e.Count("SELECT count(*) FROM itip_received WHERE outcome = 'invalid'") == 9);
  // An account that no longer exists.
  CHECK(e.Deliver(7, 999999, "gone@example.test", "olga@example.test", "REQUEST", Request("u@test", 0)).outcome() ==
        sv1::ITIP_OUTCOME_IGNORED);
  // A request without the required fields is a gRPC error, not an outcome.
  sv1::DeliverItipRequest bad;
  sv1::DeliverItipResponse resp;
  CHECK(e.svc->DeliverItip(nullptr, &bad, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("A REPLY sets the attendee's PARTSTAT in the organiser's copy, only when the attendee sent it",
          "[caldav][itip]") {
  Env e;
  int64_t cal = e.AddCalendar(e.olga, "personal");
  e.AddObject(e.olga, cal, "weekly.ics", "w@test", OrganiserCopy("w@test"), "olga@example.test", 1);
  std::string o = std::to_string(e.olga);

  // Someone else claiming to be demo: ignored, nothing stored anywhere.
  auto r = e.Deliver(10, e.olga, "olga@example.test", "mallory@evil.test", "REPLY",
                     Reply("w@test", "demo@example.test", "ACCEPTED"));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_IGNORED);
  CHECK(Partstat(e.ObjectIcal(e.olga, "weekly.ics"), "demo@example.test") == "NEEDS-ACTION");
  CHECK(e.Count("SELECT count(*) FROM calendars WHERE account_id = " + o + " AND kind = 'inbox'") == 0);
  CHECK(e.Scalar("SELECT sync_token FROM calendars WHERE id = " + std::to_string(cal)) == "0");

  // demo accepts the series.
  r = e.Deliver(11, e.olga, "olga@example.test", "Demo@Example.test", "REPLY",
                Reply("w@test", "demo@example.test", "ACCEPTED"));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_APPLIED);
  INFO(r.detail());
  std::string copy = e.ObjectIcal(e.olga, "weekly.ics");
  CHECK(Partstat(copy, "demo@example.test") == "ACCEPTED");
  CHECK(Partstat(copy, "carol@other.test") == "NEEDS-ACTION");
  CHECK(Partstat(copy, "olga@example.test") == "ACCEPTED");
  CHECK(e.Scalar("SELECT etag <> 'e0' FROM calendar_objects WHERE uri = 'weekly.ics'") == "t");
  CHECK(e.Scalar("SELECT sync_token FROM calendars WHERE id = " + std::to_string(cal)) == "1");
  CHECK(e.Scalar("SELECT op || ' ' || uri FROM calendar_changes WHERE calendar_id = " + std::to_string(cal)) ==
        "modified weekly.ics");
  // The REPLY is in the organiser's inbox too.
  CHECK(e.Count("SELECT count(*) FROM calendar_objects o JOIN calendars c ON c.id = o.calendar_id "
                "WHERE c.kind = 'inbox' AND o.account_id = " + o + " AND o.uid = 'w@test'") == 1);

  // carol declines the moved instance only.
  r = e.Deliver(12, e.olga, "olga@example.test", "carol@other.test", "REPLY",
                Reply("w@test", "carol@other.test", "DECLINED", "20261208T090000Z"));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_APPLIED);
  copy = e.ObjectIcal(e.olga, "weekly.ics");
  CHECK(Partstat(copy, "carol@other.test", "20261208T090000Z") == "DECLINED");
  CHECK(Partstat(copy, "carol@other.test") == "NEEDS-ACTION");
  CHECK(Partstat(copy, "demo@example.test") == "ACCEPTED");

  // A reply from someone who is not invited changes nothing.
  r = e.Deliver(13, e.olga, "olga@example.test", "dave@other.test", "REPLY",
                Reply("w@test", "dave@other.test", "ACCEPTED"));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_IGNORED);
  CHECK(e.ObjectIcal(e.olga, "weekly.ics") == copy);
  // Repeated: duplicate, not applied twice.
  r = e.Deliver(11, e.olga, "olga@example.test", "demo@example.test", "REPLY",
                Reply("w@test", "demo@example.test", "ACCEPTED"));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_DUPLICATE);
  CHECK(e.Scalar("SELECT sync_token FROM calendars WHERE id = " + std::to_string(cal)) == "2");
}

TEST_CASE("A CANCEL from the organiser marks the attendee's copy cancelled, from anyone else it is ignored",
          "[caldav][itip]") {
  Env e;
  int64_t cal = e.AddCalendar(e.demo, "work");
  std::string copy = OrganiserCopy("c@test");
  e.AddObject(e.demo, cal, "c.ics", "c@test", copy, "olga@example.test", 1);

  auto r = e.Deliver(20, e.demo, "demo@example.test", "mallory@evil.test", "CANCEL", Cancel("c@test", 2));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_IGNORED);
  CHECK(e.ObjectIcal(e.demo, "c.ics") == copy);

  // One instance without an override: an EXDATE on the master.
  r = e.Deliver(21, e.demo, "demo@example.test", "olga@example.test", "CANCEL",
                Cancel("c@test", 2, "20261215T090000Z"));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_APPLIED);
  std::string now = e.ObjectIcal(e.demo, "c.ics");
  CHECK(now.find("EXDATE:20261215T090000Z") != std::string::npos);
  CHECK(now.find("STATUS:CANCELLED") == std::string::npos);

  // The whole event.
  r = e.Deliver(22, e.demo, "demo@example.test", "olga@example.test", "CANCEL", Cancel("c@test", 2));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_APPLIED);
  icalcomponent* root = icalparser_parse_string(e.ObjectIcal(e.demo, "c.ics").c_str());
  REQUIRE(root != nullptr);
  icalcomponent* master = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT);
  CHECK(icalcomponent_get_status(master) == ICAL_STATUS_CANCELLED);
  icalcomponent_free(root);
  CHECK(e.Scalar("SELECT sync_token FROM calendars WHERE id = " + std::to_string(cal)) == "2");

  // An old cancellation (SEQUENCE below the copy's) is stale.
  int64_t cal2 = e.AddCalendar(e.demo, "other");
  e.AddObject(e.demo, cal2, "d.ics", "d@test", OrganiserCopy("d@test"), "olga@example.test", 5);
  r = e.Deliver(23, e.demo, "demo@example.test", "olga@example.test", "CANCEL", Cancel("d@test", 1));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_IGNORED);

  // No copy at all: the cancellation waits in the inbox for the client.
  r = e.Deliver(24, e.demo, "demo@example.test", "olga@example.test", "CANCEL", Cancel("unknown@test", 0));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_APPLIED);
  CHECK(e.Count("SELECT count(*) FROM calendar_objects WHERE uid = 'unknown@test'") == 1);
}

TEST_CASE("An inbox uri taken by a regular calendar does not stop the scheduling inbox", "[caldav][itip]") {
  Env e;
  e.AddCalendar(e.demo, "inbox");
  auto r = e.Deliver(30, e.demo, "demo@example.test", "olga@example.test", "REQUEST", Request("x@test", 0));
  CHECK(r.outcome() == sv1::ITIP_OUTCOME_APPLIED);
  CHECK(e.Scalar("SELECT uri FROM calendars WHERE kind = 'inbox' AND account_id = " + std::to_string(e.demo)) ==
        "schedule-inbox");
}

}  // namespace

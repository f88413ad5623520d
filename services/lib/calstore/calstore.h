// Calendars and calendar objects in PostgreSQL (migration 0004 and later): the one place
// that writes calendars, calendar_objects and calendar_changes. Used by kite-caldav (CalDAV
// requests, scheduling), kite-freebusy (reads) and kitectl.
//
// Promises:
// - Every object change (create, modify, delete) bumps its calendar's sync_token and appends
//   one calendar_changes row in the SAME transaction (RFC 6578 sync-collection).
// - ETags are strong: the first 128 bits of SHA-256 of the stored text, hex, unquoted.
// - The indexed columns (first_start, last_end, is_recurring, transparent, organizer,
//   sequence, uid, component) always come from calendar::Ingest of the stored text.
// - Every query names the account first (design.md: distributable by account).
// The *Tx functions run inside the caller's transaction (scheduling writes several
// accounts' calendars and spools iMIP mail atomically); they throw what libpqxx throws.
#ifndef KITE_SERVICES_LIB_CALSTORE_CALSTORE_H_
#define KITE_SERVICES_LIB_CALSTORE_CALSTORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/calendar/calendar.h"
#include "lib/store/pool.h"

namespace kite::calstore {

struct Calendar {
  int64_t account_id = 0;
  int64_t id = 0;
  std::string uri;   // segment under the calendar home
  std::string kind;  // "calendar", "inbox", "outbox"
  std::string display_name;
  std::string description;
  std::string color;  // "" = none
  std::optional<int> sort_order;
  std::string timezone;  // VCALENDAR text with one VTIMEZONE, "" = none
  std::vector<std::string> components;
  bool transparent = false;
  int64_t sync_token = 0;
};

struct ObjectRow {
  int64_t account_id = 0;
  int64_t calendar_id = 0;
  int64_t id = 0;
  std::string uri;
  std::string uid;
  std::string component;
  std::string ical;
  std::string etag;
  int64_t size = 0;
  std::string organizer;
  int sequence = 0;
};

// The strong ETag of a stored text.
std::string Etag(std::string_view ical);

// calendars.sync_token + 1 and the calendar_changes row; returns the new token.
int64_t BumpTx(pqxx::work& tx, int64_t account_id, int64_t calendar_id, std::string_view uri, std::string_view op);

// The account's calendar of that kind ("inbox", "outbox") or, for "calendar", its first
// regular calendar; created (uri "inbox", "outbox", "calendar") when missing. Locks the row.
int64_t EnsureCalendarTx(pqxx::work& tx, int64_t account_id, std::string_view kind);

struct PutResult {
  std::string etag;
  bool created = false;
  int64_t sync_token = 0;
};
// Creates or replaces the object `uri` of the calendar with `text` (already ingested into
// `object`). The caller has checked If-Match / If-None-Match and UID uniqueness.
PutResult PutObjectTx(pqxx::work& tx, int64_t account_id, int64_t calendar_id, std::string_view uri,
                      const calendar::Object& object, std::string_view text);
// Removes the object; false when there was none.
bool DeleteObjectTx(pqxx::work& tx, int64_t account_id, int64_t calendar_id, std::string_view uri);

// The object `uri` of a calendar, optionally locked FOR UPDATE.
std::optional<ObjectRow> GetObjectTx(pqxx::work& tx, int64_t account_id, int64_t calendar_id, std::string_view uri,
                                     bool lock = false);
// The account's copies of an event by UID in calendars of `kind` ("calendar" or "inbox"),
// locked FOR UPDATE.
std::vector<ObjectRow> FindByUidTx(pqxx::work& tx, int64_t account_id, std::string_view uid,
                                   std::string_view kind = "calendar");

// Objects of the account's regular, non-transparent calendars whose indexed range overlaps
// [start, end) (free/busy; the caller expands). Transparent objects are included (the
// caller decides per instance) only when include_transparent.
std::vector<ObjectRow> ObjectsInRangeTx(pqxx::work& tx, int64_t account_id, int64_t start, int64_t end,
                                        bool include_transparent = false);

}  // namespace kite::calstore

#endif  // KITE_SERVICES_LIB_CALSTORE_CALSTORE_H_

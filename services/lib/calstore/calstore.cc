#include "lib/calstore/calstore.h"

#include <openssl/sha.h>

#include <string>

#include "lib/base/hex.h"

namespace kite::calstore {

namespace {

ObjectRow RowOf(const pqxx::row& r) {
  ObjectRow o;
  o.account_id = r[0].as<int64_t>();
  o.calendar_id = r[1].as<int64_t>();
  o.id = r[2].as<int64_t>();
  o.uri = r[3].as<std::string>();
  o.uid = r[4].as<std::string>();
  o.component = r[5].as<std::string>();
  o.ical = r[6].as<std::string>();
  o.etag = r[7].as<std::string>();
  o.size = r[8].as<int64_t>();
  o.organizer = r[9].is_null() ? std::string() : r[9].as<std::string>();
  o.sequence = r[10].as<int>();
  return o;
}

constexpr const char* kColumns =
    "o.account_id, o.calendar_id, o.id, o.uri, o.uid, o.component, o.ical, o.etag, o.size, o.organizer, o.sequence";

}  // namespace

std::string Etag(std::string_view ical) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(ical.data()), ical.size(), digest);
  return Hex(digest, 16);
}

int64_t BumpTx(pqxx::work& tx, int64_t account_id, int64_t calendar_id, std::string_view uri, std::string_view op) {
  int64_t token = tx.exec_params1(
                        "UPDATE calendars SET sync_token = sync_token + 1 WHERE account_id = $1 AND id = $2 "
                        "RETURNING sync_token",
                        account_id, calendar_id)[0]
                      .as<int64_t>();
  tx.exec_params("INSERT INTO calendar_changes (account_id, calendar_id, token, uri, op) VALUES ($1, $2, $3, $4, $5)",
                 account_id, calendar_id, token, std::string(uri), std::string(op));
  return token;
}

int64_t EnsureCalendarTx(pqxx::work& tx, int64_t account_id, std::string_view kind) {
  const std::string k(kind);
  const char* select =
      k == "calendar"
          ? "SELECT id FROM calendars WHERE account_id = $1 AND kind = $2 ORDER BY id LIMIT 1 FOR UPDATE"
          : "SELECT id FROM calendars WHERE account_id = $1 AND kind = $2 FOR UPDATE";
  pqxx::result r = tx.exec_params(select, account_id, k);
  if (!r.empty()) return r[0][0].as<int64_t>();
  std::string display = k == "inbox" ? "Scheduling inbox" : k == "outbox" ? "Scheduling outbox" : "Calendar";
  std::string components = k == "calendar" ? "{VEVENT,VTODO}" : "{VEVENT,VTODO,VJOURNAL,VFREEBUSY}";
  // The plain uri may be taken by a calendar of another kind: then a numbered one.
  for (int i = 0; i < 100; ++i) {
    // "inbox", "schedule-inbox", "inbox-2", ... (kite-caldav's scheduling service has
    // always used the first two).
    std::string uri = i == 0 ? k : i == 1 && k != "calendar" ? "schedule-" + k : k + "-" + std::to_string(i);
    pqxx::result ins = tx.exec_params(
        "INSERT INTO calendars (account_id, uri, kind, display_name, components) VALUES ($1, $2, $3, $4, $5::text[]) "
        "ON CONFLICT DO NOTHING RETURNING id",
        account_id, uri, k, display, components);
    if (!ins.empty()) return ins[0][0].as<int64_t>();
    // Another transaction may have created the same kind meanwhile.
    r = tx.exec_params(select, account_id, k);
    if (!r.empty()) return r[0][0].as<int64_t>();
  }
  throw std::runtime_error("no free calendar uri for " + k);
}

PutResult PutObjectTx(pqxx::work& tx, int64_t account_id, int64_t calendar_id, std::string_view uri,
                      const calendar::Object& object, std::string_view text) {
  const std::string u(uri);
  const std::string t(text);
  const std::string etag = Etag(text);
  std::optional<int64_t> first = object.first_start;
  std::optional<int64_t> last = object.last_end;
  pqxx::result r = tx.exec_params(
      "INSERT INTO calendar_objects AS o (account_id, calendar_id, uri, uid, component, ical, etag, size, "
      "  first_start, last_end, is_recurring, transparent, organizer, sequence) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9), to_timestamp($10), $11, $12, NULLIF($13, ''), $14) "
      "ON CONFLICT (account_id, calendar_id, uri) DO UPDATE SET uid = EXCLUDED.uid, component = EXCLUDED.component, "
      "  ical = EXCLUDED.ical, etag = EXCLUDED.etag, size = EXCLUDED.size, first_start = EXCLUDED.first_start, "
      "  last_end = EXCLUDED.last_end, is_recurring = EXCLUDED.is_recurring, transparent = EXCLUDED.transparent, "
      "  organizer = EXCLUDED.organizer, sequence = EXCLUDED.sequence, updated_at = now() "
      "RETURNING (xmax = 0)",
      account_id, calendar_id, u, object.uid, object.component, t, etag, static_cast<int64_t>(text.size()), first, last,
      object.recurring, object.transparent, object.organizer, object.sequence);
  PutResult out;
  out.etag = etag;
  out.created = r[0][0].as<bool>();
  out.sync_token = BumpTx(tx, account_id, calendar_id, uri, out.created ? "created" : "modified");
  return out;
}

bool DeleteObjectTx(pqxx::work& tx, int64_t account_id, int64_t calendar_id, std::string_view uri) {
  pqxx::result r = tx.exec_params(
      "DELETE FROM calendar_objects WHERE account_id = $1 AND calendar_id = $2 AND uri = $3 RETURNING 1", account_id,
      calendar_id, std::string(uri));
  if (r.empty()) return false;
  BumpTx(tx, account_id, calendar_id, uri, "deleted");
  return true;
}

std::optional<ObjectRow> GetObjectTx(pqxx::work& tx, int64_t account_id, int64_t calendar_id, std::string_view uri,
                                     bool lock) {
  pqxx::result r = tx.exec_params(std::string("SELECT ") + kColumns +
                                      " FROM calendar_objects o WHERE o.account_id = $1 AND o.calendar_id = $2 AND "
                                      "o.uri = $3" +
                                      (lock ? " FOR UPDATE" : ""),
                                  account_id, calendar_id, std::string(uri));
  if (r.empty()) return std::nullopt;
  return RowOf(r[0]);
}

std::vector<ObjectRow> FindByUidTx(pqxx::work& tx, int64_t account_id, std::string_view uid, std::string_view kind) {
  pqxx::result r = tx.exec_params(
      std::string("SELECT ") + kColumns +
          " FROM calendar_objects o JOIN calendars c ON c.account_id = o.account_id AND c.id = o.calendar_id "
          "WHERE o.account_id = $1 AND o.uid = $2 AND c.kind = $3 ORDER BY o.calendar_id, o.id FOR UPDATE OF o",
      account_id, std::string(uid), std::string(kind));
  std::vector<ObjectRow> out;
  for (const auto& row : r) out.push_back(RowOf(row));
  return out;
}

std::vector<ObjectRow> ObjectsInRangeTx(pqxx::work& tx, int64_t account_id, int64_t start, int64_t end,
                                        bool include_transparent) {
  pqxx::result r = tx.exec_params(
      std::string("SELECT ") + kColumns +
          " FROM calendar_objects o JOIN calendars c ON c.account_id = o.account_id AND c.id = o.calendar_id "
          "WHERE o.account_id = $1 AND c.kind = 'calendar' AND NOT c.transparent "
          "AND (o.first_start IS NULL OR o.first_start <= to_timestamp($3)) "
          "AND (o.last_end IS NULL OR o.last_end >= to_timestamp($2)) "
          "AND ($4 OR NOT o.transparent) ORDER BY o.calendar_id, o.id",
      account_id, start, end, include_transparent);
  std::vector<ObjectRow> out;
  for (const auto& row : r) out.push_back(RowOf(row));
  return out;
}

}  // namespace kite::calstore

#include "freebusy/store.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "lib/base/strings.h"

namespace kite::freebusy {
namespace {

constexpr const char* kDays[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

int DayIndex(std::string_view name) {
  for (int i = 0; i < 7; ++i) {
    if (name == kDays[i]) return i;
  }
  return -1;
}

int ParseClock(std::string_view t) {  // "HH:MM" -> minutes; "24:00" allowed; -1 when malformed
  if (t.size() != 5 || t[2] != ':') return -1;
  int h = 0, m = 0;
  if (!absl::SimpleAtoi(AV(t.substr(0, 2)), &h) || !absl::SimpleAtoi(AV(t.substr(3, 2)), &m)) return -1;
  if (h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0)) return -1;
  return h * 60 + m;
}

// The account, its time zone and its working hours as (day, from, to) rows; a person's come
// from calendar_settings, a resource's from resources (0002).
constexpr char kTargetSelect[] =
    "SELECT a.id, a.address, rs.account_id IS NOT NULL, "
    "  CASE WHEN rs.account_id IS NOT NULL THEN rs.timezone ELSE COALESCE(cs.timezone, 'UTC') END, "
    "  wh.hours IS NOT NULL AND jsonb_typeof(wh.hours) = 'object', d.day, d.f, d.t "
    "FROM %s "
    "LEFT JOIN resources rs ON rs.account_id = a.id "
    "LEFT JOIN calendar_settings cs ON cs.account_id = a.id "
    "CROSS JOIN LATERAL (SELECT CASE WHEN rs.account_id IS NOT NULL THEN rs.working_hours "
    "  ELSE cs.working_hours END AS hours) wh "
    "LEFT JOIN LATERAL ("
    "  SELECT k.key AS day, e->>0 AS f, e->>1 AS t "
    "  FROM jsonb_each(CASE WHEN jsonb_typeof(wh.hours) = 'object' THEN wh.hours END) k, "
    "       jsonb_array_elements(CASE WHEN jsonb_typeof(k.value) = 'array' THEN k.value ELSE '[]'::jsonb END) e "
    "  WHERE jsonb_typeof(e) = 'array') d ON true "
    "WHERE %s AND a.enabled";

std::optional<Target> TargetFromRows(const pqxx::result& r) {
  if (r.empty()) return std::nullopt;
  Target t;
  t.account_id = r[0][0].as<int64_t>();
  t.address = r[0][1].as<std::string>();
  t.resource = r[0][2].as<bool>();
  t.timezone = r[0][3].as<std::string>();
  if (r[0][4].as<bool>()) {
    calendar::WorkingHours h;
    h.timezone = t.timezone;
    for (const auto& row : r) {
      if (row[5].is_null() || row[6].is_null() || row[7].is_null()) continue;
      int day = DayIndex(row[5].as<std::string>());
      int from = ParseClock(row[6].as<std::string>());
      int to = ParseClock(row[7].as<std::string>());
      if (day < 0 || from < 0 || to <= from) continue;
      h.days[day].emplace_back(from, to);
    }
    t.hours = std::move(h);
  }
  return t;
}

std::string Base64Url(const unsigned char* p, size_t n) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> Sha256(std::string_view s) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

// The IANA name in a calendar's CALDAV:calendar-timezone (its VTIMEZONE's TZID), as
// kite-caldav takes it; `fallback` (the account's zone) when there is none.
std::string FloatingTz(const std::string& vtimezone, const std::string& fallback) {
  size_t p = vtimezone.find("TZID:");
  if (p == std::string::npos) return fallback;
  size_t e = vtimezone.find_first_of("\r\n", p);
  std::string tz = vtimezone.substr(p + 5, e == std::string::npos ? std::string::npos : e - p - 5);
  if (tz.empty() || tz.size() > 64 || tz.find('/') == std::string::npos) return fallback;
  for (char c : tz) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-' && c != '+') {
      return fallback;
    }
  }
  return tz;
}

bool TokenSyntaxOk(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenLength) return false;
  for (char c : token) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<store::Pool*> PoolSource::Get() {
  if (ready_.load(std::memory_order_acquire)) return pool_;
  absl::MutexLock lock(&mu_);
  if (ready_.load(std::memory_order_relaxed)) return pool_;
  auto pool = store::Pool::Create(options_);
  if (!pool.ok()) return pool.status();
  owned_ = std::move(*pool);
  pool_ = owned_.get();
  ready_.store(true, std::memory_order_release);
  return pool_;
}

std::string CanonicalAddress(std::string_view address) {
  std::string a = absl::AsciiStrToLower(absl::StripAsciiWhitespace(AV(address)));
  if (a.rfind("mailto:", 0) == 0) a.erase(0, 7);
  size_t at = a.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == a.size() || a.size() > 320) return "";
  for (char c : a) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return "";
  }
  size_t plus = a.find('+');
  if (plus != std::string::npos && plus < at) a.erase(plus, at - plus);
  if (a[0] == '@') return "";
  return a;
}

absl::StatusOr<std::optional<Target>> ResolveTarget(store::Pool& pool, std::string_view address) {
  std::string canonical = CanonicalAddress(address);
  if (canonical.empty()) return std::optional<Target>();
  static const std::string sql = absl::StrFormat(
      kTargetSelect,
      "address_claims c LEFT JOIN aliases al ON c.kind = 'alias' AND al.id = c.owner_id "
      "JOIN accounts a ON a.id = CASE WHEN c.kind = 'account' THEN c.owner_id ELSE al.target_account_id END",
      "c.address = $1");
  return pool.Transact([&](pqxx::work& tx) { return TargetFromRows(tx.exec_params(sql, canonical)); });
}

absl::StatusOr<std::vector<std::optional<Target>>> VisibleTargets(store::Pool& pool, int64_t viewer_account_id,
                                                                   const std::vector<std::string>& addresses) {
  std::vector<std::optional<Target>> out(addresses.size());
  std::vector<std::string> canonical;
  std::vector<size_t> index;  // canonical[i] answers addresses[index[i]]
  for (size_t i = 0; i < addresses.size(); ++i) {
    std::string c = CanonicalAddress(addresses[i]);
    if (c.empty()) continue;
    canonical.push_back(std::move(c));
    index.push_back(i);
  }
  if (canonical.empty()) return out;
  // lib/directory's FreeBusyVisible, for every target in one statement (tests/freebusy checks
  // that both agree): a disabled viewer sees nobody; everyone sees themselves; a person or
  // shared mailbox is visible in the same domain or with a read grant; a resource to
  // everyone unless restricted, then to its delegate, its permitted bookers and the members
  // of its permitted lists (nested lists and aliases of members followed). Targets must be
  // enabled.
  static const std::string sql =
      "WITH v AS (SELECT id, domain_id, enabled FROM accounts WHERE id = $1), "
      "t AS ("
      "  SELECT q.ord, a.id, a.domain_id, a.address, rs.account_id IS NOT NULL AS is_resource, "
      "    COALESCE(rs.restricted, false) AS restricted, COALESCE(rs.delegate_account_id, 0) AS delegate, "
      "    CASE WHEN rs.account_id IS NOT NULL THEN rs.timezone ELSE COALESCE(cs.timezone, 'UTC') END AS tz, "
      "    CASE WHEN rs.account_id IS NOT NULL THEN rs.working_hours ELSE cs.working_hours END AS hours "
      "  FROM unnest($2::text[]) WITH ORDINALITY AS q(address, ord) "
      "  JOIN address_claims c ON c.address = q.address "
      "  LEFT JOIN aliases al ON c.kind = 'alias' AND al.id = c.owner_id "
      "  JOIN accounts a ON a.id = CASE WHEN c.kind = 'account' THEN c.owner_id ELSE al.target_account_id END "
      "  LEFT JOIN resources rs ON rs.account_id = a.id "
      "  LEFT JOIN calendar_settings cs ON cs.account_id = a.id "
      "  WHERE a.enabled), "
      "visible AS ("
      "  SELECT t.* FROM t, v WHERE v.enabled AND ("
      "    t.id = v.id "
      "    OR (NOT t.is_resource AND (t.domain_id = v.domain_id OR EXISTS ("
      "      SELECT 1 FROM account_grants g WHERE g.owner_account_id = t.id AND g.grantee_account_id = v.id "
      "      AND g.may_read))) "
      "    OR (t.is_resource AND (NOT t.restricted OR t.delegate = v.id "
      "      OR EXISTS (SELECT 1 FROM resource_bookers b WHERE b.resource_account_id = t.id AND b.account_id = v.id) "
      "      OR EXISTS ("
      "        WITH RECURSIVE g(list_id) AS ("
      "          SELECT list_id FROM resource_booker_lists WHERE resource_account_id = t.id "
      "          UNION "
      "          SELECT l.id FROM g JOIN list_members m ON m.list_id = g.list_id JOIN lists l ON l.address = m.address) "
      "        SELECT 1 FROM g JOIN list_members m ON m.list_id = g.list_id "
      "        LEFT JOIN aliases al ON al.address = m.address "
      "        WHERE m.account_id = v.id OR al.target_account_id = v.id))))) "
      "SELECT visible.ord, visible.id, visible.address, visible.is_resource, visible.tz, "
      "  visible.hours IS NOT NULL AND jsonb_typeof(visible.hours) = 'object', d.day, d.f, d.t "
      "FROM visible LEFT JOIN LATERAL ("
      "  SELECT k.key AS day, e->>0 AS f, e->>1 AS t "
      "  FROM jsonb_each(CASE WHEN jsonb_typeof(visible.hours) = 'object' THEN visible.hours END) k, "
      "       jsonb_array_elements(CASE WHEN jsonb_typeof(k.value) = 'array' THEN k.value ELSE '[]'::jsonb END) e "
      "  WHERE jsonb_typeof(e) = 'array') d ON true "
      "ORDER BY visible.ord";
  absl::Status s = pool.Transact([&](pqxx::work& tx) {
    // text[] literal built by libpqxx's array quoting (values are addresses without control
    // characters, checked by CanonicalAddress).
    std::string array = "{";
    for (size_t i = 0; i < canonical.size(); ++i) {
      if (i > 0) array += ",";
      array += "\"";
      for (char c : canonical[i]) {
        if (c == '"' || c == '\\') array += '\\';
        array += c;
      }
      array += "\"";
    }
    array += "}";
    // Prepared once per connection (libpqxx registers it on first use; the same definition
    // again is a no-op): this statement costs far more to plan than to run.
    tx.conn().prepare("kite_freebusy_visible", sql);
    tx.exec0("SET LOCAL plan_cache_mode = force_generic_plan");
    pqxx::result r = tx.exec_prepared("kite_freebusy_visible", viewer_account_id, array);
    size_t i = 0;
    while (i < r.size()) {
      size_t j = i;
      const int64_t ord = r[i][0].as<int64_t>();
      while (j < r.size() && r[j][0].as<int64_t>() == ord) ++j;
      // Rows i..j-1 are one target: the same columns TargetFromRows reads, shifted by one.
      Target t;
      t.account_id = r[i][1].as<int64_t>();
      t.address = r[i][2].as<std::string>();
      t.resource = r[i][3].as<bool>();
      t.timezone = r[i][4].as<std::string>();
      if (r[i][5].as<bool>()) {
        calendar::WorkingHours h;
        h.timezone = t.timezone;
        for (size_t k = i; k < j; ++k) {
          if (r[k][6].is_null() || r[k][7].is_null() || r[k][8].is_null()) continue;
          int day = DayIndex(r[k][6].as<std::string>());
          int from = ParseClock(r[k][7].as<std::string>());
          int to = ParseClock(r[k][8].as<std::string>());
          if (day < 0 || from < 0 || to <= from) continue;
          h.days[day].emplace_back(from, to);
        }
        t.hours = std::move(h);
      }
      if (ord >= 1 && static_cast<size_t>(ord) <= index.size()) out[index[ord - 1]] = std::move(t);
      i = j;
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<Target>> TargetById(store::Pool& pool, int64_t account_id) {
  static const std::string sql = absl::StrFormat(kTargetSelect, "accounts a", "a.id = $1");
  return pool.Transact([&](pqxx::work& tx) { return TargetFromRows(tx.exec_params(sql, account_id)); });
}

absl::StatusOr<std::vector<StoredObject>> BusyObjects(store::Pool& pool, const Target& target, int64_t start,
                                                      int64_t end, size_t limit, bool* truncated) {
  return pool.Transact([&](pqxx::work& tx) {
    // calendar_objects_range (account_id, first_start, last_end) serves the overlap test.
    static const std::string sql =
        "SELECT o.ical, COALESCE(c.timezone, '') FROM calendar_objects o "
        "JOIN calendars c ON c.account_id = o.account_id AND c.id = o.calendar_id "
        "WHERE o.account_id = $1 AND c.kind = 'calendar' AND NOT c.transparent "
        "AND o.component IN ('VEVENT', 'VFREEBUSY') AND (NOT o.transparent OR o.is_recurring) "
        "AND (o.first_start IS NULL OR o.first_start <= to_timestamp($3::bigint)) "
        "AND (o.last_end IS NULL OR o.last_end >= to_timestamp($2::bigint)) "
        "LIMIT $4";
    tx.conn().prepare("kite_freebusy_objects", sql);
    pqxx::result r = tx.exec_prepared("kite_freebusy_objects", target.account_id, start, end,
                                      static_cast<int64_t>(limit) + 1);
    std::vector<StoredObject> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      if (out.size() == limit) break;
      out.push_back({row[0].as<std::string>(), FloatingTz(row[1].as<std::string>(), target.timezone)});
    }
    if (truncated != nullptr) *truncated = r.size() > limit;
    return out;
  });
}

std::string WorkingHoursJson(const calendar::WorkingHours& hours) {
  std::vector<std::string> days;
  for (int d = 0; d < 7; ++d) {
    if (hours.days[d].empty()) continue;
    std::vector<std::string> spans;
    for (const auto& [from, to] : hours.days[d]) {
      spans.push_back(absl::StrFormat("[\"%02d:%02d\", \"%02d:%02d\"]", from / 60, from % 60, to / 60, to % 60));
    }
    days.push_back(absl::StrCat("\"", kDays[d], "\": [", absl::StrJoin(spans, ", "), "]"));
  }
  return absl::StrCat("{", absl::StrJoin(days, ", "), "}");
}

std::string DescribeWorkingHours(const std::optional<calendar::WorkingHours>& hours) {
  if (!hours) return "";
  std::vector<std::string> parts;
  for (int d = 0; d < 7; ++d) {
    for (const auto& [from, to] : hours->days[d]) {
      parts.push_back(absl::StrFormat("%s %02d:%02d-%02d:%02d", kDays[d], from / 60, from % 60, to / 60, to % 60));
    }
  }
  return parts.empty() ? "never" : absl::StrJoin(parts, ", ");
}

absl::Status SetCalendarSettings(store::Pool& pool, int64_t account_id,
                                 const std::optional<calendar::WorkingHours>& hours, std::string_view timezone) {
  std::string tz(timezone.empty() ? "UTC" : timezone);
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    if (tx.exec_params("SELECT 1 FROM pg_timezone_names WHERE name = $1", tz).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown time zone \"", tz, "\" (an IANA name such as Europe/Paris)"));
    }
    tx.exec_params(
        "INSERT INTO calendar_settings (account_id, working_hours, timezone) VALUES ($1, NULLIF($2, '')::jsonb, $3) "
        "ON CONFLICT (account_id) DO UPDATE SET working_hours = EXCLUDED.working_hours, "
        "timezone = EXCLUDED.timezone, updated_at = now()",
        account_id, hours ? WorkingHoursJson(*hours) : std::string(), tz);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> CreateToken(store::Pool& pool, int64_t account_id) {
  unsigned char secret[32];
  if (RAND_bytes(secret, sizeof secret) != 1) return absl::InternalError("no random bytes from OpenSSL");
  std::string token = Base64Url(secret, sizeof secret);
  auto digest = Sha256(token);
  pqxx::binarystring hash(digest.data(), digest.size());
  absl::Status s = pool.Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO freebusy_tokens (account_id, token_hash) VALUES ($1, $2) "
        "ON CONFLICT (account_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now()",
        account_id, hash);
  });
  if (!s.ok()) return s;
  return token;
}

absl::StatusOr<bool> RevokeToken(store::Pool& pool, int64_t account_id) {
  return pool.Transact([&](pqxx::work& tx) {
    return tx.exec_params("DELETE FROM freebusy_tokens WHERE account_id = $1", account_id).affected_rows() > 0;
  });
}

absl::StatusOr<std::optional<int64_t>> AccountForToken(store::Pool& pool, std::string_view token) {
  if (!TokenSyntaxOk(token)) return std::optional<int64_t>();
  auto digest = Sha256(token);
  pqxx::binarystring hash(digest.data(), digest.size());
  return pool.Transact([&](pqxx::work& tx) -> std::optional<int64_t> {
    pqxx::result r = tx.exec_params(
        "SELECT t.account_id, t.token_hash FROM freebusy_tokens t JOIN accounts a ON a.id = t.account_id "
        "WHERE t.token_hash = $1 AND a.enabled",
        hash);
    if (r.empty()) return std::nullopt;
    pqxx::binarystring stored(r[0][1]);
    if (stored.size() != digest.size() || CRYPTO_memcmp(stored.data(), digest.data(), digest.size()) != 0) {
      return std::nullopt;
    }
    return r[0][0].as<int64_t>();
  });
}

}  // namespace kite::freebusy

#include "caldav/scheduling_service.h"

#include <openssl/sha.h>

#include <libical/ical.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/rpc/rpc.h"

namespace kite::caldav {

namespace sv1 = kite::scheduling::v1;

namespace {

struct IcalFree {
  void operator()(icalcomponent* c) const {
    if (c != nullptr) icalcomponent_free(c);
  }
};
using Ical = std::unique_ptr<icalcomponent, IcalFree>;

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AV(s)); }

std::string_view Trim(std::string_view s) { return SV(absl::StripAsciiWhitespace(AV(s))); }

// "mailto:Alice@Example.test" -> "alice@example.test"; "" for anything else.
std::string MailtoAddress(const char* uri) {
  if (uri == nullptr) return "";
  std::string_view s = Trim(uri);
  if (s.size() <= 7 || !absl::EqualsIgnoreCase(AV(s.substr(0, 7)), "mailto:")) return "";
  return Lower(Trim(s.substr(7)));
}

// Well-formed UTF-8 without NUL (PostgreSQL text refuses both).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(n) >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

std::string Sha256Hex(std::string_view s, size_t bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return Hex(digest, std::min<size_t>(bytes, SHA256_DIGEST_LENGTH));
}

// Strong ETag of a stored object: the first 128 bits of its SHA-256, hex.
std::string Etag(std::string_view ical) { return Sha256Hex(ical, 16); }

bool IsObjectKind(icalcomponent_kind k) {
  return k == ICAL_VEVENT_COMPONENT || k == ICAL_VTODO_COMPONENT || k == ICAL_VJOURNAL_COMPONENT ||
         k == ICAL_VFREEBUSY_COMPONENT;
}

std::vector<icalcomponent*> Objects(icalcomponent* root) {
  std::vector<icalcomponent*> out;
  for (icalcomponent* c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c != nullptr;
       c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
    if (IsObjectKind(icalcomponent_isa(c))) out.push_back(c);
  }
  return out;
}

// The RECURRENCE-ID as written (value and TZID), "" for a master component.
std::string RecurrenceKey(icalcomponent* c) {
  icalproperty* p = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
  if (p == nullptr) return "";
  char* v = icalproperty_get_value_as_string_r(p);
  std::string key = v != nullptr ? v : "";
  if (v != nullptr) icalmemory_free_buffer(v);
  if (icalparameter* tz = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER)) {
    const char* tzid = icalparameter_get_tzid(tz);
    absl::StrAppend(&key, ";", tzid != nullptr ? tzid : "");
  }
  return key.empty() ? std::string("?") : key;
}

icalcomponent* Master(const std::vector<icalcomponent*>& objects) {
  for (icalcomponent* c : objects) {
    if (icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) == nullptr) return c;
  }
  return objects.empty() ? nullptr : objects.front();
}

std::string Serialize(icalcomponent* c) {
  char* s = icalcomponent_as_ical_string_r(c);
  std::string out = s != nullptr ? s : "";
  if (s != nullptr) icalmemory_free_buffer(s);
  return out;
}

struct Parsed {
  Ical root;
  std::vector<icalcomponent*> objects;
  icalcomponent* master = nullptr;
  std::string uid;
  std::string component;  // VEVENT, VTODO, VJOURNAL, VFREEBUSY
  int sequence = 0;
  std::string organizer;  // lowercase address, "" if none
  bool recurring = false;
  bool transparent = false;
};

void InitLibical() {
  static std::once_flag once;
  // Bad input must be an error value, never an abort inside libical.
  std::call_once(once, [] { icalerror_set_errors_are_fatal(0); });
}

// Parses an iTIP object; InvalidArgument with the reason when it cannot be one.
absl::StatusOr<Parsed> ParseItip(const std::string& text, std::string_view method) {
  InitLibical();
  Parsed p;
  p.root.reset(icalparser_parse_string(text.c_str()));
  if (!p.root || icalcomponent_isa(p.root.get()) != ICAL_VCALENDAR_COMPONENT) {
    return absl::InvalidArgumentError("not an iCalendar VCALENDAR object");
  }
  icalproperty_method m = icalcomponent_get_method(p.root.get());
  const char* m_text = m == ICAL_METHOD_NONE ? "" : icalproperty_method_to_string(m);
  if (m_text == nullptr || method != m_text) {
    return absl::InvalidArgumentError(absl::StrCat("METHOD property '", m_text != nullptr ? m_text : "",
                                                   "' is not the request's"));
  }
  p.objects = Objects(p.root.get());
  p.master = Master(p.objects);
  if (p.master == nullptr) return absl::InvalidArgumentError("no VEVENT, VTODO, VJOURNAL or VFREEBUSY");
  const char* uid = icalcomponent_get_uid(p.master);
  p.uid = uid != nullptr ? std::string(Trim(uid)) : "";
  if (p.uid.empty()) return absl::InvalidArgumentError("no UID");
  if (p.uid.size() > 1024) return absl::InvalidArgumentError("UID too long");
  for (icalcomponent* c : p.objects) {
    const char* u = icalcomponent_get_uid(c);
    if (u == nullptr || Trim(u) != p.uid) return absl::InvalidArgumentError("components with different UIDs");
    if (icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY) != nullptr ||
        icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY) != nullptr) {
      p.recurring = true;
    }
  }
  if (p.objects.size() > 1) p.recurring = true;
  p.component = icalcomponent_kind_to_string(icalcomponent_isa(p.master));
  p.sequence = icalcomponent_get_sequence(p.master);
  if (icalproperty* org = icalcomponent_get_first_property(p.master, ICAL_ORGANIZER_PROPERTY)) {
    p.organizer = MailtoAddress(icalproperty_get_organizer(org));
  }
  if (icalproperty* tr = icalcomponent_get_first_property(p.master, ICAL_TRANSP_PROPERTY)) {
    p.transparent = icalproperty_get_transp(tr) == ICAL_TRANSP_TRANSPARENT;
  }
  return p;
}

struct Result {
  sv1::ItipOutcome outcome = sv1::ITIP_OUTCOME_UNSPECIFIED;
  std::string detail;
};

Result Ignored(std::string detail) { return {sv1::ITIP_OUTCOME_IGNORED, std::move(detail)}; }

// calendars.sync_token + 1 and the calendar_changes row for `uri`.
void BumpTx(pqxx::work& tx, int64_t account, int64_t calendar, const std::string& uri, const char* op) {
  int64_t token = tx.exec_params1("UPDATE calendars SET sync_token = sync_token + 1 WHERE account_id = $1 AND id = $2 "
                                  "RETURNING sync_token",
                                  account, calendar)[0]
                      .as<int64_t>();
  tx.exec_params("INSERT INTO calendar_changes (account_id, calendar_id, token, uri, op) VALUES ($1, $2, $3, $4, $5)",
                 account, calendar, token, uri, op);
}

// The account's scheduling inbox, created when missing, locked for this transaction (every
// write to one account's inbox goes through here, one at a time).
int64_t LockInboxTx(pqxx::work& tx, int64_t account) {
  for (const char* uri : {"inbox", "schedule-inbox", "schedule-inbox-1"}) {
    pqxx::result r = tx.exec_params(
        "SELECT id FROM calendars WHERE account_id = $1 AND kind = 'inbox' FOR UPDATE", account);
    if (!r.empty()) return r[0][0].as<int64_t>();
    // A regular calendar may already use the uri: then the next candidate.
    tx.exec_params(
        "INSERT INTO calendars (account_id, uri, kind, display_name, components) "
        "VALUES ($1, $2, 'inbox', 'Scheduling inbox', '{VEVENT,VTODO,VJOURNAL,VFREEBUSY}') ON CONFLICT DO NOTHING",
        account, std::string(uri));
  }
  return tx.exec_params1("SELECT id FROM calendars WHERE account_id = $1 AND kind = 'inbox' FOR UPDATE", account)[0]
      .as<int64_t>();
}

// One of the recipient's own copies of the event (regular calendars only).
struct Copy {
  int64_t calendar_id = 0;
  int64_t id = 0;
  std::string uri;
  std::string organizer;
  int sequence = 0;
  Ical root;
  bool changed = false;
};

std::vector<Copy> LockCopiesTx(pqxx::work& tx, int64_t account, const std::string& uid) {
  pqxx::result r = tx.exec_params(
      "SELECT o.calendar_id, o.id, o.uri, coalesce(o.organizer, ''), o.sequence, o.ical "
      "FROM calendar_objects o JOIN calendars c ON c.account_id = o.account_id AND c.id = o.calendar_id "
      "WHERE o.account_id = $1 AND o.uid = $2 AND c.kind = 'calendar' ORDER BY o.calendar_id FOR UPDATE OF o",
      account, uid);
  std::vector<Copy> copies;
  for (const auto& row : r) {
    Copy c;
    c.calendar_id = row[0].as<int64_t>();
    c.id = row[1].as<int64_t>();
    c.uri = row[2].as<std::string>();
    c.organizer = row[3].as<std::string>();
    c.sequence = row[4].as<int>();
    c.root.reset(icalparser_parse_string(row[5].c_str()));
    if (!c.root || icalcomponent_isa(c.root.get()) != ICAL_VCALENDAR_COMPONENT) continue;  // not ours to fix
    copies.push_back(std::move(c));
  }
  return copies;
}

// Finds the component of `root` for a recurrence key ("" = master); nullptr if none.
icalcomponent* FindInstance(icalcomponent* root, const std::string& key) {
  for (icalcomponent* c : Objects(root)) {
    if (RecurrenceKey(c) == key) return c;
  }
  return nullptr;
}

icalproperty* FindAttendee(icalcomponent* c, const std::string& address) {
  for (icalproperty* a = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); a != nullptr;
       a = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
    if (MailtoAddress(icalproperty_get_attendee(a)) == address) return a;
  }
  return nullptr;
}

// REPLY: the replying attendee's PARTSTAT into each copy. Returns the number of instances
// updated; `attendee_known` says whether the sender is an attendee of any copy at all.
int ApplyReply(const Parsed& reply, const std::string& sender, std::vector<Copy>& copies, bool* attendee_known,
               std::string* partstats) {
  int updated = 0;
  for (icalcomponent* rc : reply.objects) {
    icalproperty* ra = FindAttendee(rc, sender);
    if (ra == nullptr) continue;
    icalparameter* ps = icalproperty_get_first_parameter(ra, ICAL_PARTSTAT_PARAMETER);
    if (ps == nullptr) continue;
    std::string key = RecurrenceKey(rc);
    for (Copy& copy : copies) {
      icalcomponent* target = FindInstance(copy.root.get(), key);
      if (target == nullptr) {
        if (icalcomponent* master = FindInstance(copy.root.get(), "")) {
          if (FindAttendee(master, sender) != nullptr) *attendee_known = true;
        }
        continue;
      }
      icalproperty* ca = FindAttendee(target, sender);
      if (ca == nullptr) continue;
      *attendee_known = true;
      icalproperty_set_parameter(ca, icalparameter_new_clone(ps));
      copy.changed = true;
      ++updated;
      const char* v = icalparameter_enum_to_string(icalparameter_get_partstat(ps));
      if (v == nullptr) v = "X";
      if (partstats->find(v) == std::string::npos) absl::StrAppend(partstats, partstats->empty() ? "" : ",", v);
    }
  }
  return updated;
}

// CANCEL: STATUS:CANCELLED on the whole copy or on one instance (override, else EXDATE).
int ApplyCancel(const Parsed& cancel, std::vector<Copy>& copies) {
  int updated = 0;
  for (icalcomponent* cc : cancel.objects) {
    std::string key = RecurrenceKey(cc);
    for (Copy& copy : copies) {
      if (icalcomponent* target = FindInstance(copy.root.get(), key)) {
        icalcomponent_set_status(target, ICAL_STATUS_CANCELLED);
      } else if (icalcomponent* master = FindInstance(copy.root.get(), "")) {
        icalproperty* rid = icalcomponent_get_first_property(cc, ICAL_RECURRENCEID_PROPERTY);
        if (rid == nullptr) continue;
        icalproperty* ex = icalproperty_new_exdate(icalproperty_get_recurrenceid(rid));
        if (icalparameter* tz = icalproperty_get_first_parameter(rid, ICAL_TZID_PARAMETER)) {
          icalproperty_add_parameter(ex, icalparameter_new_clone(tz));
        }
        icalcomponent_add_property(master, ex);
      } else {
        continue;
      }
      copy.changed = true;
      ++updated;
    }
  }
  return updated;
}

// Stores the iTIP object in the inbox, replacing an older one with the same UID. False when
// the inbox holds a newer SEQUENCE of it (nothing written).
bool StaleInInboxTx(pqxx::work& tx, int64_t account, int64_t inbox, const Parsed& p) {
  pqxx::result r = tx.exec_params(
      "SELECT sequence FROM calendar_objects WHERE account_id = $1 AND calendar_id = $2 AND uid = $3",
      account, inbox, p.uid);
  return !r.empty() && r[0][0].as<int>() > p.sequence;
}

void StoreInInboxTx(pqxx::work& tx, int64_t account, int64_t inbox, const std::string& uri, const Parsed& p,
                    const std::string& text) {
  pqxx::result old = tx.exec_params(
      "DELETE FROM calendar_objects WHERE account_id = $1 AND calendar_id = $2 AND (uid = $3 OR uri = $4) "
      "RETURNING uri",
      account, inbox, p.uid, uri);
  for (const auto& row : old) BumpTx(tx, account, inbox, row[0].as<std::string>(), "deleted");
  tx.exec_params(
      "INSERT INTO calendar_objects (account_id, calendar_id, uri, uid, component, ical, etag, size, "
      "  is_recurring, transparent, organizer, sequence) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULLIF($11, ''), $12)",
      account, inbox, uri, p.uid, p.component, text, Etag(text), static_cast<int64_t>(text.size()), p.recurring,
      p.transparent, p.organizer, p.sequence);
  BumpTx(tx, account, inbox, uri, "created");
}

void WriteCopiesTx(pqxx::work& tx, int64_t account, std::vector<Copy>& copies) {
  for (Copy& c : copies) {
    if (!c.changed) continue;
    std::string text = Serialize(c.root.get());
    tx.exec_params(
        "UPDATE calendar_objects SET ical = $4, etag = $5, size = $6, updated_at = now() "
        "WHERE account_id = $1 AND calendar_id = $2 AND id = $3",
        account, c.calendar_id, c.id, text, Etag(text), static_cast<int64_t>(text.size()));
    BumpTx(tx, account, c.calendar_id, c.uri, "modified");
  }
}

// The whole call, inside one transaction. `parsed` is the parse result (InvalidArgument for
// an object that is not valid iTIP).
Result ApplyTx(pqxx::work& tx, const sv1::DeliverItipRequest& req, const std::string& recipient,
               const std::string& sender, const absl::StatusOr<Parsed>& parsed) {
  const int64_t account = req.recipient_account_id();
  if (tx.exec_params("SELECT 1 FROM accounts WHERE id = $1", account).empty()) {
    return Ignored("no such account");
  }
  pqxx::result claimed = tx.exec_params(
      "INSERT INTO itip_received (account_id, spool_id, recipient, part, method, uid, outcome) "
      "VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), 'applied') ON CONFLICT DO NOTHING RETURNING 1",
      account, req.spool_id(), recipient, req.part(), req.method(), parsed.ok() ? parsed->uid : std::string());
  if (claimed.empty()) return {sv1::ITIP_OUTCOME_DUPLICATE, "already processed"};

  Result result = [&]() -> Result {
    if (!parsed.ok()) return {sv1::ITIP_OUTCOME_INVALID, std::string(parsed.status().message())};
    const Parsed& p = *parsed;
    const std::string& method = req.method();
    if (method == "REPLY") {
      // RFC 5546 3.2.3: a REPLY names the one attendee who replies; it must be the sender.
      bool sender_replies = false;
      for (icalcomponent* c : p.objects) {
        for (icalproperty* a = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); a != nullptr;
             a = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
          if (MailtoAddress(icalproperty_get_attendee(a)) != sender) return Ignored("ATTENDEE is not the sender");
          sender_replies = true;
        }
      }
      if (!sender_replies || sender.empty()) return Ignored("ATTENDEE is not the sender");
    }
    int64_t inbox = LockInboxTx(tx, account);
    if (StaleInInboxTx(tx, account, inbox, p)) return Ignored("stale SEQUENCE: the inbox holds a newer one");

    std::vector<Copy> copies;
    std::string detail = "stored in the scheduling inbox";
    if (method == "REPLY" || method == "CANCEL") copies = LockCopiesTx(tx, account, p.uid);
    if (method == "REPLY" && !copies.empty()) {
      bool known = false;
      std::string partstats;
      int n = ApplyReply(p, sender, copies, &known, &partstats);
      if (!known) return Ignored("the sender is not an attendee of the organiser's copy");
      absl::StrAppend(&detail, "; PARTSTAT ", partstats.empty() ? "unchanged" : partstats, " in ", n,
                      " instance(s) of the organiser's copy");
    } else if (method == "CANCEL" && !copies.empty()) {
      for (const Copy& c : copies) {
        if (c.organizer.empty() || c.organizer != sender) return Ignored("the sender is not the event's ORGANIZER");
        if (p.sequence < c.sequence) return Ignored("stale SEQUENCE: the copy is newer than the cancellation");
      }
      int n = ApplyCancel(p, copies);
      absl::StrAppend(&detail, "; cancelled ", n, " instance(s) of the recipient's copy");
    } else if (method == "REPLY" || method == "CANCEL") {
      absl::StrAppend(&detail, "; no copy of the event in the recipient's calendars");
    }
    std::string uri = absl::StrCat("imip-", req.spool_id(), "-", req.part(), "-", Sha256Hex(recipient, 4), ".ics");
    StoreInInboxTx(tx, account, inbox, uri, p, req.icalendar());
    WriteCopiesTx(tx, account, copies);
    return {sv1::ITIP_OUTCOME_APPLIED, detail};
  }();

  if (result.outcome != sv1::ITIP_OUTCOME_APPLIED) {
    tx.exec_params(
        "UPDATE itip_received SET outcome = $5 "
        "WHERE account_id = $1 AND spool_id = $2 AND recipient = $3 AND part = $4",
        account, req.spool_id(), recipient, req.part(),
        std::string(result.outcome == sv1::ITIP_OUTCOME_INVALID ? "invalid" : "ignored"));
  }
  return result;
}

const char* OutcomeLabel(sv1::ItipOutcome o) {
  switch (o) {
    case sv1::ITIP_OUTCOME_APPLIED:
      return "applied";
    case sv1::ITIP_OUTCOME_DUPLICATE:
      return "duplicate";
    case sv1::ITIP_OUTCOME_IGNORED:
      return "ignored";
    case sv1::ITIP_OUTCOME_INVALID:
      return "invalid";
    default:
      return "unspecified";
  }
}

bool KnownMethod(const std::string& m) {
  for (const char* x : {"REQUEST", "REPLY", "CANCEL", "ADD", "REFRESH", "COUNTER", "DECLINECOUNTER"}) {
    if (m == x) return true;
  }
  return false;
}

}  // namespace

SchedulingService::SchedulingService(store::Pool& pool, prometheus::Registry& registry)
    : pool_(pool),
      family_(prometheus::BuildCounter()
                  .Name("kite_caldav_itip_total")
                  .Help("iTIP objects handed over by kite-delivery (iMIP), by outcome")
                  .Register(registry)) {
  InitLibical();
  for (const char* o : {"applied", "duplicate", "ignored", "invalid", "error"}) family_.Add({{"outcome", o}});
}

grpc::Status SchedulingService::DeliverItip(grpc::ServerContext*, const sv1::DeliverItipRequest* req,
                                            sv1::DeliverItipResponse* resp) {
  const std::string recipient = Lower(req->recipient());
  const std::string sender = Lower(req->sender());
  if (req->recipient_account_id() <= 0 || req->spool_id() <= 0 || req->part() < 0 || recipient.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "recipient_account_id, spool_id and recipient are required");
  }
  absl::StatusOr<Parsed> parsed = absl::InvalidArgumentError("unknown METHOD");
  if (!KnownMethod(req->method())) {
    // stays invalid
  } else if (req->icalendar().size() > kMaxItipBytes) {
    parsed = absl::InvalidArgumentError("larger than 1 MiB");
  } else if (!ValidUtf8(req->icalendar())) {
    parsed = absl::InvalidArgumentError("not UTF-8");
  } else {
    parsed = ParseItip(req->icalendar(), req->method());
  }
  absl::StatusOr<Result> r =
      pool_.Transact([&](pqxx::work& tx) { return ApplyTx(tx, *req, recipient, sender, parsed); });
  if (!r.ok()) {
    family_.Add({{"outcome", "error"}}).Increment();
    log::Warn("itip.store_error").Kv("spool_id", req->spool_id()).Kv("recipient", recipient)
        .Kv("error", r.status().message());
    return rpc::ToGrpc(r.status());
  }
  family_.Add({{"outcome", OutcomeLabel(r->outcome)}}).Increment();
  log::Info("itip.delivered").Kv("spool_id", req->spool_id()).Kv("recipient", recipient).Kv("part", req->part())
      .Kv("method", req->method()).Kv("sender", sender).Kv("uid", parsed.ok() ? parsed->uid : std::string())
      .Kv("outcome", OutcomeLabel(r->outcome)).Kv("detail", r->detail);
  resp->set_outcome(r->outcome);
  resp->set_detail(r->detail);
  return grpc::Status::OK;
}

}  // namespace kite::caldav

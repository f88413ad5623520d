#include "caldav/scheduling_service.h"

#include <openssl/sha.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "caldav/itip.h"
#include "lib/base/hex.h"
#include "lib/base/strings.h"
#include "lib/calstore/calstore.h"
#include "lib/log/log.h"
#include "lib/rpc/rpc.h"

namespace kite::caldav {

namespace sv1 = kite::scheduling::v1;

namespace {

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AV(s)); }

struct Result {
  sv1::ItipOutcome outcome = sv1::ITIP_OUTCOME_UNSPECIFIED;
  std::string detail;
};

Result Ignored(std::string detail) { return {sv1::ITIP_OUTCOME_IGNORED, std::move(detail)}; }

// The account's scheduling inbox, created when missing (uri "inbox", or "schedule-inbox"
// when a regular calendar has that uri), locked for this transaction: every write to one
// account's inbox goes through here, one at a time.
int64_t LockInboxTx(pqxx::work& tx, int64_t account) { return calstore::EnsureCalendarTx(tx, account, "inbox"); }

void BumpTx(pqxx::work& tx, int64_t account, int64_t calendar, const std::string& uri, const char* op) {
  calstore::BumpTx(tx, account, calendar, uri, op);
}

using calstore::Etag;

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
    c.root = ParseCalendar(row[5].c_str());
    if (!c.root) continue;  // not ours to fix
    copies.push_back(std::move(c));
  }
  return copies;
}

// the inbox holds a newer SEQUENCE of it (nothing written).
bool StaleInInboxTx(pqxx::work& tx, int64_t account, int64_t inbox, const ItipObject& p) {
  pqxx::result r = tx.exec_params(
      "SELECT sequence FROM calendar_objects WHERE account_id = $1 AND calendar_id = $2 AND uid = $3",
      account, inbox, p.uid);
  return !r.empty() && r[0][0].as<int>() > p.sequence;
}

void StoreInInboxTx(pqxx::work& tx, int64_t account, int64_t inbox, const std::string& uri, const ItipObject& p,
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
               const std::string& sender, const absl::StatusOr<ItipObject>& parsed) {
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
    const ItipObject& p = *parsed;
    const std::string& method = req.method();
    if (method == "REPLY" && !RepliesAsSender(p, sender)) return Ignored("ATTENDEE is not the sender");
    int64_t inbox = LockInboxTx(tx, account);
    if (StaleInInboxTx(tx, account, inbox, p)) return Ignored("stale SEQUENCE: the inbox holds a newer one");

    std::vector<Copy> copies;
    std::string detail = "stored in the scheduling inbox";
    if (method == "REPLY" || method == "CANCEL") copies = LockCopiesTx(tx, account, p.uid);
    if (method == "REPLY" && !copies.empty()) {
      bool known = false;
      int n = 0;
      std::string partstats;
      for (Copy& c : copies) {
        ReplyEffect effect = ApplyReply(p, sender, c.root.get());
        known = known || effect.attendee_known;
        n += effect.updated;
        c.changed = effect.updated > 0;
        for (absl::string_view v : absl::StrSplit(effect.partstats, ',', absl::SkipEmpty())) {
          if (partstats.find(SV(v)) == std::string::npos) absl::StrAppend(&partstats, partstats.empty() ? "" : ",", v);
        }
      }
      if (!known) return Ignored("the sender is not an attendee of the organiser's copy");
      absl::StrAppend(&detail, "; PARTSTAT ", partstats.empty() ? "unchanged" : partstats, " in ", n,
                      " instance(s) of the organiser's copy");
    } else if (method == "CANCEL" && !copies.empty()) {
      for (const Copy& c : copies) {
        if (c.organizer.empty() || c.organizer != sender) return Ignored("the sender is not the event's ORGANIZER");
        if (p.sequence < c.sequence) return Ignored("stale SEQUENCE: the copy is newer than the cancellation");
      }
      int n = 0;
      for (Copy& c : copies) {
        int k = ApplyCancel(p, c.root.get());
        c.changed = k > 0;
        n += k;
      }
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

}  // namespace

SchedulingService::SchedulingService(store::Pool& pool, prometheus::Registry& registry)
    : pool_(pool),
      family_(prometheus::BuildCounter()
                  .Name("kite_caldav_itip_total")
                  .Help("iTIP objects handed over by kite-delivery (iMIP), by outcome")
                  .Register(registry)) {
  for (const char* o : {"applied", "duplicate", "ignored", "invalid", "error"}) family_.Add({{"outcome", o}});
}

grpc::Status SchedulingService::DeliverItip(grpc::ServerContext*, const sv1::DeliverItipRequest* req,
                                            sv1::DeliverItipResponse* resp) {
  const std::string recipient = Lower(req->recipient());
  const std::string sender = Lower(req->sender());
  if (req->recipient_account_id() <= 0 || req->spool_id() <= 0 || req->part() < 0 || recipient.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "recipient_account_id, spool_id and recipient are required");
  }
  absl::StatusOr<ItipObject> parsed = ParseItip(req->icalendar(), req->method());
  absl::StatusOr<Result> r =
      pool_.Transact([&](pqxx::work& tx) { return ApplyTx(tx, *req, recipient, sender, parsed); });
  if (!r.ok()) {
    family_.Add({{"outcome", "error"}}).Increment();
    log::Warn("itip.store_error").Kv("spool_id", req->spool_id()).Kv("recipient", recipient)
        .Kv("error", r.status().message());
    return rpc::ToGrpc(r.status());
  }
  family_.Add({{"outcome", OutcomeLabel(r->outcome)}}).Increment();
  if (r->outcome == sv1::ITIP_OUTCOME_APPLIED && on_change_) on_change_(req->recipient_account_id());
  log::Info("itip.delivered").Kv("spool_id", req->spool_id()).Kv("recipient", recipient).Kv("part", req->part())
      .Kv("method", req->method()).Kv("sender", sender).Kv("uid", parsed.ok() ? parsed->uid : std::string())
      .Kv("outcome", OutcomeLabel(r->outcome)).Kv("detail", r->detail);
  resp->set_outcome(r->outcome);
  resp->set_detail(r->detail);
  return grpc::Status::OK;
}

}  // namespace kite::caldav

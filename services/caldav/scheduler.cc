#include "caldav/scheduler.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "caldav/dav_xml.h"
#include "caldav/imip.h"
#include "caldav/itip.h"
#include "caldav/itip_build.h"
#include "caldav/resource_policy.h"
#include "lib/base/hex.h"
#include "lib/base/strings.h"
#include "lib/calstore/calstore.h"
#include "lib/directory/directory.h"
#include "lib/log/log.h"
#include "lib/queue/queue.h"

namespace kite::caldav {
namespace {

constexpr size_t kMaxStoredBytes = 4 << 20;  // a copy the scheduler writes (the PUT was bounded)

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AV(s)); }

// The resource name of a copy the scheduler creates: stable per UID (one copy per UID).
std::string CopyUri(std::string_view uid) {
  return absl::StrCat("sched-", Sha256Hex(uid, 12), ".ics");
}

std::string DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string("localhost")
                                      : std::string(address.substr(at + 1));
}

std::string NewMessageId(std::string_view from) {
  unsigned char r[12];
  if (RAND_bytes(r, sizeof r) != 1) {
    std::string seed = absl::StrCat(absl::ToUnixNanos(absl::Now()), AV(from));
    return absl::StrCat(Sha256Hex(seed, 12), ".itip@", DomainOf(from));
  }
  return absl::StrCat(Hex(r, sizeof r), ".itip@", DomainOf(from));
}

std::string StripTag(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return std::string(address);
  std::string_view local = address.substr(0, at);
  size_t plus = local.find('+');
  if (plus != std::string_view::npos && plus > 0) local = local.substr(0, plus);
  return absl::StrCat(AV(local), AV(address.substr(at)));
}

// ---- effects for after the commit ----------------------------------------------------

thread_local ScheduleEffects effects;

void Touched(int64_t account) {
  if (std::find(effects.accounts.begin(), effects.accounts.end(), account) ==
      effects.accounts.end()) {
    effects.accounts.push_back(account);
  }
}

void Spooled(int64_t id, const std::vector<queue::Recipient>& recipients) {
  effects.spooled.push_back({id, recipients});
}

// ---- who is who -----------------------------------------------------------------------

struct Owner {
  int64_t account_id = 0;
  std::string address;
  std::string display_name;
  bool resource = false;
  std::set<std::string> addresses;  // the account's address and the aliases that reach it
  bool Is(std::string_view a) const {
    return !a.empty() && addresses.count(StripTag(Lower(a))) > 0;
  }
};

Owner OwnerTx(pqxx::work& tx, const ScheduleContext& ctx) {
  Owner o;
  o.account_id = ctx.owner_account_id;
  o.address = Lower(ctx.owner_address);
  if (!o.address.empty()) o.addresses.insert(o.address);
  pqxx::result r = tx.exec_params(
      "SELECT a.address, a.display_name, EXISTS (SELECT 1 FROM resources r WHERE r.account_id = "
      "a.id) "
      "FROM accounts a WHERE a.id = $1",
      ctx.owner_account_id);
  if (!r.empty()) {
    if (o.address.empty()) o.address = r[0][0].as<std::string>();
    o.addresses.insert(r[0][0].as<std::string>());
    o.display_name = r[0][1].as<std::string>();
    o.resource = r[0][2].as<bool>();
  }
  for (const auto& row :
       tx.exec_params("SELECT address FROM aliases WHERE target_account_id = $1", o.account_id)) {
    o.addresses.insert(row[0].as<std::string>());
  }
  return o;
}

enum class Kind { kRemote, kUser, kResource, kInvalid };

struct Principal {
  Kind kind = Kind::kInvalid;
  int64_t account_id = 0;
  std::string address;  // as named in the object
  std::string display_name;
};

// An attendee's address: a local account (through an alias too), a resource, someone
// outside the hosted domains, or nobody we can schedule with.
Principal ResolveTx(pqxx::work& tx, const std::string& address) {
  Principal p;
  p.address = address;
  auto split = directory::SplitAddress(address);
  if (!split.ok() || !SafeMailAddress(address)) return p;
  if (tx.exec_params("SELECT 1 FROM domains WHERE name = $1", split->second).empty()) {
    p.kind = Kind::kRemote;
    return p;
  }
  pqxx::result r = tx.exec_params(
      "SELECT a.id, a.display_name, a.enabled, EXISTS (SELECT 1 FROM resources r WHERE "
      "r.account_id = a.id) "
      "FROM address_claims c "
      "LEFT JOIN aliases al ON c.kind = 'alias' AND al.id = c.owner_id "
      "JOIN accounts a ON a.id = CASE WHEN c.kind = 'account' THEN c.owner_id ELSE "
      "al.target_account_id END "
      "WHERE c.address = $1",
      StripTag(Lower(address)));
  if (r.empty() || !r[0][2].as<bool>()) return p;  // unknown, a list, a forwarding alias, disabled
  p.account_id = r[0][0].as<int64_t>();
  p.display_name = r[0][1].as<std::string>();
  p.kind = r[0][3].as<bool>() ? Kind::kResource : Kind::kUser;
  return p;
}

// ---- storing --------------------------------------------------------------------------

absl::StatusOr<calendar::Object> Reingest(const std::string& text, bool itip) {
  calendar::IngestOptions opt;
  opt.max_bytes = kMaxStoredBytes;
  opt.components = {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"};
  opt.allow_method = itip;
  calendar::IngestError error;
  std::optional<calendar::Object> obj = calendar::Ingest(text, opt, &error);
  if (!obj)
    return absl::InternalError(absl::StrCat("scheduling object does not ingest: ", error.reason));
  return std::move(*obj);
}

// The iTIP message in the account's scheduling inbox; it replaces the one with the same UID.
absl::Status PutInInboxTx(pqxx::work& tx, int64_t account, const std::string& text) {
  absl::StatusOr<calendar::Object> obj = Reingest(text, true);
  if (!obj.ok()) return obj.status();
  int64_t inbox = calstore::EnsureCalendarTx(tx, account, "inbox");
  std::vector<calstore::ObjectRow> old = calstore::FindByUidTx(tx, account, obj->uid, "inbox");
  std::string uri = old.empty() ? CopyUri(obj->uid) : old.front().uri;
  calstore::PutObjectTx(tx, account, inbox, uri, *obj, text);
  Touched(account);
  return absl::OkStatus();
}

// The account's copy of the event (first regular calendar holding the UID), or nullopt.
std::optional<calstore::ObjectRow> CopyTx(pqxx::work& tx, int64_t account, const std::string& uid) {
  std::vector<calstore::ObjectRow> rows = calstore::FindByUidTx(tx, account, uid, "calendar");
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

// Writes `root` as the account's copy (replacing `existing`, else new in the default calendar).
absl::Status PutCopyTx(pqxx::work& tx, int64_t account,
                       const std::optional<calstore::ObjectRow>& existing, icalcomponent* root) {
  std::string text = calendar::Serialize(root);
  absl::StatusOr<calendar::Object> obj = Reingest(text, false);
  if (!obj.ok()) return obj.status();
  if (existing) {
    calstore::PutObjectTx(tx, account, existing->calendar_id, existing->uri, *obj, text);
  } else {
    int64_t cal = calstore::EnsureCalendarTx(tx, account, "calendar");
    calstore::PutObjectTx(tx, account, cal, CopyUri(obj->uid), *obj, text);
  }
  Touched(account);
  return absl::OkStatus();
}

// ---- mail ------------------------------------------------------------------------------

// The first instance's start (calendar::Object::first_start, UTC), for the mail text.
std::string When(icalcomponent* root, std::optional<int64_t> first_start) {
  icalcomponent* m = MasterComponent(root);
  if (m == nullptr || !first_start) return "";
  icaltimetype start = icalcomponent_get_dtstart(m);
  if (!icaltime_is_null_time(start) && start.is_date) {
    return absl::StrFormat("%04d-%02d-%02d (all day)", start.year, start.month, start.day);
  }
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::FromUnixSeconds(*first_start),
                          absl::UTCTimeZone());
}

std::string Location(icalcomponent* root) {
  icalcomponent* m = MasterComponent(root);
  const char* l = m != nullptr ? icalcomponent_get_location(m) : nullptr;
  return l != nullptr ? l : "";
}

struct Mail {
  std::string from, from_name, to, to_name, method, subject, text, ical;
};

// Spools an iMIP message to a remote address; false when the addresses cannot be mailed.
bool SpoolImipTx(pqxx::work& tx, const Mail& m, int64_t now) {
  ImipMail mail;
  mail.from = m.from;
  mail.from_name = m.from_name;
  mail.to = m.to;
  mail.to_name = m.to_name;
  mail.method = m.method;
  mail.subject = m.subject;
  mail.text = m.text;
  mail.ical = m.ical;
  mail.date = now;
  mail.message_id = NewMessageId(m.from);
  absl::StatusOr<std::string> body = ComposeImip(mail);
  if (!body.ok()) return false;
  queue::Envelope env;
  env.mail_from = m.from;
  env.helo = "kite-caldav";
  env.source = "internal";
  queue::Recipient r;
  r.address = m.to;
  r.local = false;
  env.recipients.push_back(r);
  int64_t id = queue::SpoolTx(tx, env, *body);
  Spooled(id, env.recipients);
  log::Info("caldav.imip_spooled")
      .Kv("spool_id", id)
      .Kv("method", m.method)
      .Kv("from", m.from)
      .Kv("to", m.to);
  return true;
}

std::string InvitationText(std::string_view verb, const std::string& organiser, icalcomponent* root,
                           std::optional<int64_t> first_start) {
  std::string text = absl::StrCat(organiser, " ", AV(verb), ":\n\n  ", Summary(root), "\n");
  std::string when = When(root, first_start);
  if (!when.empty()) absl::StrAppend(&text, "\nWhen:  ", when, "\n");
  std::string where = Location(root);
  if (!where.empty()) absl::StrAppend(&text, "Where: ", where, "\n");
  absl::StrAppend(
      &text, "\nYour calendar program shows this message as an invitation and can answer it.\n");
  return text;
}

}  // namespace

// ---- the scheduler ---------------------------------------------------------------------

namespace {

struct Work {
  pqxx::work& tx;
  const ScheduleContext& ctx;
  const Owner& me;
  const SchedulerOptions& options;
  int64_t now;
  std::string organiser = "";  // the ORGANIZER address of the object scheduled
  std::optional<int64_t> first_start = std::nullopt;  // of the object scheduled
};

std::string Who(const Owner& me) { return me.display_name.empty() ? me.address : me.display_name; }

// The attendees that count against a resource's capacity: every ATTENDEE that is not a room
// or resource (CUTYPE), plus the organiser when not listed.
int PeopleOf(icalcomponent* root, const std::string& resource) {
  std::string organiser = OrganizerOf(root);
  int people = 0;
  bool organiser_listed = false;
  for (const Party& p : AttendeesOf(root)) {
    if (p.cutype == "ROOM" || p.cutype == "RESOURCE" || p.address == resource) continue;
    if (p.address == organiser) organiser_listed = true;
    ++people;
  }
  if (!organiser.empty() && !organiser_listed) ++people;
  return people;
}

struct ResourceRow {
  BookingPolicy policy;
  bool restricted = false;
  int64_t delegate = 0;
  std::string delegate_address;
  std::string name;
};

ResourceRow LoadResourceTx(pqxx::work& tx, int64_t account) {
  ResourceRow out;
  pqxx::result r = tx.exec_params(
      "SELECT r.booking_mode, COALESCE(r.capacity, 0), COALESCE(extract(epoch FROM "
      "r.max_duration)::bigint, 0), "
      "COALESCE(extract(epoch FROM r.booking_window)::bigint, 0), extract(epoch FROM "
      "r.min_notice)::bigint, "
      "r.allow_conflicts, r.timezone, COALESCE(r.delegate_account_id, 0), r.restricted, "
      "r.working_hours IS NOT NULL, COALESCE(d.address, ''), a.display_name "
      "FROM resources r JOIN accounts a ON a.id = r.account_id "
      "LEFT JOIN accounts d ON d.id = r.delegate_account_id WHERE r.account_id = $1",
      account);
  if (r.empty()) return out;
  const auto& row = r[0];
  out.policy.moderated = row[0].as<std::string>() == "moderated";
  out.policy.capacity = row[1].as<int>();
  out.policy.max_duration = row[2].as<int64_t>();
  out.policy.booking_window = row[3].as<int64_t>();
  out.policy.min_notice = row[4].as<int64_t>();
  out.policy.allow_conflicts = row[5].as<bool>();
  out.policy.timezone = row[6].as<std::string>();
  out.delegate = row[7].as<int64_t>();
  out.restricted = row[8].as<bool>();
  out.delegate_address = row[10].as<std::string>();
  out.name = row[11].as<std::string>();
  if (row[9].as<bool>()) {
    std::array<std::vector<std::pair<int, int>>, 7> hours;
    for (const auto& h : tx.exec_params(
             "SELECT d.key, e->>0, e->>1 FROM resources r, jsonb_each(r.working_hours) d, "
             "jsonb_array_elements(CASE WHEN jsonb_typeof(d.value) = 'array' THEN d.value ELSE "
             "'[]'::jsonb END) e "
             "WHERE r.account_id = $1 AND jsonb_typeof(r.working_hours) = 'object'",
             account)) {
      int day = WeekdayIndex(h[0].as<std::string>());
      if (day < 0 || h[1].is_null() || h[2].is_null()) continue;
      int from = ParseClockMinutes(h[1].as<std::string>());
      int to = ParseClockMinutes(h[2].as<std::string>());
      if (from < 0 || to <= from) continue;
      hours[day].emplace_back(from, to);
    }
    out.policy.hours = hours;
  }
  return out;
}

// Restricted resource: the organiser's account is a booker, directly, through a permitted
// list (nested lists and aliases followed), or the delegate.
bool PermittedTx(pqxx::work& tx, int64_t resource, int64_t organiser, const ResourceRow& row) {
  if (!row.restricted || organiser == row.delegate) return true;
  if (!tx.exec_params(
             "SELECT 1 FROM resource_bookers WHERE resource_account_id = $1 AND account_id = $2",
             resource, organiser)
           .empty()) {
    return true;
  }
  return !tx.exec_params(
                "WITH RECURSIVE g(list_id) AS ("
                "  SELECT list_id FROM resource_booker_lists WHERE resource_account_id = $1 "
                "  UNION "
                "  SELECT l.id FROM g JOIN list_members m ON m.list_id = g.list_id JOIN lists l ON "
                "l.address = m.address) "
                "SELECT 1 FROM g JOIN list_members m ON m.list_id = g.list_id "
                "LEFT JOIN aliases al ON al.address = m.address "
                "WHERE m.account_id = $2 OR al.target_account_id = $2 LIMIT 1",
                resource, organiser)
              .empty();
}

// The booking decision for a resource invited by the organiser; writes the resource's
// calendar and the decision into `root` (the organiser's object). Returns SCHEDULE-STATUS.
absl::StatusOr<std::string> BookResourceTx(Work& w, const Principal& res,
                                           const calendar::Object& next, icalcomponent* root) {
  pqxx::work& tx = w.tx;
  // First come, first served: the resource's calendar row stays locked until commit.
  calstore::EnsureCalendarTx(tx, res.account_id, "calendar");
  ResourceRow row = LoadResourceTx(tx, res.account_id);
  BookingRequest req;
  req.now = w.now;
  req.people = PeopleOf(root, res.address);
  req.booker_permitted = PermittedTx(tx, res.account_id, w.me.account_id, row);
  const int64_t horizon = std::max(w.options.horizon, row.policy.booking_window) + 86400;
  const int64_t until = w.now + horizon;
  bool truncated = false;
  for (const calendar::Instance& i : calendar::Expand(next, w.now, until, &truncated)) {
    // Instances under way are not judged again (an update of a running series).
    if (i.status == "CANCELLED" || i.start < w.now) continue;
    req.instances.push_back({i.start, i.end});
  }
  req.unbounded = truncated || !next.last_end.has_value() || *next.last_end > until;
  if (!req.instances.empty() && !row.policy.allow_conflicts && !row.policy.moderated) {
    int64_t from = req.instances.front().start, to = req.instances.front().end;
    for (const Span& s : req.instances) {
      from = std::min(from, s.start);
      to = std::max(to, s.end);
    }
    if (to == from) ++to;
    std::vector<calendar::BusyPeriod> busy;
    for (const calstore::ObjectRow& o : calstore::ObjectsInRangeTx(tx, res.account_id, from, to)) {
      if (o.uid == next.uid) continue;  // this event's own earlier booking
      std::optional<calendar::Object> other = calendar::Load(o.ical);
      if (other) calendar::AppendBusy(*other, from, to, &busy);
    }
    for (const calendar::BusyPeriod& b : busy) req.busy.push_back({b.start, b.end});
  }
  BookingDecision d = DecideBooking(row.policy, req);
  std::optional<calstore::ObjectRow> existing = CopyTx(tx, res.account_id, next.uid);
  if (existing && existing->organizer != w.organiser) {
    // The UID is another organiser's booking: never overwritten by a look-alike.
    SetPartstat(root, res.address, "DECLINED");
    SetBookingNote(root, res.address, "UID in use by another booking");
    return std::string("3.8");
  }
  if (existing && req.instances.empty() && !req.unbounded &&
      d.outcome == BookingOutcome::kDecline && d.status == "5.2") {
    // Nothing left in the future (an event under way or over): the booking made stays as it
    // was decided, updated with the organiser's change.
    std::optional<calendar::Object> old = calendar::Load(existing->ical);
    std::map<std::string, std::string> ps;
    if (old) ps = PartstatsOf(old->root.get(), res.address);
    Ical copy = BuildAttendeeCopy(root, res.address, ps);
    absl::Status st = PutCopyTx(tx, res.account_id, existing, copy.get());
    if (!st.ok()) return st;
    if (!ps.empty()) SetPartstats(root, res.address, ps);
    return std::string("1.2");
  }
  const std::string& addr = res.address;
  switch (d.outcome) {
    case BookingOutcome::kAccept: {
      Ical copy = BuildAttendeeCopy(root, addr, {{"", "ACCEPTED"}});
      absl::Status st = PutCopyTx(tx, res.account_id, existing, copy.get());
      if (!st.ok()) return st;
      SetPartstat(root, addr, "ACCEPTED");
      SetBookingNote(root, addr, "");
      log::Info("caldav.resource_accepted")
          .Kv("resource", addr)
          .Kv("organizer", w.me.address)
          .Kv("uid", next.uid);
      return std::string("1.2");
    }
    case BookingOutcome::kDecline: {
      if (existing) {
        calstore::DeleteObjectTx(tx, res.account_id, existing->calendar_id, existing->uri);
        Touched(res.account_id);
      }
      SetPartstat(root, addr, "DECLINED");
      SetBookingNote(root, addr, d.reason);
      // The organiser's inbox gets the resource's REPLY with the reason (clients show it).
      Ical reply = BuildReply(root, addr, w.now, absl::StrCat("Declined: ", d.reason));
      absl::Status st = PutInInboxTx(tx, w.me.account_id, calendar::Serialize(reply.get()));
      if (!st.ok()) return st;
      log::Info("caldav.resource_declined")
          .Kv("resource", addr)
          .Kv("organizer", w.me.address)
          .Kv("uid", next.uid)
          .Kv("reason", d.reason);
      return std::string(d.status == "3.8" ? "3.8" : "1.2");
    }
    case BookingOutcome::kTentative: {
      Ical copy = BuildAttendeeCopy(root, addr, {{"", "TENTATIVE"}});
      for (icalcomponent* c : SchedulingComponents(copy.get())) {
        icalcomponent_set_status(c, ICAL_STATUS_TENTATIVE);
      }
      if (icalcomponent* m = MasterComponent(copy.get())) {
        icalproperty* x = icalproperty_new_x("PENDING");
        icalproperty_set_x_name(x, "X-KITE-BOOKING");
        icalcomponent_add_property(m, x);
      }
      absl::Status st = PutCopyTx(tx, res.account_id, existing, copy.get());
      if (!st.ok()) return st;
      SetPartstat(root, addr, "NEEDS-ACTION");
      SetBookingNote(root, addr, "awaiting the delegate");
      if (row.delegate != 0) {
        Ical request = BuildRequest(root, w.now);
        st = PutInInboxTx(tx, row.delegate, calendar::Serialize(request.get()));
        if (!st.ok()) return st;
        NoticeMail notice;
        notice.from = addr;
        notice.from_name = row.name;
        notice.to = row.delegate_address;
        notice.subject = absl::StrCat("Booking request for ", row.name.empty() ? addr : row.name,
                                      ": ", Summary(root));
        notice.text =
            absl::StrCat(InvitationText("asks to book " + (row.name.empty() ? addr : row.name),
                                        Who(w.me), root, w.first_start),
                         "\nAccept or decline it in the calendar of ", addr,
                         " (set its participation status).\n");
        notice.date = w.now;
        notice.message_id = NewMessageId(addr);
        absl::StatusOr<std::string> body = ComposeNotice(notice);
        if (body.ok()) {
          queue::Envelope env;
          env.mail_from = "";  // a notification: no bounces back to the resource
          env.helo = "kite-caldav";
          env.source = "internal";
          queue::Recipient r;
          r.address = row.delegate_address;
          r.local = true;
          r.account_id = row.delegate;
          env.recipients.push_back(r);
          Spooled(queue::SpoolTx(tx, env, *body), env.recipients);
        }
      }
      log::Info("caldav.resource_pending")
          .Kv("resource", addr)
          .Kv("organizer", w.me.address)
          .Kv("uid", next.uid);
      return std::string("1.2");
    }
  }
  return std::string("5.1");
}

std::string UidOf(icalcomponent* root) {
  icalcomponent* m = MasterComponent(root);
  const char* u = m != nullptr ? icalcomponent_get_uid(m) : nullptr;
  return u != nullptr ? std::string(u) : std::string();
}

struct Job {
  Party party;
  bool cancel = false;
  bool is_new = false;
  Principal principal = {};
};

// The organiser's side: REQUEST / CANCEL to each attendee that needs one. `root` is the
// object being stored (the previous one when deleting); `next` is null when deleting.
absl::Status OrganizerTx(Work& w, icalcomponent* prev, icalcomponent* root,
                         const calendar::Object* next) {
  const bool deleting = next == nullptr;
  const bool cancelled = deleting || IsCancelled(root);
  const bool was_cancelled = prev != nullptr && IsCancelled(prev);
  const bool significant =
      deleting || prev == nullptr || SignificantFingerprint(prev) != SignificantFingerprint(root);
  std::vector<Party> now_attendees = AttendeesOf(root);
  std::vector<Party> before =
      (prev != nullptr && !deleting) ? AttendeesOf(prev) : std::vector<Party>{};
  auto listed = [](const std::vector<Party>& v, const std::string& a) {
    return std::any_of(v.begin(), v.end(), [&](const Party& p) { return p.address == a; });
  };
  std::vector<Job> jobs;
  for (const Party& a : now_attendees) {
    if (w.me.Is(a.address) || a.schedule_agent != "SERVER") continue;
    bool is_new = !listed(before, a.address) && !deleting;
    if (cancelled) {
      if (deleting || !was_cancelled || is_new) jobs.push_back({a, true, is_new});
    } else if (is_new || significant || was_cancelled) {
      jobs.push_back({a, false, is_new});
    }
  }
  for (const Party& a : before) {
    if (w.me.Is(a.address) || a.schedule_agent != "SERVER" || listed(now_attendees, a.address))
      continue;
    jobs.push_back({a, true, false});
  }
  if (jobs.empty()) return absl::OkStatus();

  const std::string uid = UidOf(root);
  w.organiser = OrganizerOf(root);
  const std::string organiser_name =
      OrganizerCommonName(root).empty() ? w.me.display_name : OrganizerCommonName(root);
  const std::string from = OrganizerOf(root);
  if (jobs.size() > w.options.max_attendees) {
    for (size_t i = w.options.max_attendees; i < jobs.size(); ++i) {
      if (!deleting && listed(now_attendees, jobs[i].party.address))
        SetScheduleStatus(root, jobs[i].party.address, "5.3");
    }
    jobs.resize(w.options.max_attendees);
  }
  for (Job& job : jobs) job.principal = ResolveTx(w.tx, job.party.address);
  // Resources decide first, so that the REQUEST the others get shows their answer.
  std::stable_partition(jobs.begin(), jobs.end(), [](const Job& j) {
    return !j.cancel && j.principal.kind == Kind::kResource;
  });
  std::string request_text;
  for (const Job& job : jobs) {
    const std::string& addr = job.party.address;
    const bool in_next = !deleting && listed(now_attendees, addr);
    const Principal& p = job.principal;
    std::string status;
    if (job.cancel) {
      Ical cancel = BuildCancel(root, {addr}, w.now);
      std::string text = calendar::Serialize(cancel.get());
      switch (p.kind) {
        case Kind::kUser: {
          absl::Status st = PutInInboxTx(w.tx, p.account_id, text);
          if (!st.ok()) return st;
          std::optional<calstore::ObjectRow> copy = CopyTx(w.tx, p.account_id, uid);
          if (copy && copy->organizer != w.organiser) copy.reset();  // someone else's event
          absl::StatusOr<ItipObject> parsed = ParseItip(text, "CANCEL");
          if (copy && parsed.ok()) {
            std::optional<calendar::Object> obj = calendar::Load(copy->ical);
            if (obj && ApplyCancel(*parsed, obj->root.get()) > 0) {
              st = PutCopyTx(w.tx, p.account_id, copy, obj->root.get());
              if (!st.ok()) return st;
            }
          }
          status = "1.2";
          break;
        }
        case Kind::kResource: {
          for (const calstore::ObjectRow& row :
               calstore::FindByUidTx(w.tx, p.account_id, uid, "calendar")) {
            if (row.organizer != w.organiser) continue;
            calstore::DeleteObjectTx(w.tx, p.account_id, row.calendar_id, row.uri);
            Touched(p.account_id);
          }
          status = "1.2";
          break;
        }
        case Kind::kRemote: {
          Mail m{from,
                 organiser_name,
                 addr,
                 job.party.common_name,
                 "CANCEL",
                 absl::StrCat("Cancelled: ", Summary(root)),
                 InvitationText("has cancelled", organiser_name, root, w.first_start),
                 text};
          status = SpoolImipTx(w.tx, m, w.now) ? "1.1" : "3.7";
          break;
        }
        case Kind::kInvalid:
          status = "3.7";
          break;
      }
    } else {
      if (request_text.empty() && p.kind != Kind::kResource) {
        Ical request = BuildRequest(root, w.now);
        request_text = calendar::Serialize(request.get());
      }
      switch (p.kind) {
        case Kind::kUser: {
          std::optional<calstore::ObjectRow> existing = CopyTx(w.tx, p.account_id, next->uid);
          if (existing && existing->organizer != w.organiser) {
            // The attendee holds another event with this UID (their own, or another
            // organiser's): an invitation must not overwrite it.
            if (in_next) SetScheduleStatus(root, addr, "3.8");
            continue;
          }
          absl::Status st = PutInInboxTx(w.tx, p.account_id, request_text);
          if (!st.ok()) return st;
          std::map<std::string, std::string> partstats;  // empty: NEEDS-ACTION (a new invitation)
          if (existing) {
            std::optional<calendar::Object> old = calendar::Load(existing->ical);
            partstats = significant || old == std::nullopt ? PartstatsOf(root, addr)
                                                           : PartstatsOf(old->root.get(), addr);
          }
          Ical copy = BuildAttendeeCopy(root, addr, partstats);
          st = PutCopyTx(w.tx, p.account_id, existing, copy.get());
          if (!st.ok()) return st;
          status = "1.2";
          break;
        }
        case Kind::kResource: {
          absl::StatusOr<std::string> st = BookResourceTx(w, p, *next, root);
          if (!st.ok()) return st.status();
          status = *st;
          break;
        }
        case Kind::kRemote: {
          Mail m{from,
                 organiser_name,
                 addr,
                 job.party.common_name,
                 "REQUEST",
                 absl::StrCat(job.is_new ? "Invitation: " : "Updated invitation: ", Summary(root)),
                 InvitationText(job.is_new ? "invites you to" : "has updated", organiser_name, root,
                                w.first_start),
                 request_text};
          status = SpoolImipTx(w.tx, m, w.now) ? "1.1" : "3.7";
          break;
        }
        case Kind::kInvalid:
          status = "3.7";
          break;
      }
    }
    if (in_next) SetScheduleStatus(root, addr, status);
    log::Info("caldav.scheduled")
        .Kv("organizer", w.me.address)
        .Kv("attendee", addr)
        .Kv("method", job.cancel ? "CANCEL" : "REQUEST")
        .Kv("status", status);
  }
  return absl::OkStatus();
}

// The attendee's side: a REPLY to the organiser. `root` carries the owner's PARTSTAT.
absl::Status ReplyTx(Work& w, const std::string& self, icalcomponent* root) {
  std::string organiser = OrganizerOf(root);
  Ical reply = BuildReply(root, self, w.now);
  std::string text = calendar::Serialize(reply.get());
  Principal p = ResolveTx(w.tx, organiser);
  std::string partstat;
  for (const auto& [key, ps] : PartstatsOf(root, self)) {
    if (partstat.empty() || key.empty()) partstat = ps;
  }
  switch (p.kind) {
    case Kind::kUser:
    case Kind::kResource: {
      absl::StatusOr<ItipObject> parsed = ParseItip(text, "REPLY");
      if (!parsed.ok())
        return absl::InternalError(
            absl::StrCat("REPLY does not parse: ", parsed.status().message()));
      bool known = false;  // the organiser's copy names this attendee: a real invitation
      for (const calstore::ObjectRow& row :
           calstore::FindByUidTx(w.tx, p.account_id, parsed->uid, "calendar")) {
        if (row.organizer != organiser) continue;  // not the organiser's own event
        std::optional<calendar::Object> copy = calendar::Load(row.ical);
        if (!copy) continue;
        ReplyEffect effect = ApplyReply(*parsed, self, copy->root.get());
        known = known || effect.attendee_known;
        if (effect.updated == 0) continue;
        absl::Status st = PutCopyTx(w.tx, p.account_id, row, copy->root.get());
        if (!st.ok()) return st;
      }
      if (!known) break;  // nothing to answer: no inbox item from a made-up invitation
      absl::Status st = PutInInboxTx(w.tx, p.account_id, text);
      if (!st.ok()) return st;
      break;
    }
    case Kind::kRemote: {
      std::string verb = partstat == "ACCEPTED"    ? "Accepted"
                         : partstat == "DECLINED"  ? "Declined"
                         : partstat == "TENTATIVE" ? "Tentative"
                                                   : "Reply";
      std::string name = w.me.display_name;
      Mail m{self,
             name,
             organiser,
             OrganizerCommonName(root),
             "REPLY",
             absl::StrCat(verb, ": ", Summary(root)),
             absl::StrCat(name.empty() ? self : name, " answered ", partstat, ":\n\n  ",
                          Summary(root), "\n"),
             text};
      SpoolImipTx(w.tx, m, w.now);
      break;
    }
    case Kind::kInvalid:
      break;
  }
  log::Info("caldav.replied")
      .Kv("attendee", self)
      .Kv("organizer", organiser)
      .Kv("partstat", partstat);
  return absl::OkStatus();
}

// The ATTENDEE of `root` that is the owner ("" when none).
std::string SelfIn(const Owner& me, icalcomponent* root) {
  for (const Party& p : AttendeesOf(root)) {
    if (me.Is(p.address)) return p.address;
  }
  return "";
}

// The delegate answered for a moderated resource: its copy leaves the tentative state.
void SettleModeratedCopy(icalcomponent* root, const std::string& self) {
  icalcomponent* m = MasterComponent(root);
  if (m == nullptr) return;
  icalproperty* pending = nullptr;
  for (icalproperty* p = icalcomponent_get_first_property(m, ICAL_X_PROPERTY); p != nullptr;
       p = icalcomponent_get_next_property(m, ICAL_X_PROPERTY)) {
    const char* name = icalproperty_get_x_name(p);
    if (name != nullptr && std::string_view(name) == "X-KITE-BOOKING") pending = p;
  }
  if (pending == nullptr) return;
  std::map<std::string, std::string> ps = PartstatsOf(root, self);
  std::string answer = ps.count("") ? ps[""] : (ps.empty() ? "" : ps.begin()->second);
  if (answer != "ACCEPTED" && answer != "DECLINED") return;
  icalcomponent_remove_property(m, pending);
  icalproperty_free(pending);
  for (icalcomponent* c : SchedulingComponents(root)) {
    icalcomponent_set_status(c,
                             answer == "ACCEPTED" ? ICAL_STATUS_CONFIRMED : ICAL_STATUS_CANCELLED);
  }
}

void RefreshAttendees(calendar::Object& next) {
  icalcomponent* root = next.root.get();
  for (calendar::Attendee& a : next.attendees) {
    std::map<std::string, std::string> ps = PartstatsOf(root, a.address);
    auto it = ps.find("");
    if (it == ps.end() && !ps.empty()) it = ps.begin();
    if (it != ps.end()) a.partstat = it->second;
  }
}

}  // namespace

Scheduler::Scheduler(store::Pool& pool, SchedulerOptions options)
    : pool_(pool), options_(std::move(options)) {}

ScheduleEffects Scheduler::TakeEffects() {
  ScheduleEffects out = std::move(effects);
  effects = ScheduleEffects{};
  return out;
}

int64_t Scheduler::Now() const {
  return options_.now ? options_.now() : absl::ToUnixSeconds(absl::Now());
}

absl::Status Scheduler::BeforePut(pqxx::work& tx, const ScheduleContext& ctx,
                                  const calendar::Object* previous, calendar::Object& next) {
  icalcomponent* root = next.root.get();
  if (root == nullptr || next.component == "VFREEBUSY" || next.component == "VJOURNAL")
    return absl::OkStatus();
  std::string organiser = OrganizerOf(root);
  icalcomponent* prev = previous != nullptr ? previous->root.get() : nullptr;
  if (organiser.empty() && (prev == nullptr || OrganizerOf(prev).empty())) return absl::OkStatus();
  Owner me = OwnerTx(tx, ctx);
  Work w{tx, ctx, me, options_, Now()};
  w.first_start = next.first_start;
  if (!organiser.empty() && me.Is(organiser)) {
    absl::Status st = OrganizerTx(w, prev, root, &next);
    RefreshAttendees(next);
    return st;
  }
  if (organiser.empty()) {
    // The organiser dropped scheduling (no ORGANIZER any more): cancel for the attendees.
    if (me.Is(OrganizerOf(prev))) return OrganizerTx(w, nullptr, prev, nullptr);
    return absl::OkStatus();
  }
  if (OrganizerScheduleAgent(root) != "SERVER") return absl::OkStatus();
  std::string self = SelfIn(me, root);
  if (self.empty()) return absl::OkStatus();
  std::map<std::string, std::string> after = PartstatsOf(root, self);
  bool changed = false;
  if (prev != nullptr) {
    changed = PartstatsOf(prev, self) != after;
  } else {
    for (const auto& [key, ps] : after) changed = changed || ps != "NEEDS-ACTION";
  }
  if (!changed || IsCancelled(root)) return absl::OkStatus();
  if (me.resource) SettleModeratedCopy(root, self);
  absl::Status st = ReplyTx(w, self, root);
  RefreshAttendees(next);
  return st;
}

absl::Status Scheduler::BeforeDelete(pqxx::work& tx, const ScheduleContext& ctx,
                                     const calendar::Object& previous) {
  icalcomponent* root = previous.root.get();
  if (root == nullptr || previous.component == "VFREEBUSY" || previous.component == "VJOURNAL") {
    return absl::OkStatus();
  }
  std::string organiser = OrganizerOf(root);
  if (organiser.empty()) return absl::OkStatus();
  Owner me = OwnerTx(tx, ctx);
  Work w{tx, ctx, me, options_, Now()};
  w.first_start = previous.first_start;
  if (me.Is(organiser)) {
    if (IsCancelled(root)) return absl::OkStatus();  // the attendees had their CANCEL already
    return OrganizerTx(w, nullptr, root, nullptr);
  }
  if (OrganizerScheduleAgent(root) != "SERVER" || IsCancelled(root)) return absl::OkStatus();
  std::string self = SelfIn(me, root);
  if (self.empty()) return absl::OkStatus();
  Ical declined(icalcomponent_new_clone(root));
  SetPartstat(declined.get(), self, "DECLINED");
  return ReplyTx(w, self, declined.get());
}

namespace {

std::optional<int64_t> TimeOf(icalproperty* p) {
  if (p == nullptr) return std::nullopt;
  icaltimetype t = icalvalue_get_datetime(icalproperty_get_value(p));
  if (icaltime_is_null_time(t) || !icaltime_is_valid_time(t)) return std::nullopt;
  const icaltimezone* zone = t.zone != nullptr ? t.zone : icaltimezone_get_utc_timezone();
  return static_cast<int64_t>(icaltime_as_timet_with_zone(t, zone));
}

}  // namespace

absl::StatusOr<std::string> Scheduler::OutboxPost(const ScheduleContext& ctx,
                                                  const calendar::Object& request) {
  icalcomponent* root = request.root.get();
  if (root == nullptr || icalcomponent_get_method(root) != ICAL_METHOD_REQUEST) {
    return absl::InvalidArgumentError("an outbox POST must be an iTIP REQUEST");
  }
  icalcomponent* fb = icalcomponent_get_first_component(root, ICAL_VFREEBUSY_COMPONENT);
  if (fb == nullptr)
    return absl::InvalidArgumentError("only VFREEBUSY requests are accepted on the outbox");
  std::optional<int64_t> start =
      TimeOf(icalcomponent_get_first_property(fb, ICAL_DTSTART_PROPERTY));
  std::optional<int64_t> end = TimeOf(icalcomponent_get_first_property(fb, ICAL_DTEND_PROPERTY));
  if (!start || !end || *end <= *start)
    return absl::InvalidArgumentError("DTSTART and DTEND (after it) are required");
  if (*end - *start > options_.max_freebusy_range)
    return absl::InvalidArgumentError("the time range is too long");
  std::string organiser = OrganizerOf(root);
  const char* uid_c = icalcomponent_get_uid(fb);
  std::string uid = uid_c != nullptr ? uid_c : "";
  std::vector<std::string> attendees;
  for (const Party& p : AttendeesOf(root)) attendees.push_back(p.address);
  if (attendees.empty()) return absl::InvalidArgumentError("no ATTENDEE");
  if (attendees.size() > 100) return absl::InvalidArgumentError("more than 100 attendees");

  struct Answer {
    std::string status;
    std::string data;
  };
  std::vector<Answer> answers(attendees.size());
  absl::Status st = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    Owner me = OwnerTx(tx, ctx);
    if (organiser.empty() || !me.Is(organiser)) {
      return absl::InvalidArgumentError("the ORGANIZER must be the outbox's owner");
    }
    for (size_t i = 0; i < attendees.size(); ++i) {
      Principal p = ResolveTx(tx, attendees[i]);
      if (p.kind == Kind::kRemote) {
        answers[i].status = "5.3;No scheduling support for user";
        continue;
      }
      if (p.kind == Kind::kInvalid) {
        answers[i].status = "3.7;Invalid calendar user";
        continue;
      }
      answers[i].status = "__lookup__";
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  for (size_t i = 0; i < attendees.size(); ++i) {
    if (answers[i].status != "__lookup__") continue;
    absl::StatusOr<bool> visible =
        directory::FreeBusyVisible(pool_, ctx.owner_account_id, attendees[i]);
    if (!visible.ok()) return visible.status();
    if (!*visible) {
      answers[i].status = "3.8;No authority";
      continue;
    }
    absl::StatusOr<std::string> data = pool_.Transact([&](pqxx::work& tx) -> std::string {
      Principal p = ResolveTx(tx, attendees[i]);
      std::vector<calendar::BusyPeriod> busy;
      for (const calstore::ObjectRow& o :
           calstore::ObjectsInRangeTx(tx, p.account_id, *start, *end)) {
        std::optional<calendar::Object> obj = calendar::Load(o.ical);
        if (obj) calendar::AppendBusy(*obj, *start, *end, &busy);
      }
      if (p.kind == Kind::kResource) {
        ResourceRow row = LoadResourceTx(tx, p.account_id);
        if (row.policy.hours) {
          calendar::WorkingHours wh;
          wh.timezone = row.policy.timezone;
          for (int d = 0; d < 7; ++d) wh.days[d] = (*row.policy.hours)[d];
          for (const calendar::BusyPeriod& b : calendar::OutsideWorkingHours(wh, *start, *end))
            busy.push_back(b);
        }
      }
      calendar::FreeBusyReply reply;
      reply.method = "REPLY";
      reply.uid = uid;
      reply.organizer = organiser;
      reply.attendee = attendees[i];
      reply.dtstamp = Now();
      return calendar::FreeBusyToText(calendar::MergeBusy(std::move(busy)), *start, *end, reply);
    });
    if (!data.ok()) return data.status();
    answers[i].status = "2.0;Success";
    answers[i].data = std::move(*data);
  }
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
      "<C:schedule-response xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\n";
  for (size_t i = 0; i < attendees.size(); ++i) {
    absl::StrAppend(&xml, "<C:response><C:recipient><D:href>mailto:", dav::Escape(attendees[i]),
                    "</D:href></C:recipient><C:request-status>", dav::Escape(answers[i].status),
                    "</C:request-status>");
    if (!answers[i].data.empty()) {
      absl::StrAppend(&xml, "<C:calendar-data>", dav::Escape(answers[i].data), "</C:calendar-data>");
    }
    absl::StrAppend(&xml, "</C:response>\n");
  }
  absl::StrAppend(&xml, "</C:schedule-response>\n");
  return xml;
}

}  // namespace kite::caldav

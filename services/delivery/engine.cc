#include "delivery/engine.h"

#include <openssl/evp.h>

#include <algorithm>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "delivery/autoreply.h"
#include "delivery/itip.h"
#include "delivery/itip_outbox.h"
#include "lib/base/strings.h"
#include "lib/directory/directory.h"
#include "lib/imap/mime_search_message.h"
#include "lib/log/log.h"
#include "lib/mailstore/filer.h"
#include "lib/mailstore/mailstore.h"
#include "lib/mime/message.h"
#include "mta/relay/dsn.h"

namespace kite::delivery {

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kStored: return "stored";
    case Outcome::kDuplicate: return "duplicate";
    case Outcome::kDiscarded: return "discarded";
    case Outcome::kDeferred: return "deferred";
    case Outcome::kBounced: return "bounced";
    case Outcome::kNoTarget: return "no_target";
  }
  return "unknown";
}

namespace {

std::string Sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string RandomToken() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(absl::Hex(rng()), absl::Hex(rng()));
}

std::string IdArray(const std::vector<int64_t>& ids) { return absl::StrCat("{", absl::StrJoin(ids, ","), "}"); }

// One parsed spool row, shared by the recipients of one message.
struct SpoolMessage {
  int64_t id = 0;
  absl::Time loaded_at;
  std::string mail_from;
  std::string body;
  int64_t size = 0;
  bool quarantine = false;
  absl::Time received_at;
  std::string dsn_ret, dsn_envid;
  mime::Message parsed;
  std::string sha256;
  std::string structure;
  mailstore::SearchColumns search;  // messages.search_* (mailstore::ComputeSearchColumns)
  std::vector<ItipPart> itip;  // calendar invitations / replies (iMIP) in the message

  std::vector<std::string> Header(std::string_view name) const {
    return mime::HeaderValues(body, parsed.root, name, 256 * 1024);
  }
  std::string First(std::string_view name) const {
    auto v = Header(name);
    return v.empty() ? std::string() : v.front();
  }
};

class SieveView : public sieve::Message {
 public:
  SieveView(const SpoolMessage& m, std::string to) : m_(m), to_(std::move(to)) {}
  std::vector<std::string> HeaderValues(std::string_view name) const override { return m_.Header(name); }
  std::string EnvelopeFrom() const override { return m_.mail_from; }
  std::string EnvelopeTo() const override { return to_; }
  uint64_t Size() const override { return static_cast<uint64_t>(m_.size); }

 private:
  const SpoolMessage& m_;
  std::string to_;
};

struct Filing {
  std::string mailbox;
  bool create = false;
  std::vector<std::string> flags;
};

// What one account's delivery does, decided before the transaction.
struct Plan {
  int64_t account_id = 0;
  std::string address;  // the account's address: its exactly-once key within a list
  int64_t quota_bytes = 0;
  std::vector<Filing> filings;
  std::vector<queue::Recipient> redirects;
  bool reject = false;
  std::string reject_reason;
  bool vacation = false;
  sieve::VacationParams vacation_params;
  bool sieve_error = false;
};

// IMAP flag syntax: system flags and keyword atoms (RFC 3501 flag-keyword); \Recent is the
// server's.
bool ValidFlag(std::string_view f) {
  if (f.empty() || f.size() > 100) return false;
  static constexpr std::string_view kSystem[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"};
  if (f[0] == '\\') {
    for (auto s : kSystem) {
      if (absl::EqualsIgnoreCase(AV(f), AV(s))) return true;
    }
    return false;
  }
  for (char c : f) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' || c == '"' ||
        c == '\\' || c == ']')
      return false;
  }
  return true;
}

std::vector<std::string> CleanFlags(const std::vector<std::string>& flags) {
  std::vector<std::string> out;
  for (const auto& f : flags) {
    if (!ValidFlag(f)) continue;
    std::string v = f;
    if (v[0] == '\\') {
      v = absl::AsciiStrToLower(v);
      v[1] = static_cast<char>(absl::ascii_toupper(static_cast<unsigned char>(v[1])));
    }
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

// A mailbox name a script may file into: UTF-8 text without controls, '/' separated, no
// empty levels. "inbox" in any case is INBOX.
std::optional<std::string> CleanMailbox(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/' ||
      name.find("//") != std::string_view::npos)
    return std::nullopt;
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
  }
  if (absl::EqualsIgnoreCase(AV(name), "INBOX")) return std::string("INBOX");
  if (absl::StartsWithIgnoreCase(AV(name), "INBOX/")) return absl::StrCat("INBOX", AV(name.substr(5)));
  return std::string(name);
}

// The message is done when no recipient (local or remote) waits any more.
void DeleteSpoolIfDone(pqxx::work& tx, int64_t spool_id) {
  tx.exec_params(
      "DELETE FROM spool s WHERE s.id = $1 AND NOT EXISTS (SELECT 1 FROM spool_recipients x "
      "WHERE x.spool_id = s.id AND x.state IN ('queued', 'deferred'))",
      spool_id);
}

std::string DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : std::string(address.substr(at + 1));
}

}  // namespace

struct Engine::Impl {
  static constexpr size_t kCacheMaxBody = 1 << 20;
  store::Pool& pool;
  Options options;

  absl::Mutex mu;
  std::list<std::shared_ptr<const SpoolMessage>> recent ABSL_GUARDED_BY(mu);  // most recent first
  struct CachedScript {
    std::string text;
    std::shared_ptr<const sieve::Script> script;  // null: does not compile
    std::string error;
  };
  std::map<int64_t, CachedScript> scripts ABSL_GUARDED_BY(mu);

  Impl(store::Pool& p, Options o) : pool(p), options(std::move(o)) {}

  absl::StatusOr<std::shared_ptr<const SpoolMessage>> Load(int64_t spool_id) {
    {
      absl::MutexLock lock(&mu);
      // Kept a few seconds: the recipients of one message usually follow each other.
      for (const auto& m : recent) {
        if (m->id == spool_id && absl::Now() - m->loaded_at < absl::Seconds(5)) return m;
      }
    }
    auto row = pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::shared_ptr<SpoolMessage>> {
      auto r = tx.exec_params(
          "SELECT mail_from, size, quarantine, extract(epoch from received_at)::float8, COALESCE(dsn_ret, ''), "
          "COALESCE(dsn_envid, ''), body FROM spool WHERE id = $1",
          spool_id);
      if (r.empty()) return absl::NotFoundError(absl::StrCat("spool entry ", spool_id, " is gone"));
      auto m = std::make_shared<SpoolMessage>();
      m->id = spool_id;
      m->mail_from = r[0][0].as<std::string>();
      m->size = r[0][1].as<int64_t>();
      m->quarantine = r[0][2].as<bool>();
      m->received_at = absl::FromUnixMicros(static_cast<int64_t>(r[0][3].as<double>() * 1e6));
      m->dsn_ret = r[0][4].as<std::string>();
      m->dsn_envid = r[0][5].as<std::string>();
      pqxx::binarystring body(r[0][6]);
      m->body = body.str();
      return m;
    });
    if (!row.ok()) return row.status();
    std::shared_ptr<SpoolMessage> m = std::move(*row);
    // Parse once: the structure is stored with the body for IMAP.
    m->parsed = mime::Parse(m->body);
    m->structure = mime::EncodeStorage(m->parsed);
    m->search = mailstore::ComputeSearchColumns(m->body, m->parsed);
    m->sha256 = Sha256(m->body);
    m->itip = FindItip(m->body, m->parsed);
    m->loaded_at = absl::Now();
    absl::MutexLock lock(&mu);
    recent.remove_if([&](const auto& old) { return old->id == spool_id; });
    // Only small messages are kept: eight large ones would hold hundreds of MiB.
    if (m->body.size() <= kCacheMaxBody) {
      recent.push_front(m);
      if (recent.size() > 8) recent.pop_back();
    }
    return std::shared_ptr<const SpoolMessage>(m);
  }

  // The active script of each account (compiled, cached until its text changes).
  std::map<int64_t, CachedScript> Scripts(const std::vector<int64_t>& accounts) {
    std::map<int64_t, CachedScript> out;
    auto rows = pool.Transact([&](pqxx::work& tx) {
      std::vector<std::pair<int64_t, std::string>> v;
      for (const auto& r : tx.exec_params(
               "SELECT account_id, script FROM sieve_scripts WHERE active AND account_id = ANY($1::bigint[])",
               IdArray(accounts))) {
        v.emplace_back(r[0].as<int64_t>(), r[1].as<std::string>());
      }
      return v;
    });
    if (!rows.ok()) {
      // Without the scripts the message still goes to INBOX rather than waiting.
      log::Warn("delivery.sieve_load_failed").Kv("error", rows.status().message());
      return out;
    }
    absl::MutexLock lock(&mu);
    for (auto& [account, text] : *rows) {
      auto it = scripts.find(account);
      if (it == scripts.end() || it->second.text != text) {
        CachedScript c;
        c.text = text;
        sieve::CompileError error;
        auto compiled = sieve::Compile(text, options.sieve_limits, &error);
        if (compiled.ok()) {
          c.script = std::make_shared<const sieve::Script>(std::move(*compiled));
        } else {
          c.error = error.ToString();
        }
        if (scripts.size() > 10000) scripts.clear();
        it = scripts.insert_or_assign(account, std::move(c)).first;
      }
      out[account] = it->second;
    }
    return out;
  }

  std::optional<queue::Recipient> Route(const std::string& address) {
    auto r = directory::Resolve(pool, address);
    if (!r.ok()) {
      log::Warn("delivery.resolve_failed").Kv("address", log::Truncate(address, 320)).Kv("error", r.status().message());
      return std::nullopt;
    }
    using K = directory::RecipientKind;
    switch (r->kind) {
      case K::kAccount:
      case K::kSharedMailbox:
      case K::kResource:
      case K::kAlias:
        if (r->account_ids.size() == 1 && r->forward_to.empty()) return queue::Recipient{r->canonical, true, r->account_ids[0]};
        if (r->kind == K::kAlias) return queue::Recipient{r->canonical, true, 0};
        return std::nullopt;
      case K::kList: return queue::Recipient{r->canonical, true, 0};
      case K::kRemote: return queue::Recipient{address, false, 0};
      default: return std::nullopt;
    }
  }

  Plan MakePlan(const SpoolMessage& m, int64_t account_id, const std::string& address,
                const std::string& account_address, const CachedScript* script, Result& result) {
    Plan p;
    p.account_id = account_id;
    p.address = address;
    std::vector<std::string> keep_flags;
    if (script == nullptr) {
      p.filings.push_back({"INBOX", false, {}});
      return p;
    }
    absl::StatusOr<sieve::Result> run = absl::InternalError(script->error);
    if (script->script) {
      SieveView view(m, address);
      sieve::ExecuteOptions eo;
      eo.limits = options.sieve_limits;
      std::set<std::string> mailboxes;
      bool loaded = false;
      eo.mailbox_exists = [&](std::string_view name) {
        if (!loaded) {
          loaded = true;
          auto names = pool.Transact([&](pqxx::work& tx) { return mailstore::Filer(tx).MailboxNames(account_id); });
          if (names.ok()) mailboxes = std::move(*names);
        }
        auto clean = CleanMailbox(name);
        return clean.has_value() && mailboxes.count(*clean) > 0;
      };
      run = sieve::Execute(*script->script, view, eo);
    }
    if (!run.ok()) {
      // Never lose mail: a failing script files into INBOX.
      ++result.sieve_errors;
      p.sieve_error = true;
      log::Warn("delivery.sieve_error").Kv("spool_id", m.id).Kv("account_id", account_id).Kv("error", run.status().message());
      p.filings.push_back({"INBOX", false, {}});
      return p;
    }
    int delivered_to = 0;
    for (const std::string& v : m.Header("Delivered-To")) {
      for (const std::string& a : ExtractAddresses(v)) {
        if (a == address) ++delivered_to;
      }
    }
    for (const sieve::Action& a : run->actions) {
      switch (a.kind) {
        case sieve::Action::Kind::kKeep:
          p.filings.push_back({"INBOX", false, CleanFlags(a.flags)});
          break;
        case sieve::Action::Kind::kFileInto: {
          auto name = CleanMailbox(a.mailbox);
          if (!name) {
            log::Warn("delivery.sieve_bad_mailbox").Kv("account_id", account_id).Kv("mailbox", log::Truncate(a.mailbox, 200));
            p.filings.push_back({"INBOX", false, CleanFlags(a.flags)});
          } else {
            p.filings.push_back({*name, a.create || options.fileinto_autocreate, CleanFlags(a.flags)});
          }
          break;
        }
        case sieve::Action::Kind::kDiscard: break;
        case sieve::Action::Kind::kRedirect: {
          std::string target = absl::AsciiStrToLower(a.address);
          if (delivered_to > 0 || m.Header("Delivered-To").size() >= 20) {
            // It has been through this account before: a redirect loop. Keep it instead.
            log::Warn("delivery.redirect_loop").Kv("spool_id", m.id).Kv("account_id", account_id);
            p.filings.push_back({"INBOX", false, {}});
          } else if (target == address) {
            p.filings.push_back({"INBOX", false, {}});
          } else if (auto r = Route(target)) {
            p.redirects.push_back(*r);
          } else {
            log::Warn("delivery.redirect_unroutable").Kv("account_id", account_id).Kv("target", log::Truncate(target, 320));
            p.filings.push_back({"INBOX", false, {}});
          }
          break;
        }
        case sieve::Action::Kind::kReject:
        case sieve::Action::Kind::kEreject:
          p.reject = true;
          p.reject_reason = a.reason;
          break;
        case sieve::Action::Kind::kVacation: {
          std::vector<std::string> own{address, account_address};
          for (const auto& extra : a.vacation.addresses) own.push_back(absl::AsciiStrToLower(extra));
          auto decision = MayAutoReply(m.mail_from, [&](std::string_view n) { return m.Header(n); }, own);
          if (decision.allowed) {
            p.vacation = true;
            p.vacation_params = a.vacation;
          } else {
            log::Info("delivery.vacation_suppressed").Kv("spool_id", m.id).Kv("account_id", account_id).Kv("reason", decision.reason);
          }
          break;
        }
      }
    }
    // Two filings into one mailbox are one copy (flags merged).
    std::vector<Filing> merged;
    for (Filing& f : p.filings) {
      auto it = std::find_if(merged.begin(), merged.end(), [&](const Filing& g) { return g.mailbox == f.mailbox; });
      if (it == merged.end()) {
        merged.push_back(std::move(f));
      } else {
        for (auto& fl : f.flags) {
          if (std::find(it->flags.begin(), it->flags.end(), fl) == it->flags.end()) it->flags.push_back(fl);
        }
        it->create = it->create || f.create;
      }
    }
    p.filings = std::move(merged);
    return p;
  }

  // ---- inside the transaction ----------------------------------------------------------

  struct Tx {
    pqxx::work& tx;
    const SpoolMessage& m;
    Result& result;
    int64_t message_id = 0;
  };

  int64_t MessageRow(Tx& t) {
    if (t.message_id == 0) {
      t.message_id = mailstore::Filer(t.tx).BodyFromSpool(t.m.id, t.m.sha256, t.m.size, t.m.structure, t.m.search);
    }
    return t.message_id;
  }

  // One entry in `mailbox` (created when allowed and missing); nullopt when there is no
  // such mailbox.
  static std::optional<Stored> StoreTx(pqxx::work& tx, int64_t account_id, const std::string& mailbox, bool create,
                                       const std::vector<std::string>& flags, int64_t message_id, int64_t size) {
    auto filed = mailstore::Filer(tx).File(account_id, mailbox, create, flags, message_id, size);
    if (!filed) return std::nullopt;
    return Stored{filed->account_id, filed->mailbox_id, filed->uid, filed->mailbox};
  }

  int64_t SpoolGenerated(pqxx::work& tx, Result& result, const std::string& mail_from,
                         std::vector<queue::Recipient> rcpts, const std::string& body) {
    queue::Envelope env;
    env.mail_from = mail_from;
    env.helo = options.hostname;
    env.source = "internal";
    env.recipients = std::move(rcpts);
    int64_t id = queue::SpoolTx(tx, env, body);
    result.to_enqueue.emplace_back(id, env.recipients);
    return id;
  }

  enum class Member { kStored, kDuplicate, kDiscarded, kOverQuota };

  // Delivers one account's plan. `key`: claim (spool id, account address) first (list
  // members), so a member reached twice, or also a direct recipient, gets one copy.
  Member DeliverPlanTx(Tx& t, const Plan& p, bool claim_member, const std::optional<queue::Recipient>& sender_route) {
    pqxx::work& tx = t.tx;
    const SpoolMessage& m = t.m;
    if (claim_member) {
      auto claim = tx.exec_params(
          "INSERT INTO deliveries(spool_id, recipient, account_id) VALUES ($1, $2, $3) "
          "ON CONFLICT DO NOTHING RETURNING spool_id",
          m.id, p.address, p.account_id);
      if (claim.empty()) return Member::kDuplicate;
    }
    // Filings: DMARC quarantine moves the implicit/explicit keep of INBOX to Junk.
    std::vector<Filing> filings = p.filings;
    if (m.quarantine) {
      for (Filing& f : filings) {
        if (f.mailbox == "INBOX") f.mailbox = mailstore::Filer(tx).JunkMailbox(p.account_id);
      }
    }
    int64_t needed = m.size * static_cast<int64_t>(filings.size());
    // The quota row lock orders concurrent deliveries to this account: usage is exact.
    const mailstore::Filer::Usage usage = mailstore::Filer(tx).LockQuota(p.account_id);
    int64_t used = usage.bytes;
    bool warned = usage.warned;
    if (p.quota_bytes > 0 && needed > 0 && used + needed > p.quota_bytes) {
      if (claim_member) {
        tx.exec_params("DELETE FROM deliveries WHERE spool_id = $1 AND recipient = $2", m.id, p.address);
      }
      return Member::kOverQuota;
    }
    int64_t added_bytes = 0, added_messages = 0;
    for (const Filing& f : filings) {
      int64_t message_id = MessageRow(t);
      auto s = StoreTx(tx, p.account_id, f.mailbox, f.create, f.flags, message_id, m.size);
      if (!s && f.mailbox != "INBOX") {
        log::Warn("delivery.no_mailbox").Kv("account_id", p.account_id).Kv("mailbox", log::Truncate(f.mailbox, 200));
        s = StoreTx(tx, p.account_id, "INBOX", true, f.flags, message_id, m.size);
      }
      if (!s) s = StoreTx(tx, p.account_id, "INBOX", true, f.flags, message_id, m.size);
      t.result.stored.push_back(*s);
      added_bytes += m.size;
      ++added_messages;
    }
    // A calendar invitation or reply (iMIP) also goes to kite-caldav's scheduling inbox,
    // through the outbox in this transaction (exactly once); not for quarantined mail.
    if (!m.itip.empty() && !m.quarantine && !filings.empty()) {
      t.result.itip += RecordItipTx(tx, p.account_id, m.id, p.address, absl::AsciiStrToLower(m.mail_from), m.itip);
    }
    // The quota warning, once per crossing of the threshold.
    int pct = options.quota_warning_percent;
    if (p.quota_bytes > 0 && pct > 0) {
      int64_t threshold = p.quota_bytes / 100 * pct + (p.quota_bytes % 100) * pct / 100;
      int64_t now_used = used + added_bytes;
      if (now_used >= threshold && !warned) {
        warned = true;
        QuotaWarning w;
        w.postmaster = absl::StrCat("postmaster@", DomainOf(p.address));
        w.to = p.address;
        w.used_bytes = now_used;
        w.limit_bytes = p.quota_bytes;
        w.percent = pct;
        w.message_id = absl::StrCat("quota.", RandomToken(), "@", options.hostname);
        w.date = absl::Now();
        std::string text = BuildQuotaWarning(w);
        mime::Message parsed = mime::Parse(text);
        std::string structure = mime::EncodeStorage(parsed);
        int64_t mid = mailstore::Filer(tx).StoreBody(text, structure, mailstore::ComputeSearchColumns(text, parsed));
        // The warning itself never takes the mailbox past its limit.
        std::optional<Stored> s;
        if (now_used + static_cast<int64_t>(text.size()) <= p.quota_bytes) {
          s = StoreTx(tx, p.account_id, "INBOX", true, {}, mid, static_cast<int64_t>(text.size()));
        }
        if (s) {
          t.result.stored.push_back(*s);
          added_bytes += static_cast<int64_t>(text.size());
          ++added_messages;
          ++t.result.quota_warnings;
          log::Info("delivery.quota_warning").Kv("account_id", p.account_id).Kv("used", now_used).Kv("limit", p.quota_bytes);
        }
      } else if (now_used < threshold && warned) {
        warned = false;  // below again: the next crossing warns again
      }
    }
    mailstore::Filer(tx).AddUsage(p.account_id, added_bytes, added_messages, warned);
    // Redirects: a new message with Delivered-To, from the original envelope sender.
    if (!p.redirects.empty()) {
      std::string body = absl::StrCat("Delivered-To: ", p.address, "\r\n", m.body);
      SpoolGenerated(tx, t.result, m.mail_from, p.redirects, body);
      t.result.redirects += static_cast<int>(p.redirects.size());
    }
    if (p.reject && sender_route) {
      RejectNotice n;
      n.reporting_host = options.hostname;
      n.postmaster = absl::StrCat("MAILER-DAEMON@", options.hostname);
      n.to = m.mail_from;
      n.final_recipient = p.address;
      n.reason = p.reject_reason;
      n.original_message_id = m.First("Message-ID");
      n.original = m.body;
      n.message_id = absl::StrCat("reject.", RandomToken(), "@", options.hostname);
      n.boundary = absl::StrCat("reject.", RandomToken(), "/", options.hostname);
      n.date = absl::Now();
      queue::Recipient r = *sender_route;
      r.notify = "NEVER";
      SpoolGenerated(tx, t.result, "", {r}, BuildRejectNotice(n));
      ++t.result.rejects;
    } else if (p.reject) {
      ++t.result.rejects;
    }
    if (p.vacation && sender_route) {
      const sieve::VacationParams& v = p.vacation_params;
      std::string handle = v.handle.empty() ? v.reason.substr(0, 200) : v.handle;
      // One reply per sender per period: the row is new, or older than the period.
      auto due = tx.exec_params(
          "INSERT INTO vacation_replies(account_id, handle, sender, replied_at) VALUES ($1, $2, $3, now()) "
          "ON CONFLICT (account_id, handle, sender) DO UPDATE SET replied_at = now() "
          "WHERE vacation_replies.replied_at < now() - make_interval(secs => $4) RETURNING 1",
          p.account_id, handle, absl::AsciiStrToLower(m.mail_from), static_cast<double>(v.seconds));
      if (!due.empty()) {
        VacationReply r;
        r.from = v.from.empty() ? p.address : v.from;
        r.to = m.mail_from;
        r.subject = v.subject;
        r.original_subject = m.First("Subject");
        r.original_message_id = m.First("Message-ID");
        r.original_references = m.First("References");
        r.reason = v.reason;
        r.mime = v.mime;
        r.message_id = absl::StrCat("vacation.", RandomToken(), "@", options.hostname);
        r.date = absl::Now();
        queue::Recipient to = *sender_route;
        to.notify = "NEVER";
        SpoolGenerated(tx, t.result, "", {to}, BuildVacationReply(r));
        ++t.result.vacation_replies;
      }
    }
    return filings.empty() ? Member::kDiscarded : Member::kStored;
  }


  // A mailbox-full recipient: retry later, or fail with a bounce.
  Outcome QuotaFailTx(pqxx::work& tx, const SpoolMessage& m, const std::string& recipient,
                      const std::optional<queue::Recipient>& sender_route, Result& result) {
    absl::Time now = absl::Now();
    bool expired = options.quota_bounce_at_once || now - m.received_at >= options.lifetime;
    if (!expired) {
      tx.exec_params(
          "UPDATE spool_recipients SET state = 'deferred', attempts = attempts + 1, "
          "next_attempt_at = now() + make_interval(secs => $3), enqueued_at = NULL, "
          "last_error = '452 4.2.2 Mailbox full', updated_at = now() WHERE spool_id = $1 AND recipient = $2",
          m.id, recipient, absl::ToDoubleSeconds(options.quota_retry));
      return Outcome::kDeferred;
    }
    auto r = tx.exec_params(
        "UPDATE spool_recipients SET state = 'failed', attempts = attempts + 1, last_error = '552 5.2.2 Mailbox full', "
        "updated_at = now() WHERE spool_id = $1 AND recipient = $2 RETURNING COALESCE(dsn_notify, ''), "
        "COALESCE(dsn_orcpt, '')",
        m.id, recipient);
    std::string notify = r.empty() ? "" : r[0][0].as<std::string>();
    bool wants = notify.empty() || absl::StrContains(notify, "FAILURE");
    if (sender_route && wants) {
      relay::DsnInput in;
      in.reporting_mta = options.hostname;
      in.to = m.mail_from;
      in.envid = m.dsn_envid;
      in.ret = m.dsn_ret;
      std::string token = RandomToken();
      in.message_id = absl::StrCat("dsn.", m.id, ".", token, "@", options.hostname);
      in.boundary = absl::StrCat(m.id, ".", token, "/", options.hostname);
      in.arrival = m.received_at;
      in.now = now;
      relay::DsnRecipient d;
      d.final_recipient = recipient;
      d.original_recipient = r.empty() ? "" : r[0][1].as<std::string>();
      d.action = "failed";
      d.status = "5.2.2";
      d.diagnostic = "552 5.2.2 Mailbox full";
      d.remote_mta = "";
      d.reason = "The recipient's mailbox is full and stayed full until the message expired.";
      d.last_attempt = now;
      in.recipients = {d};
      in.original = m.body;
      queue::Recipient to = *sender_route;
      to.notify = "NEVER";
      SpoolGenerated(tx, result, "", {to}, relay::BuildDsn(in));
    }
    return Outcome::kBounced;
  }
};

Engine::Engine(store::Pool& pool, Options options) : impl_(std::make_unique<Impl>(pool, std::move(options))) {
  mime::EnsureGMimeInit();
}
Engine::~Engine() = default;

absl::StatusOr<Result> Engine::Deliver(int64_t spool_id, const std::string& recipient, int64_t account_id) {
  Impl& I = *impl_;
  Result result;
  auto loaded = I.Load(spool_id);
  if (!loaded.ok()) {
    if (loaded.status().code() != absl::StatusCode::kNotFound) return loaded.status();
    // The spool row is gone: every recipient was done. Delivered before, or deleted.
    auto seen = I.pool.Transact([&](pqxx::work& tx) {
      return !tx.exec_params("SELECT 1 FROM deliveries WHERE spool_id = $1 AND recipient = $2", spool_id, recipient)
                  .empty();
    });
    if (!seen.ok()) return seen.status();
    if (*seen) {
      result.outcome = Outcome::kDuplicate;
      return result;
    }
    return loaded.status();
  }
  const SpoolMessage& m = **loaded;
  result.received_at = m.received_at;

  // 1. Final accounts and remote targets.
  std::vector<int64_t> accounts;
  std::vector<std::string> remote;
  const bool expanded = account_id == 0;
  if (!expanded) {
    accounts.push_back(account_id);
  } else {
    auto ex = directory::ExpandAddress(I.pool, recipient);
    if (!ex.ok()) return ex.status();
    accounts = ex->account_ids;
    remote = ex->remote;
  }
  struct AccountRow {
    std::string address;
    int64_t quota = 0;
  };
  std::map<int64_t, AccountRow> rows;
  if (!accounts.empty()) {
    auto r = I.pool.Transact([&](pqxx::work& tx) {
      std::map<int64_t, AccountRow> out;
      for (const auto& row : tx.exec_params("SELECT id, address, quota_bytes FROM accounts WHERE id = ANY($1::bigint[])",
                                            IdArray(accounts))) {
        out[row[0].as<int64_t>()] = {row[1].as<std::string>(), row[2].as<int64_t>()};
      }
      return out;
    });
    if (!r.ok()) return r.status();
    rows = std::move(*r);
  }
  // 2. Plans (Sieve runs here, outside the transaction).
  auto scripts = I.Scripts(accounts);
  std::vector<Plan> plans;
  for (int64_t id : accounts) {
    auto row = rows.find(id);
    if (row == rows.end()) continue;  // removed meanwhile
    auto s = scripts.find(id);
    // The envelope recipient a direct delivery's script sees is the address given at RCPT.
    std::string address = expanded ? row->second.address : recipient;
    Plan p = I.MakePlan(m, id, address, row->second.address, s == scripts.end() ? nullptr : &s->second, result);
    p.address = row->second.address;
    if (!expanded) p.address = recipient;
    p.quota_bytes = row->second.quota;
    plans.push_back(std::move(p));
  }
  // Where generated messages to the sender go (vacation, reject notice, bounce).
  // Looked up only when something may be sent back: a reject, a vacation reply, or a bounce
  // when a mailbox with a quota is full.
  std::optional<queue::Recipient> sender_route;
  bool may_reply = std::any_of(plans.begin(), plans.end(), [](const Plan& p) {
    return p.reject || p.vacation || p.quota_bytes > 0;
  });
  if (!m.mail_from.empty() && may_reply) sender_route = I.Route(m.mail_from);

  // 3. One transaction.
  auto committed = I.pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result r;
    r.received_at = m.received_at;
    r.sieve_errors = result.sieve_errors;
    // The spool row first: deliveries of the recipients of one message take turns. Without
    // it two of them commit concurrently, each still seeing the other recipient queued, and
    // neither deletes the spool row; both may also store the body.
    tx.exec_params("SELECT 1 FROM spool WHERE id = $1 FOR UPDATE", spool_id);
    auto state = tx.exec_params(
        "SELECT state FROM spool_recipients WHERE spool_id = $1 AND recipient = $2 FOR UPDATE", spool_id, recipient);
    if (state.empty()) {
      bool seen = !tx.exec_params("SELECT 1 FROM deliveries WHERE spool_id = $1 AND recipient = $2", spool_id, recipient)
                       .empty();
      if (seen) {
        r.outcome = Outcome::kDuplicate;
        return r;
      }
      return absl::NotFoundError(absl::StrCat("recipient ", recipient, " of spool entry ", spool_id, " is no longer queued"));
    }
    std::string st = state[0][0].as<std::string>();
    auto claim = tx.exec_params(
        "INSERT INTO deliveries(spool_id, recipient, account_id) VALUES ($1, $2, NULLIF($3, 0)) "
        "ON CONFLICT DO NOTHING RETURNING spool_id",
        spool_id, recipient, account_id);
    auto finish = [&](const char* new_state) {
      tx.exec_params(
          "UPDATE spool_recipients SET state = $3, updated_at = now(), attempts = attempts + 1 "
          "WHERE spool_id = $1 AND recipient = $2",
          spool_id, recipient, new_state);
      DeleteSpoolIfDone(tx, spool_id);
    };
    if (claim.empty() || st == "delivered" || st == "failed") {
      // Done before (a redelivered entry, or a list that reached this address already).
      if (st == "queued" || st == "deferred") finish("delivered");
      r.outcome = Outcome::kDuplicate;
      return r;
    }
    Impl::Tx t{tx, m, r, 0};
    int stored = 0, discarded = 0;
    for (const Plan& p : plans) {
      Impl::Member outcome = I.DeliverPlanTx(t, p, expanded, sender_route);
      ++r.accounts;
      switch (outcome) {
        case Impl::Member::kStored: ++stored; break;
        case Impl::Member::kDiscarded: ++discarded; break;
        case Impl::Member::kDuplicate: break;
        case Impl::Member::kOverQuota:
          if (!expanded) {
            r.outcome = I.QuotaFailTx(tx, m, recipient, sender_route, r);
            if (r.outcome == Outcome::kDeferred) {
              // Not delivered: the key goes, so the retry is not taken for a duplicate.
              tx.exec_params("DELETE FROM deliveries WHERE spool_id = $1 AND recipient = $2", spool_id, recipient);
            } else {
              // Failed for good: the key stays (a redelivered entry is a no-op).
              DeleteSpoolIfDone(tx, spool_id);
            }
            return r;
          }
          // A list member: its own recipient row, retried on its own.
          tx.exec_params(
              "INSERT INTO spool_recipients(spool_id, recipient, kind, account_id, state, next_attempt_at, last_error) "
              "VALUES ($1, $2, 'local', $3, 'deferred', now() + make_interval(secs => $4), '452 4.2.2 Mailbox full') "
              "ON CONFLICT DO NOTHING",
              spool_id, p.address, p.account_id,
              I.options.quota_bounce_at_once ? 0.0 : absl::ToDoubleSeconds(I.options.quota_retry));
          ++r.deferred_members;
          break;
      }
    }
    // Remote members and forwarding targets: recipients of the same spool row.
    for (const std::string& a : remote) {
      auto added = tx.exec_params(
          "INSERT INTO spool_recipients(spool_id, recipient, kind) VALUES ($1, $2, 'remote') "
          "ON CONFLICT DO NOTHING RETURNING recipient",
          spool_id, a);
      if (!added.empty()) {
        ++r.remote;
        queue::Recipient rr{a, false, 0};
        bool merged = false;
        for (auto& [id, list] : r.to_enqueue) {
          if (id == spool_id) {
            list.push_back(rr);
            merged = true;
          }
        }
        if (!merged) r.to_enqueue.emplace_back(spool_id, std::vector<queue::Recipient>{rr});
      }
    }
    finish("delivered");
    if (stored > 0 || r.remote > 0 || r.redirects > 0) {
      r.outcome = Outcome::kStored;
    } else if (discarded > 0) {
      r.outcome = Outcome::kDiscarded;
    } else if (r.deferred_members > 0) {
      r.outcome = Outcome::kDeferred;
    } else if (plans.empty() && remote.empty()) {
      r.outcome = Outcome::kNoTarget;
    } else {
      r.outcome = Outcome::kDuplicate;
    }
    return r;
  });
  if (!committed.ok()) return committed.status();
  return committed;
}

}  // namespace kite::delivery

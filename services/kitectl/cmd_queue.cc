// kitectl queue — the operator's view of the durable queue, like Postfix's postqueue and
// postsuper (design.md, "The path of a message"):
//
//   list   (postqueue -p)   spooled messages and the state of each recipient, with filters
//   show   (postcat -q)     one message: envelope, per-recipient state, headers (--body: all)
//   retry  (postsuper -r)   makes recipients due now and puts them on the Redis stream again
//   delete (postsuper -d)   removes recipients (and messages left with none) in a transaction
//   flush  (postqueue -f)   every deferred recipient due now, then a reconcile pass
//   stats                   counts by kind/state and the streams' length and pending entries
//
// The spool in PostgreSQL is the truth; these commands change it in one transaction and only
// then touch Redis. Re-enqueueing is always safe: delivery is keyed by (spool id, recipient),
// so a recipient on the stream twice is delivered once. A delete never removes a recipient
// that is already delivered; a queue entry whose spool row was deleted is acknowledged by its
// consumer as gone.
#include <cinttypes>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kitectl/commands.h"
#include "lib/base/strings.h"
#include "lib/daemon/backends.h"
#include "lib/queue/queue.h"
#include "lib/redis/client.h"

namespace kite::kitectl {
namespace {

constexpr char kUsage[] =
    "Usage: kitectl queue list [FILTERS] [--limit N]\n"
    "       kitectl queue show SPOOL-ID [--body]\n"
    "       kitectl queue retry SPOOL-ID|all [--recipient ADDR] [FILTERS]\n"
    "       kitectl queue delete SPOOL-ID|all [--recipient ADDR] [FILTERS] [--yes]\n"
    "       kitectl queue flush\n"
    "       kitectl queue stats\n"
    "FILTERS (recipients must match all given):\n"
    "  --state S        queued | deferred | failed | delivered | pending (default: all but\n"
    "                   delivered) | all\n"
    "  --kind K         local | remote\n"
    "  --domain D       recipient domain\n"
    "  --sender S       envelope sender address, @DOMAIN for a sender domain, <> for bounces\n"
    "  --older-than T   received longer ago than T (30s, 15m, 4h, 2d)\n"
    "retry makes queued, deferred and failed recipients due now and enqueues them again.\n"
    "delete removes undelivered recipients, and each message left without any; deleting\n"
    "`all` needs --yes. flush makes every deferred recipient due now and re-enqueues what is\n"
    "due but missing from Redis (as the reconciler does).\n";

// ---- helpers ----------------------------------------------------------------------------

std::string Size(int64_t bytes) {
  if (bytes < 1024) return absl::StrFormat("%d B", bytes);
  if (bytes < 1024 * 1024) return absl::StrFormat("%.1f KiB", static_cast<double>(bytes) / 1024);
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1024 * 1024));
}

// JSON strings must be UTF-8: invalid bytes (8-bit headers in another charset) become U+FFFD.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size() && !(n == 2 && c < 0xc2);
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

// The header section of a message (up to and including the blank line).
std::string_view Headers(std::string_view message) {
  size_t end = message.find("\r\n\r\n");
  if (end != std::string_view::npos) return message.substr(0, end + 2);
  end = message.find("\n\n");
  return end == std::string_view::npos ? message : message.substr(0, end + 1);
}

// Timestamps are formatted by PostgreSQL, in UTC.
constexpr char kTs[] = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";
std::string Ts(std::string_view column) {
  return absl::StrCat("COALESCE(to_char(", AV(column), " AT TIME ZONE 'UTC', ", kTs, "), '')");
}

struct Filter {
  std::string state = "pending";
  std::string kind;
  std::string domain;
  std::string sender;
  bool sender_given = false;
  double older_secs = -1;
  int64_t id = 0;
  std::string recipient;
};

// The WHERE clause over spool s JOIN spool_recipients r, with Filter's fields as $1..$8.
constexpr char kWhere[] =
    " WHERE CASE $1::text WHEN 'all' THEN true WHEN 'pending' THEN r.state <> 'delivered' ELSE "
    "r.state = $1 END"
    " AND ($2::text = '' OR r.kind = $2)"
    " AND ($3::text = '' OR lower(substring(r.recipient from '@([^@]*)$')) = $3)"
    " AND (NOT $5::boolean OR (CASE WHEN left($4::text, 1) = '@' THEN lower(right(s.mail_from, "
    "length($4))) = $4"
    "                               ELSE lower(s.mail_from) = $4 END))"
    " AND ($6::float8 < 0 OR s.received_at < now() - make_interval(secs => $6::float8))"
    " AND ($7::bigint = 0 OR s.id = $7)"
    " AND ($8::text = '' OR r.recipient = $8)";

template <typename... Extra>
pqxx::result Query(pqxx::work& tx, const std::string& sql, const Filter& f, Extra&&... extra) {
  return tx.exec_params(sql, f.state, f.kind, f.domain, f.sender, f.sender_given, f.older_secs,
                        f.id, f.recipient, std::forward<Extra>(extra)...);
}

// Takes the filter options out of args; a usage error is printed and false returned.
bool TakeFilter(std::vector<std::string>& a, Filter& f) {
  bool given = false;
  std::string state = TakeOption(a, "--state", &given);
  if (given) {
    if (state != "queued" && state != "deferred" && state != "failed" && state != "delivered" &&
        state != "pending" && state != "all") {
      Fail("--state must be queued, deferred, failed, delivered, pending or all", 2);
      return false;
    }
    f.state = state;
  }
  given = false;
  f.kind = TakeOption(a, "--kind", &given);
  if (given && f.kind != "local" && f.kind != "remote") {
    Fail("--kind must be local or remote", 2);
    return false;
  }
  given = false;
  f.domain = absl::AsciiStrToLower(TakeOption(a, "--domain", &given));
  if (given && f.domain.empty()) {
    Fail("--domain needs a domain", 2);
    return false;
  }
  f.sender = absl::AsciiStrToLower(TakeOption(a, "--sender", &f.sender_given));
  if (f.sender == "<>") f.sender.clear();
  if (f.sender.size() >= 2 && f.sender.front() == '<' && f.sender.back() == '>')
    f.sender = f.sender.substr(1, f.sender.size() - 2);
  given = false;
  std::string older = TakeOption(a, "--older-than", &given);
  if (given) {
    int64_t plain = 0;
    if (absl::SimpleAtoi(older, &plain) && plain >= 0) {
      f.older_secs = static_cast<double>(plain);
    } else {
      auto d = config::ParseDuration(older);
      if (!d.ok() || d->count() < 0) {
        Fail("--older-than needs a duration such as 30s, 15m, 4h or 2d", 2);
        return false;
      }
      f.older_secs = static_cast<double>(d->count()) / 1000.0;
    }
  }
  return true;
}

// Options left over after a command took its own are a usage error.
bool Leftover(const std::vector<std::string>& a, size_t positional) {
  for (const auto& s : a) {
    if (s.size() > 1 && s[0] == '-') {
      Fail("unknown option " + s, 2);
      return true;
    }
  }
  if (a.size() != positional) {
    Fail("unexpected argument (try kitectl queue --help)", 2);
    return true;
  }
  return false;
}

// SPOOL-ID or `all`; false (after a usage error) otherwise.
bool TakeTarget(const std::string& arg, Filter& f, bool* all) {
  *all = arg == "all";
  if (*all) return true;
  if (!absl::SimpleAtoi(arg, &f.id) || f.id <= 0) {
    Fail("'" + arg + "' is not a spool id (a positive number) or `all`", 2);
    return false;
  }
  return true;
}

std::unique_ptr<redis::Client> OpenRedis(const config::Config& c, absl::Status* error) {
  auto r = redis::Client::Connect(daemon::RedisOptions(c, "global"));
  if (!r.ok()) {
    *error = r.status();
    return nullptr;
  }
  return std::move(*r);
}

struct Due {
  int64_t spool_id;
  queue::Recipient recipient;
};

// Puts `due` on the streams, one Enqueue per message. Returns the first error.
absl::Status EnqueueAll(const config::Config& c, store::Pool& pool, const std::vector<Due>& due) {
  if (due.empty()) return absl::OkStatus();
  absl::Status error;
  auto redis = OpenRedis(c, &error);
  if (!redis) return error;
  std::map<int64_t, std::vector<queue::Recipient>> by_spool;
  for (const Due& d : due) by_spool[d.spool_id].push_back(d.recipient);
  for (const auto& [id, rcpts] : by_spool) {
    if (auto s = queue::Enqueue(*redis, pool, id, rcpts); !s.ok() && error.ok()) error = s;
  }
  return error;
}

std::vector<Due> DueRows(const pqxx::result& rows) {
  std::vector<Due> out;
  for (const auto& r : rows) {
    out.push_back(
        {r[0].as<int64_t>(),
         {r[1].as<std::string>(), r[2].as<std::string>() == "local", r[3].as<int64_t>()}});
  }
  return out;
}

// ---- list -------------------------------------------------------------------------------

struct RecipientRow {
  std::string recipient, kind, state, next_attempt_at, enqueued_at, updated_at, last_error;
  int64_t attempts = 0;
  bool has_error = false;
};

struct MessageRow {
  int64_t id = 0, size = 0, age = 0;
  std::string received_at, mail_from, helo, client_addr, auth_user, source;
  std::vector<RecipientRow> recipients;
};

// Messages with at least one recipient matching the filter (the first $9 by id), and their
// matching recipients.
const std::string& SelectSql() {
  static const std::string sql = absl::StrCat(
      "WITH m AS (SELECT DISTINCT s.id FROM spool s JOIN spool_recipients r ON r.spool_id = s.id",
      kWhere,
      " ORDER BY s.id LIMIT $9) "
      "SELECT s.id, ",
      Ts("s.received_at"),
      ", s.size, s.mail_from, COALESCE(s.helo, ''), COALESCE(s.client_addr, ''), "
      "COALESCE(s.auth_user, ''), s.source, floor(extract(epoch FROM now() - "
      "s.received_at))::bigint, "
      "r.recipient, r.kind, r.state, r.attempts, ",
      Ts("r.next_attempt_at"), ", ", Ts("r.enqueued_at"), ", ", Ts("r.updated_at"),
      ", r.last_error "
      "FROM spool s JOIN spool_recipients r ON r.spool_id = s.id",
      kWhere, " AND s.id IN (SELECT id FROM m) ORDER BY s.id, r.recipient");
  return sql;
}

std::vector<MessageRow> ToMessages(const pqxx::result& rows) {
  std::vector<MessageRow> out;
  for (const auto& r : rows) {
    int64_t id = r[0].as<int64_t>();
    if (out.empty() || out.back().id != id) {
      MessageRow m;
      m.id = id;
      m.received_at = r[1].as<std::string>();
      m.size = r[2].as<int64_t>();
      m.mail_from = r[3].as<std::string>();
      m.helo = r[4].as<std::string>();
      m.client_addr = r[5].as<std::string>();
      m.auth_user = r[6].as<std::string>();
      m.source = r[7].as<std::string>();
      m.age = r[8].as<int64_t>();
      out.push_back(std::move(m));
    }
    RecipientRow rc;
    rc.recipient = r[9].as<std::string>();
    rc.kind = r[10].as<std::string>();
    rc.state = r[11].as<std::string>();
    rc.attempts = r[12].as<int64_t>();
    rc.next_attempt_at = r[13].as<std::string>();
    rc.enqueued_at = r[14].as<std::string>();
    rc.updated_at = r[15].as<std::string>();
    rc.has_error = !r[16].is_null();
    rc.last_error = rc.has_error ? r[16].as<std::string>() : "";
    out.back().recipients.push_back(std::move(rc));
  }
  return out;
}

std::string RecipientJson(const RecipientRow& r) {
  JsonObject o;
  o.Add("recipient", ValidUtf8(r.recipient))
      .Add("kind", r.kind)
      .Add("state", r.state)
      .Add("attempts", r.attempts)
      .Add("next_attempt_at", r.next_attempt_at)
      .Add("enqueued_at", r.enqueued_at)
      .Add("updated_at", r.updated_at);
  if (r.has_error) {
    o.Add("last_error", ValidUtf8(r.last_error));
  } else {
    o.AddRaw("last_error", "null");
  }
  return o.str();
}

JsonObject MessageJson(const MessageRow& m) {
  std::vector<std::string> rcpts;
  for (const auto& r : m.recipients) rcpts.push_back(RecipientJson(r));
  JsonObject o;
  o.Add("id", m.id)
      .Add("received_at", m.received_at)
      .Add("age_seconds", m.age)
      .Add("size", m.size)
      .Add("sender", ValidUtf8(m.mail_from))
      .Add("source", m.source)
      .Add("helo", ValidUtf8(m.helo))
      .Add("client_addr", m.client_addr)
      .Add("auth_user", ValidUtf8(m.auth_user))
      .AddRaw("recipients", JsonArray(rcpts));
  return o;
}

void PrintRecipient(const RecipientRow& r) {
  std::printf("    %-9s %-6s attempts %-3" PRId64 " %s", r.state.c_str(), r.kind.c_str(),
              r.attempts, r.recipient.c_str());
  if (r.state == "queued" || r.state == "deferred")
    std::printf("  next %s", r.next_attempt_at.c_str());
  std::printf("\n");
  if (r.has_error) std::printf("        (%s)\n", r.last_error.c_str());
}

int List(Cli& cli, store::Pool& pool) {
  auto& a = cli.args;
  Filter f;
  if (!TakeFilter(a, f)) return 2;
  bool given = false;
  std::string limit_text = TakeOption(a, "--limit", &given);
  int64_t limit = 1000;
  if (given && (!absl::SimpleAtoi(limit_text, &limit) || limit < 1))
    return Fail("--limit needs a positive number", 2);
  if (Leftover(a, 1)) return 2;
  auto rows =
      pool.Transact([&](pqxx::work& tx) { return ToMessages(Query(tx, SelectSql(), f, limit)); });
  if (!rows.ok()) return Fail(rows.status());
  size_t recipients = 0;
  for (const auto& m : *rows) recipients += m.recipients.size();
  if (cli.json) {
    std::vector<std::string> items;
    for (const auto& m : *rows) items.push_back(MessageJson(m).str());
    std::printf("%s\n", JsonArray(items).c_str());
    return 0;
  }
  if (rows->empty()) {
    bool filtered = f.state != "pending" || !f.kind.empty() || !f.domain.empty() ||
                    f.sender_given || f.older_secs >= 0;
    std::printf("queue is empty%s\n", filtered ? " (for these filters)" : "");
    return 0;
  }
  std::printf("%-10s %-10s %-21s %-10s %s\n", "SPOOL-ID", "SIZE", "RECEIVED (UTC)", "SOURCE",
              "SENDER");
  for (const auto& m : *rows) {
    std::printf("%-10" PRId64 " %-10s %-21s %-10s %s\n", m.id, Size(m.size).c_str(),
                m.received_at.c_str(), m.source.c_str(),
                m.mail_from.empty() ? "<>" : m.mail_from.c_str());
    for (const auto& r : m.recipients) PrintRecipient(r);
  }
  std::printf("-- %zu message%s, %zu recipient%s\n", rows->size(), rows->size() == 1 ? "" : "s",
              recipients, recipients == 1 ? "" : "s");
  return 0;
}

// ---- show -------------------------------------------------------------------------------

int Show(Cli& cli, store::Pool& pool) {
  auto& a = cli.args;
  bool body = TakeFlag(a, "--body");
  if (Leftover(a, 2)) return 2;
  Filter f;
  f.state = "all";
  bool all = false;
  if (!TakeTarget(a[1], f, &all)) return 2;
  if (all) return Fail("show needs one spool id", 2);
  struct Shown {
    std::vector<MessageRow> rows;
    std::string message;
  };
  auto shown = pool.Transact([&](pqxx::work& tx) {
    Shown out;
    out.rows = ToMessages(Query(tx, SelectSql(), f, int64_t{1} << 62));
    if (!out.rows.empty()) {
      auto b = tx.exec_params("SELECT body FROM spool WHERE id = $1", f.id);
      if (!b.empty()) {
        pqxx::binarystring blob(b[0][0]);
        out.message = blob.str();
      }
    }
    return out;
  });
  if (!shown.ok()) return Fail(shown.status());
  if (shown->rows.empty()) return Fail(absl::StrCat("no spooled message with id ", f.id));
  const MessageRow& m = shown->rows[0];
  std::string_view text = body ? std::string_view(shown->message) : Headers(shown->message);
  if (cli.json) {
    JsonObject o = MessageJson(m);
    o.Add("headers", ValidUtf8(Headers(shown->message)));
    if (body) o.Add("message", ValidUtf8(shown->message));
    std::printf("%s\n", o.str().c_str());
    return 0;
  }
  std::printf("*** ENVELOPE RECORDS %" PRId64 " ***\n", m.id);
  std::printf("spool_id:    %" PRId64 "\nreceived_at: %s (%" PRId64 " s ago)\nsize:        %" PRId64
              " bytes\n",
              m.id, m.received_at.c_str(), m.age, m.size);
  std::printf("sender:      %s\nsource:      %s\n",
              m.mail_from.empty() ? "<>" : m.mail_from.c_str(), m.source.c_str());
  if (!m.helo.empty()) std::printf("helo:        %s\n", m.helo.c_str());
  if (!m.client_addr.empty()) std::printf("client:      %s\n", m.client_addr.c_str());
  if (!m.auth_user.empty()) std::printf("auth_user:   %s\n", m.auth_user.c_str());
  for (const auto& r : m.recipients) {
    std::printf("recipient:   %s (%s)\n", r.recipient.c_str(), r.kind.c_str());
    std::printf("    state %s, attempts %" PRId64 ", next attempt %s, enqueued %s, updated %s\n",
                r.state.c_str(), r.attempts, r.next_attempt_at.c_str(),
                r.enqueued_at.empty() ? "never" : r.enqueued_at.c_str(), r.updated_at.c_str());
    if (r.has_error) std::printf("    last error: %s\n", r.last_error.c_str());
  }
  std::printf("*** %s ***\n", body ? "MESSAGE CONTENTS" : "MESSAGE HEADERS");
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (!text.empty() && text.back() != '\n') std::printf("\n");
  std::printf("*** END OF MESSAGE ***\n");
  return 0;
}

// ---- retry, delete, flush ---------------------------------------------------------------

int Retry(Cli& cli, store::Pool& pool) {
  auto& a = cli.args;
  Filter f;
  f.recipient = absl::AsciiStrToLower(TakeOption(a, "--recipient"));
  if (!TakeFilter(a, f)) return 2;
  if (Leftover(a, 2)) return 2;
  bool all = false;
  if (!TakeTarget(a[1], f, &all)) return 2;
  if (f.state == "delivered") return Fail("delivered recipients cannot be retried", 2);
  auto due = pool.Transact([&](pqxx::work& tx) {
    auto rows = Query(
        tx,
        absl::StrCat("UPDATE spool_recipients u SET next_attempt_at = now(), updated_at = now(), "
                     "state = CASE WHEN u.state = 'failed' THEN 'queued' ELSE u.state END "
                     "FROM spool s JOIN spool_recipients r ON r.spool_id = s.id",
                     kWhere,
                     " AND r.state IN ('queued', 'deferred', 'failed') "
                     "AND u.spool_id = r.spool_id AND u.recipient = r.recipient "
                     "RETURNING u.spool_id, u.recipient, u.kind, COALESCE(u.account_id, 0)"),
        f);
    return DueRows(rows);
  });
  if (!due.ok()) return Fail(due.status());
  if (due->empty() && !all) return Fail(absl::StrCat("nothing to retry for spool id ", f.id));
  absl::Status s = EnqueueAll(cli.config, pool, *due);
  if (!s.ok()) {
    return Fail(absl::StrCat(due->size(), " recipient(s) are due now, but enqueueing failed (",
                             s.message(), "); the reconciler will enqueue them"));
  }
  std::set<int64_t> messages;
  for (const auto& d : *due) messages.insert(d.spool_id);
  if (cli.json) {
    std::printf("%s\n", JsonObject()
                            .Add("ok", true)
                            .Add("messages", static_cast<int64_t>(messages.size()))
                            .Add("recipients", static_cast<int64_t>(due->size()))
                            .str()
                            .c_str());
  } else {
    std::printf("%zu recipient(s) of %zu message(s) due now and enqueued\n", due->size(),
                messages.size());
  }
  return 0;
}

int Delete(Cli& cli, store::Pool& pool) {
  auto& a = cli.args;
  Filter f;
  f.recipient = absl::AsciiStrToLower(TakeOption(a, "--recipient"));
  bool yes = TakeFlag(a, "--yes") || TakeFlag(a, "-y");
  if (!TakeFilter(a, f)) return 2;
  if (Leftover(a, 2)) return 2;
  bool all = false;
  if (!TakeTarget(a[1], f, &all)) return 2;
  if (f.state == "delivered") return Fail("delivered recipients are not in the queue", 2);
  struct Deleted {
    int64_t recipients = 0, messages = 0;
  };
  bool dry_run = all && !yes;
  auto done = pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<Deleted> {
    Deleted d;
    // Row locks on the recipients first: a delivery in progress either finishes before
    // (the recipient is then delivered and kept) or finds its row gone.
    auto rows = Query(
        tx,
        absl::StrCat("SELECT r.spool_id, r.recipient FROM spool s JOIN spool_recipients r "
                     "ON r.spool_id = s.id",
                     kWhere, " AND r.state IN ('queued', 'deferred', 'failed') FOR UPDATE OF r"),
        f);
    std::set<int64_t> spools;
    for (const auto& r : rows) spools.insert(r[0].as<int64_t>());
    if (dry_run) {
      d.recipients = static_cast<int64_t>(rows.size());
      d.messages = static_cast<int64_t>(spools.size());
      return d;
    }
    for (const auto& r : rows) {
      d.recipients += tx.exec_params(
                            "DELETE FROM spool_recipients WHERE spool_id = $1 AND recipient = $2 "
                            "AND state IN ('queued', 'deferred', 'failed')",
                            r[0].as<int64_t>(), r[1].as<std::string>())
                          .affected_rows();
    }
    // A message with nothing left to deliver leaves the spool (as after its last delivery).
    for (int64_t id : spools) {
      d.messages += tx.exec_params(
                          "DELETE FROM spool s WHERE s.id = $1 AND NOT EXISTS (SELECT 1 FROM "
                          "spool_recipients r WHERE r.spool_id = s.id AND r.state IN "
                          "('queued', 'deferred', 'failed'))",
                          id)
                        .affected_rows();
    }
    return d;
  });
  if (!done.ok()) return Fail(done.status());
  if (dry_run) {
    if (done->recipients == 0) {
      if (cli.json) {
        std::printf(
            "%s\n",
            JsonObject().Add("ok", true).Add("messages", 0).Add("recipients", 0).str().c_str());
      } else {
        std::printf("nothing to delete\n");
      }
      return 0;
    }
    return Fail(absl::StrCat("this would delete ", done->recipients, " recipient(s) of ",
                             done->messages, " message(s); add --yes to delete them"));
  }
  if (done->recipients == 0 && !all) {
    return Fail(absl::StrCat("nothing to delete for spool id ", f.id,
                             " (not spooled, or already delivered)"));
  }
  if (cli.json) {
    std::printf("%s\n", JsonObject()
                            .Add("ok", true)
                            .Add("messages", done->messages)
                            .Add("recipients", done->recipients)
                            .str()
                            .c_str());
  } else {
    std::printf("deleted %" PRId64 " recipient(s); %" PRId64 " message(s) removed from the spool\n",
                done->recipients, done->messages);
  }
  return 0;
}

int Flush(Cli& cli, store::Pool& pool) {
  if (Leftover(cli.args, 1)) return 2;
  auto due = pool.Transact([&](pqxx::work& tx) {
    return DueRows(
        tx.exec("UPDATE spool_recipients SET next_attempt_at = now(), updated_at = now() "
                "WHERE state = 'deferred' "
                "RETURNING spool_id, recipient, kind, COALESCE(account_id, 0)"));
  });
  if (!due.ok()) return Fail(due.status());
  absl::Status s = EnqueueAll(cli.config, pool, *due);
  if (!s.ok()) return Fail(s);
  absl::Status error;
  auto redis = OpenRedis(cli.config, &error);
  if (!redis) return Fail(error);
  // In flight = enqueued within the consumers' claim window (as kite-delivery's reconciler).
  auto stale = cli.config.Duration("delivery", "claim_idle") * 5;
  int64_t reconciled = 0;
  for (const char* kind : {"local", "remote"}) {
    for (int round = 0; round < 1000; ++round) {
      auto n = queue::Reconcile(pool, *redis, kind, stale, 1000);
      if (!n.ok()) return Fail(n.status());
      reconciled += *n;
      if (*n < 1000) break;
    }
  }
  if (cli.json) {
    std::printf("%s\n", JsonObject()
                            .Add("ok", true)
                            .Add("deferred", static_cast<int64_t>(due->size()))
                            .Add("reconciled", reconciled)
                            .str()
                            .c_str());
  } else {
    std::printf("%zu deferred recipient(s) due now and enqueued; %" PRId64
                " due recipient(s) missing from Redis enqueued\n",
                due->size(), reconciled);
  }
  return 0;
}

// ---- stats ------------------------------------------------------------------------------

int Stats(Cli& cli, store::Pool& pool) {
  if (Leftover(cli.args, 1)) return 2;
  auto counts = pool.Transact([](pqxx::work& tx) {
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& row : tx.exec(
             "SELECT kind || '/' || state, count(*) FROM spool_recipients GROUP BY 1 ORDER BY 1")) {
      out.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>());
    }
    return out;
  });
  if (!counts.ok()) return Fail(counts.status());
  absl::Status error;
  auto redis = OpenRedis(cli.config, &error);
  if (!redis) return Fail(error);
  JsonObject spool, streams;
  if (!cli.json) {
    std::printf("spool recipients by kind/state:\n");
    if (counts->empty()) std::printf("  (none)\n");
  }
  for (const auto& [k, n] : *counts) {
    spool.Add(k, n);
    if (!cli.json) std::printf("  %-24s %" PRId64 "\n", k.c_str(), n);
  }
  for (auto [stream, group] : {std::pair{queue::kDeliverStream, queue::kDeliverGroup},
                               std::pair{queue::kOutboundStream, queue::kOutboundGroup}}) {
    auto len = redis->XLen(stream);
    auto pending = redis->Command({"XPENDING", stream, group});
    long long p =
        pending.ok() && pending->type == redis::Reply::kArray && !pending->elements.empty()
            ? pending->elements[0].integer
            : 0;
    streams.AddRaw(stream, JsonObject()
                               .Add("length", static_cast<int64_t>(len.ok() ? *len : -1))
                               .Add("pending", static_cast<int64_t>(p))
                               .str());
    if (!cli.json)
      std::printf("stream %-16s length %lld, pending %lld\n", stream, len.ok() ? *len : -1LL, p);
  }
  if (cli.json)
    std::printf(
        "%s\n",
        JsonObject().AddRaw("spool", spool.str()).AddRaw("streams", streams.str()).str().c_str());
  return 0;
}

int Queue(Cli& cli) {
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  using Handler = int (*)(Cli&, store::Pool&);
  const std::pair<const char*, Handler> kSub[] = {{"list", List},   {"show", Show},
                                                  {"retry", Retry}, {"delete", Delete},
                                                  {"flush", Flush}, {"stats", Stats}};
  for (const auto& [name, handler] : kSub) {
    if (a[0] != name) continue;
    // Options may come before or after the target: each handler takes its options first.
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    return handler(cli, *pool);
  }
  return Usage(kUsage, false);
}

}  // namespace

static const Registration kQueueCommand{
    "queue", Queue, "list | show | retry | delete | flush | stats: the mail queue"};

}  // namespace kite::kitectl

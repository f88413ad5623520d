// kitectl calendar: sharing of calendars (migration 0012 calendar_shares). A share gives an
// account or a list (its members, nested lists and aliases included, resolved by kite-caldav
// at each request) read, read-write (objects, not the calendar itself) or freebusy access to
// one calendar of the owner. Delegation of all calendars is `kitectl grant` (account_grants).
#include <cstdio>
#include <string>
#include <vector>

#include "kitectl/commands.h"
#include "lib/directory/directory.h"

namespace kite::kitectl {
namespace {

constexpr char kUsage[] =
    "Usage: kitectl calendar share OWNER CALENDAR GRANTEE read|read-write|freebusy\n"
    "       kitectl calendar unshare OWNER CALENDAR GRANTEE\n"
    "       kitectl calendar list OWNER            (calendars and their shares)\n"
    "CALENDAR is the calendar's name in its URL (/dav/calendars/OWNER/CALENDAR/), e.g. \"calendar\".\n"
    "GRANTEE is an account or a list address. Grantees use the owner's URLs; the owner's\n"
    "default calendar exists once the owner has used CalDAV (or: share creates it).\n";

int Calendar(Cli& cli) {
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  const size_t want = verb == "share" ? 4 : verb == "unshare" ? 3 : verb == "list" ? 1 : 0;
  if (want == 0 || a.size() != want) return Usage(kUsage, false);
  if (verb == "share" && a[3] != "read" && a[3] != "read-write" && a[3] != "freebusy") {
    return Fail("access must be read, read-write or freebusy", 2);
  }
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  auto owner = directory::FindAccount(*pool, a[0]);
  if (!owner.ok()) return Fail(owner.status());
  if (!*owner) return Fail("no such user: " + a[0]);
  const int64_t owner_id = (*owner)->id;

  if (verb == "list") {
    auto rows = pool->Transact([&](pqxx::work& tx) {
      std::vector<std::vector<std::string>> out;
      for (const auto& r : tx.exec_params(
               "SELECT c.uri, c.kind, c.display_name, coalesce(a.address, l.address, ''), coalesce(s.access, '') "
               "FROM calendars c LEFT JOIN calendar_shares s ON s.owner_account_id = c.account_id AND "
               "s.calendar_id = c.id LEFT JOIN accounts a ON a.id = s.grantee_account_id "
               "LEFT JOIN lists l ON l.id = s.grantee_list_id WHERE c.account_id = $1 ORDER BY c.uri, 4",
               owner_id)) {
        out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                       r[3].as<std::string>(), r[4].as<std::string>()});
      }
      return out;
    });
    if (!rows.ok()) return Fail(rows.status());
    std::vector<std::string> items;
    for (const auto& r : *rows) {
      if (cli.json) {
        items.push_back(JsonObject()
                            .Add("calendar", r[0])
                            .Add("kind", r[1])
                            .Add("display_name", r[2])
                            .Add("grantee", r[3])
                            .Add("access", r[4])
                            .str());
      } else {
        std::printf("%-20s %-8s %-24s %s %s\n", r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str(),
                    r[4].c_str());
      }
    }
    if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
    return 0;
  }

  const std::string grantee = a[2];
  auto done = pool->Transact([&](pqxx::work& tx) -> absl::StatusOr<bool> {
    pqxx::result cal = tx.exec_params(
        "SELECT id FROM calendars WHERE account_id = $1 AND uri = $2 AND kind = 'calendar'", owner_id, a[1]);
    int64_t cal_id = 0;
    if (cal.empty()) {
      if (a[1] != "calendar" || verb != "share") return absl::NotFoundError("no such calendar: " + a[1]);
      cal_id = tx.exec_params1("INSERT INTO calendars (account_id, uri, display_name) VALUES ($1, 'calendar', "
                               "'Calendar') RETURNING id",
                               owner_id)[0]
                   .as<int64_t>();
    } else {
      cal_id = cal[0][0].as<int64_t>();
    }
    pqxx::result claim = tx.exec_params("SELECT kind, owner_id FROM address_claims WHERE address = lower($1)", grantee);
    if (claim.empty() || claim[0][0].as<std::string>() == "alias") {
      return absl::NotFoundError("no such account or list: " + grantee);
    }
    const bool list = claim[0][0].as<std::string>() == "list";
    const int64_t gid = claim[0][1].as<int64_t>();
    if (!list && gid == owner_id) return absl::InvalidArgumentError("the owner needs no share");
    const char* col = list ? "grantee_list_id" : "grantee_account_id";
    tx.exec_params(std::string("DELETE FROM calendar_shares WHERE owner_account_id = $1 AND calendar_id = $2 AND ") +
                       col + " = $3",
                   owner_id, cal_id, gid);
    if (verb == "share") {
      tx.exec_params(std::string("INSERT INTO calendar_shares (owner_account_id, calendar_id, ") + col +
                         ", access) VALUES ($1, $2, $3, $4)",
                     owner_id, cal_id, gid, a[3]);
    }
    return true;
  });
  if (!done.ok()) return Fail(done.status());
  if (cli.json) {
    std::printf("%s\n", JsonObject().Add("ok", true).str().c_str());
  } else if (verb == "share") {
    std::printf("calendar %s of %s shared with %s (%s)\n", a[1].c_str(), (*owner)->address.c_str(), grantee.c_str(),
                a[3].c_str());
  } else {
    std::printf("calendar %s of %s no longer shared with %s\n", a[1].c_str(), (*owner)->address.c_str(),
                grantee.c_str());
  }
  return 0;
}

const Registration kCalendar{"calendar", Calendar, "share | unshare | list calendars (CalDAV sharing)"};

}  // namespace
}  // namespace kite::kitectl

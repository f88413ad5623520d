// Filing mail inside a caller's transaction. kite-delivery commits a message's spool state
// and its mailbox entries in one PostgreSQL transaction (exactly once per spool id and
// recipient: design.md), so it cannot call MailStore, whose calls are transactions of their
// own; it files through a Filer on its transaction instead. lib/directory creates a new
// account's mailboxes the same way. The rules are MailStore's (mailstore.h), and the locking
// order PgMailStore's: quota row first (LockQuota), then mailbox rows.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "lib/mailstore/mailstore.h"

namespace kite::mailstore {

class Filer {
 public:
  explicit Filer(pqxx::work& tx) : tx_(tx) {}

  // The names of the account's mailboxes (Sieve's mailboxexists, fileinto).
  std::set<std::string> MailboxNames(int64_t account_id);
  // The name of the account's \Junk special-use mailbox (RFC 6154); when there is none, a
  // mailbox named "Junk" (created with \Junk if missing).
  std::string JunkMailbox(int64_t account_id);
  // Creates the mailbox when missing (a UIDVALIDITY by MailStore's rule, special use as
  // given); true when it was created.
  bool EnsureMailbox(int64_t account_id, const std::string& name, const std::string& special_use = "");

  // The messages row for a spooled body: an identical stored body (same SHA-256 and size)
  // is reused, else the spool's body is copied in with its structure and search columns
  // (ComputeSearchColumns).
  int64_t BodyFromSpool(int64_t spool_id, std::string_view sha256, int64_t size, std::string_view structure,
                        const SearchColumns& search);
  // The messages row for a body made here (a quota warning): stored, or reused when identical.
  int64_t StoreBody(std::string_view body, std::string_view structure, const SearchColumns& search);

  struct Usage {
    int64_t bytes = 0;
    bool warned = false;  // the quota warning was sent for the current crossing
  };
  // Locks the account's usage row (created when missing) and returns it: concurrent
  // deliveries to one account queue here, so usage stays exact.
  Usage LockQuota(int64_t account_id);
  // Adds to the usage LockQuota returned and sets its warning state.
  void AddUsage(int64_t account_id, int64_t bytes, int64_t messages, bool warned);

  struct Filed {
    int64_t account_id = 0;
    int64_t mailbox_id = 0;
    int64_t uid = 0;
    int64_t modseq = 0;
    std::string mailbox;
  };
  // A new entry for `message_id` in `mailbox` with the next UID and MODSEQ, `flags` and the
  // current time as internal date. A missing mailbox is created when `create`, else nullopt.
  std::optional<Filed> File(int64_t account_id, const std::string& mailbox, bool create,
                            const std::vector<std::string>& flags, int64_t message_id, int64_t size);

 private:
  pqxx::work& tx_;
};

}  // namespace kite::mailstore

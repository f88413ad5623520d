// One IMAP connection's state and its command handlers (private to kite-imap). commands.cc
// holds the command table (states, UID form, EXPUNGE rules) and the dispatcher; the handlers
// are split by area: session.cc (the loop, authentication, ID, ENABLE, IDLE),
// mailbox_commands.cc (mailbox management, LIST, STATUS, APPEND, QUOTA, ACL),
// message_commands.cc (SELECT and the selected state: FETCH, STORE, SEARCH, SORT, THREAD,
// COPY, MOVE, EXPUNGE).
//
// Conventions: a handler appends untagged responses to out_ (flushing with FlushIfLarge()
// when it may grow big) and sets result_ to "OK ...", "NO ..." or "BAD ..."; the loop adds
// the tag. GCC 12 destroys some temporaries of a co_await expression twice, and miscompiled a
// co_await inside an if condition in a handler here (an ud2 trap at run time): every awaited
// call takes named objects only, and its result goes into a named variable first.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "imap/imap_session.h"
#include "imap/view.h"
#include "lib/imap/receiver.h"
#include "lib/mailstore/mailstore.h"

namespace kite::imap {

class Watch;

inline constexpr const char* kNoPerm = "NO [NOPERM] You have no access to this mailbox";
inline constexpr const char* kUnavailable = "NO [UNAVAILABLE] Temporary failure, try again";
inline constexpr size_t kFlushThreshold = 256 * 1024;
inline constexpr size_t kMaxFlagsPerMessage = 100;
inline constexpr size_t kMaxMailboxNameLength = 1000;

// What the user may do on a shared mailbox, as kite-auth says now.
struct SharedAccess {
  bool answered = false;  // false: kite-auth unavailable
  int64_t owner = 0;
  bool read = false;
  bool write = false;
};

// A mailbox name resolved to its owning account.
struct Target {
  std::string error;  // the tagged NO when it cannot be used
  int64_t owner = 0;
  std::string shared;  // the shared mailbox's address; "" for the user's own
  bool may_write = true;
  std::string name;  // the name in the owner's account
  mailstore::MailboxInfo info;
};

class Session {
 public:
  Session(Server& server, std::shared_ptr<net::Connection> conn);
  ~Session();
  boost::asio::awaitable<void> Run();

 private:
  struct Selected {
    mailstore::MailboxInfo info;
    std::string client_name;  // as the client named it (responses)
    int64_t owner = 0;
    std::string shared;  // address of a shared mailbox
    bool may_write = true;
    bool read_only = false;
  };

  // --- I/O (session.cc)
  boost::asio::awaitable<bool> WriteBuffer();  // writes and clears wbuf_
  boost::asio::awaitable<bool> FlushIfLarge();  // writes out_ when over kFlushThreshold
  // The next raw line from the client (AUTHENTICATE responses, IDLE's DONE).
  boost::asio::awaitable<absl::StatusOr<std::string>> ReadRawLine(std::chrono::milliseconds timeout);
  std::string Capability() const;
  MailboxView::Options ViewOptions(bool allow_expunge) const;
  // A CONDSTORE enabling command (RFC 7162 3.1): FETCH MODSEQ or CHANGEDSINCE, SEARCH MODSEQ,
  // STORE UNCHANGEDSINCE, STATUS HIGHESTMODSEQ, ENABLE.
  void EnableCondstore();

  // --- directory and mailbox resolution (mailbox_commands.cc)
  boost::asio::awaitable<SharedAccess> AskShared(const std::string& address);
  // SELECT / EXAMINE / STATUS / APPEND / COPY targets. `need_write`: APPEND, COPY, MOVE.
  boost::asio::awaitable<Target> ResolveMailbox(const std::string& raw, bool need_write);
  // Before a command that reads the selected shared mailbox: still granted?
  boost::asio::awaitable<std::string> RecheckShared(const std::string& command);
  // Reads the change log and appends the untagged updates (NOOP, IDLE, after commands).
  boost::asio::awaitable<bool> SyncSelected(bool allow_expunge);

  // --- the command table and the dispatcher (commands.cc)
  using Handler = boost::asio::awaitable<void> (Session::*)(const Command&);
  enum StateBit : uint8_t { kNotAuthenticated = 1, kAuthenticated = 2, kSelected = 4 };
  struct CommandSpec {
    std::string_view name;
    Handler handler;
    uint8_t states = 0;           // StateBits the command is allowed in
    bool uid_form = false;        // UID <name> exists
    bool by_number = false;       // names messages by sequence number unless given as UID
    bool sends_expunge = false;   // may send EXPUNGE itself (EXPUNGE, MOVE)
    bool sync_before = false;     // the selected mailbox's pending changes come first
    bool sync_after = false;      // ... and after it (new messages it put there)
    bool recheck_shared = false;  // a selected shared mailbox's grant is asked again first
  };
  static const CommandSpec* FindCommand(std::string_view name);
  boost::asio::awaitable<void> Dispatch(const Command& cmd);
  boost::asio::awaitable<void> CmdCapability(const Command& cmd);
  boost::asio::awaitable<void> CmdNoop(const Command& cmd);  // and CHECK
  boost::asio::awaitable<void> CmdLogout(const Command& cmd);
  boost::asio::awaitable<void> CmdStartTls(const Command& cmd);
  boost::asio::awaitable<void> CmdNamespace(const Command& cmd);
  boost::asio::awaitable<void> CmdCompress(const Command& cmd);

  // session.cc
  boost::asio::awaitable<void> CmdLogin(const Command& cmd);
  boost::asio::awaitable<void> CmdAuthenticate(const Command& cmd);
  boost::asio::awaitable<void> CmdIdle(const Command& cmd);
  boost::asio::awaitable<void> CmdId(const Command& cmd);
  boost::asio::awaitable<void> CmdEnable(const Command& cmd);
  // mailbox_commands.cc
  boost::asio::awaitable<void> CmdCreate(const Command& cmd);
  boost::asio::awaitable<void> CmdDelete(const Command& cmd);
  boost::asio::awaitable<void> CmdRename(const Command& cmd);
  boost::asio::awaitable<void> CmdSubscribe(const Command& cmd);
  boost::asio::awaitable<void> CmdList(const Command& cmd);
  boost::asio::awaitable<void> CmdStatus(const Command& cmd);
  boost::asio::awaitable<void> CmdAppend(const Command& cmd);
  boost::asio::awaitable<void> CmdQuota(const Command& cmd);
  boost::asio::awaitable<void> CmdAcl(const Command& cmd);
  // metadata_commands.cc
  boost::asio::awaitable<void> CmdGetMetadata(const Command& cmd);
  boost::asio::awaitable<void> CmdSetMetadata(const Command& cmd);
  // The STATUS items for one mailbox ("MESSAGES 3 UIDNEXT 9"); error on failure.
  boost::asio::awaitable<std::string> StatusItems(const Target& target, const std::vector<std::string>& items,
                                                  std::string* error);
  // message_commands.cc
  boost::asio::awaitable<void> CmdSelect(const Command& cmd);
  boost::asio::awaitable<void> CmdClose(const Command& cmd);
  boost::asio::awaitable<void> CmdFetch(const Command& cmd);
  boost::asio::awaitable<void> CmdStore(const Command& cmd);
  boost::asio::awaitable<void> CmdCopy(const Command& cmd);
  boost::asio::awaitable<void> CmdExpunge(const Command& cmd);
  boost::asio::awaitable<void> CmdSearch(const Command& cmd);
  // Expunges the \Deleted messages among `uids` (all when empty) of the selected mailbox.
  boost::asio::awaitable<absl::StatusOr<std::vector<int64_t>>> ExpungeDeleted(const std::vector<int64_t>* only);

  Server& server_;
  daemon::Runtime& rt_;
  mailstore::MailStore& mail_;
  std::shared_ptr<net::Connection> conn_;
  Receiver::Limits rlimits_;
  std::unique_ptr<Receiver> receiver_;
  std::string client_;

  int64_t account_id_ = 0;
  std::string account_;
  std::optional<Selected> sel_;
  MailboxView view_;
  std::shared_ptr<Watch> watch_;  // notifications for the selected mailbox's owner
  bool condstore_ = false;
  bool qresync_ = false;
  bool compressed_ = false;
  std::vector<uint32_t> saved_;  // SEARCHRES "$" (UIDs)
  bool saved_valid_ = false;

  std::string out_;
  std::string result_;
  std::string wbuf_;
  bool logout_ = false;
  bool answered_ = false;  // the handler wrote the tagged response (STARTTLS, COMPRESS)
  int bad_in_a_row_ = 0;
};

// Small shared helpers.
// Client text in logs and replies: printable ASCII only, at most 200 bytes.
std::string Printable(std::string_view s);
std::string CanonicalFlag(const std::string& flag);
bool HasFlag(const std::vector<std::string>& flags, std::string_view flag);
std::string InternalDate(int64_t unix_seconds);
// RFC 3501 date-time ("17-Jul-1996 02:44:25 -0700") to unix seconds.
std::optional<int64_t> ParseDateTime(std::string_view text);

}  // namespace kite::imap

// Sieve mail filtering (RFC 5228) for kite-delivery: compile a user's script once (refusing
// it with the line and the reason when it is wrong), then run it against each message to get
// the list of actions to carry out.
//
// Extensions: fileinto, reject and ereject (RFC 5429), envelope, imap4flags (RFC 5232),
// vacation (RFC 5230) and vacation-seconds (RFC 6131), mailbox (RFC 5490: fileinto :create,
// mailboxexists), copy (RFC 3894), comparator-i;octet and comparator-i;ascii-casemap.
//
// Untrusted input: the script (bounded by Limits: size, nesting, commands, strings) and the
// message as seen through the Message interface (header values already unfolded and
// RFC 2047-decoded by the caller). Nothing here does I/O: redirect and vacation are returned
// as actions; the caller sends them (vacation's per-sender period, list and auto-submitted
// checks and RFC 3834 headers are the caller's job). A runtime error (Execute returning a
// non-OK status) means "file into INBOX": mail is never lost.
#ifndef KITE_SERVICES_LIB_SIEVE_SIEVE_H_
#define KITE_SERVICES_LIB_SIEVE_SIEVE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::sieve {

struct Limits {
  size_t max_script_size = 64 * 1024;
  int max_nesting = 15;        // nested blocks and nested tests
  size_t max_commands = 1024;  // commands and tests in the script
  size_t max_string_length = 16 * 1024;
  size_t max_list_length = 256;  // strings in one string list
  size_t max_tokens = 32 * 1024;
  int max_redirects = 4;    // redirect actions per run
  size_t max_actions = 64;  // actions per run (after collapsing duplicates)
  // Comparison work per run, charged (|value|+1)*(|key|+1) per :contains/:matches and
  // |value|+|key| per :is, so a hostile script cannot burn CPU on large headers.
  uint64_t max_match_cost = 200'000'000;
};

struct CompileError {
  int line = 0;
  int column = 0;
  std::string message;           // the reason, without the position
  std::string ToString() const;  // "line 4: unknown command \"fileino\""
};

// ---- the compiled script ----------------------------------------------------------------

enum class MatchType { kIs, kContains, kMatches };
enum class Comparator { kOctet, kAsciiCasemap };
enum class AddressPart { kAll, kLocalPart, kDomain };

struct TestNode {
  enum class Kind {
    kAddress,
    kEnvelope,
    kHeader,
    kExists,
    kSize,
    kAllOf,
    kAnyOf,
    kNot,
    kTrue,
    kFalse,
    kHasFlag,
    kMailboxExists,
  };
  Kind kind = Kind::kTrue;
  MatchType match = MatchType::kIs;
  Comparator comparator = Comparator::kAsciiCasemap;
  AddressPart address_part = AddressPart::kAll;
  std::vector<std::string> names;  // header names, envelope parts, flags (hasflag), mailboxes
  std::vector<std::string> keys;
  bool over = false;  // size :over (else :under)
  uint64_t limit = 0;
  std::vector<TestNode> children;  // allof/anyof/not
  int line = 0;
};

struct VacationParams {
  uint64_t seconds = 7 * 86400;  // the per-sender period (:days * 86400 or :seconds)
  std::string subject;           // empty: the caller builds "Auto: <original subject>"
  std::string from;
  std::vector<std::string> addresses;
  bool mime = false;
  std::string handle;  // :handle, or derived from the other parameters
  std::string reason;
};

struct CommandNode;
struct Branch {
  bool has_test = false;  // false for else
  TestNode test;
  std::vector<CommandNode> block;
};

struct CommandNode {
  enum class Kind {
    kIf,
    kKeep,
    kFileInto,
    kRedirect,
    kDiscard,
    kStop,
    kReject,
    kEreject,
    kVacation,
    kSetFlag,
    kAddFlag,
    kRemoveFlag,
  };
  Kind kind = Kind::kKeep;
  std::vector<Branch> branches;  // if / elsif... / else
  std::string argument;          // mailbox, address, reason
  bool copy = false;
  bool create = false;
  bool has_flags = false;          // :flags given
  std::vector<std::string> flags;  // :flags, or the flag list of setflag/addflag/removeflag
  VacationParams vacation;
  int line = 0;
};

struct Script {
  std::vector<std::string> extensions;  // as required
  std::vector<CommandNode> commands;
};

// Compiles `text`; on error returns InvalidArgument with CompileError::ToString() as the
// message and fills `error` when given.
absl::StatusOr<Script> Compile(std::string_view text, const Limits& limits = {},
                               CompileError* error = nullptr);

// ---- running it -------------------------------------------------------------------------

// The message as the interpreter sees it.
class Message {
 public:
  virtual ~Message() = default;
  // Values of every field named `name` (case-insensitive), unfolded and decoded, in order.
  virtual std::vector<std::string> HeaderValues(std::string_view name) const = 0;
  // The envelope: MAIL FROM ("" for the null sender) and the RCPT TO this delivery is for.
  virtual std::string EnvelopeFrom() const = 0;
  virtual std::string EnvelopeTo() const = 0;
  virtual uint64_t Size() const = 0;
};

struct Action {
  enum class Kind { kKeep, kFileInto, kDiscard, kRedirect, kReject, kEreject, kVacation };
  Kind kind = Kind::kKeep;
  std::string mailbox;             // fileinto
  bool create = false;             // fileinto :create
  std::vector<std::string> flags;  // keep/fileinto: the IMAP flags to set
  std::string address;             // redirect
  bool copy = false;               // fileinto/redirect :copy
  std::string reason;              // reject/ereject
  VacationParams vacation;
  bool implicit = false;  // the implicit keep
  int line = 0;           // the command that caused it (0 for the implicit keep)
};

struct Result {
  std::vector<Action> actions;  // in execution order; the implicit keep (if any) last
};

struct ExecuteOptions {
  Limits limits;
  // mailboxexists (RFC 5490); without it every mailbox is reported missing.
  std::function<bool(std::string_view mailbox)> mailbox_exists;
};

// Runs the script. A non-OK status is a runtime error (too many redirects or actions,
// conflicting actions such as reject with fileinto, the match cost exceeded): the caller
// files into INBOX.
absl::StatusOr<Result> Execute(const Script& script, const Message& message,
                               const ExecuteOptions& options = {});

const char* ActionKindName(Action::Kind kind);

// The extensions `require` accepts, in the order ManageSieve advertises them (SIEVE
// capability, RFC 5804 1.7).
const std::vector<std::string>& Extensions();

}  // namespace kite::sieve

#endif  // KITE_SERVICES_LIB_SIEVE_SIEVE_H_

// GETMETADATA and SETMETADATA (RFC 5464): annotations on mailboxes and on the server (the
// mailbox name ""). Entry names and DEPTH matching are lib/imap/metadata's; the entries live
// in the mail store. Server entries are the account's: /private ones the user sets freely,
// /shared ones are the administrator's (refused here). On a shared mailbox a member reads
// the /shared entries and keeps /private ones of their own; writing /shared needs the write
// right.
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "imap/session.h"
#include "lib/imap/mailbox_name.h"
#include "lib/imap/metadata.h"
#include "lib/imap/quote.h"

namespace kite::imap {
namespace {

constexpr size_t kMaxMetadataValue = 64 * 1024;   // [METADATA MAXSIZE]
constexpr size_t kMaxMetadataEntries = 100;       // per mailbox and user: [METADATA TOOMANY]
constexpr size_t kMaxEntriesPerCommand = 100;

// A value as RFC 5464 sends it: a quoted string or literal, a literal8 when it holds NUL.
std::string MetadataValue(const std::string& v) {
  if (v.find('\0') != std::string::npos) return absl::StrCat("~{", v.size(), "}\r\n", v);
  return QuoteString(v);
}

}  // namespace

// GETMETADATA [(MAXSIZE n DEPTH 0|1|infinity)] mailbox entry | (entry ...)
boost::asio::awaitable<void> Session::CmdGetMetadata(const Command& cmd) {
  static constexpr const char* kSyntax =
      "BAD Syntax: GETMETADATA [(MAXSIZE n DEPTH 0|1|infinity)] mailbox entry | (entry ...)";
  size_t at = 0;
  std::optional<uint64_t> max_size;
  int depth = 0;
  if (!cmd.args.empty() && cmd.args[0].kind == Token::kList) {
    const auto& opts = cmd.args[0].children;
    if (opts.size() % 2 != 0) {
      result_ = kSyntax;
      co_return;
    }
    for (size_t i = 0; i < opts.size(); i += 2) {
      const std::string key = absl::AsciiStrToUpper(opts[i].value);
      const std::string& value = opts[i + 1].value;
      uint64_t n = 0;
      if (key == "MAXSIZE" && absl::SimpleAtoi(value, &n)) {
        max_size = n;
      } else if (key == "DEPTH" && (value == "0" || value == "1" || absl::EqualsIgnoreCase(value, "infinity"))) {
        depth = value == "0" ? 0 : value == "1" ? 1 : kInfiniteDepth;
      } else {
        result_ = kSyntax;
        co_return;
      }
    }
    at = 1;
  }
  if (cmd.args.size() != at + 2 || !cmd.args[at].IsString()) {
    result_ = kSyntax;
    co_return;
  }
  std::vector<std::string> wanted;
  const Token& list = cmd.args[at + 1];
  const std::vector<Token> single{list};
  const std::vector<Token>& entries = list.kind == Token::kList ? list.children : single;
  if (entries.empty() || entries.size() > kMaxEntriesPerCommand) {
    result_ = kSyntax;
    co_return;
  }
  for (const Token& t : entries) {
    auto name = t.IsString() && t.kind != Token::kNil ? NormalizeMetadataEntry(t.value) : std::nullopt;
    if (!name) {
      result_ = "BAD Invalid metadata entry name";
      co_return;
    }
    wanted.push_back(std::move(*name));
  }
  const std::string raw = cmd.args[at].value;
  int64_t owner = account_id_, mailbox_id = 0;
  if (!raw.empty()) {
    Target target = co_await ResolveMailbox(raw, false);
    if (!target.error.empty()) {
      result_ = target.error;
      co_return;
    }
    owner = target.owner;
    mailbox_id = target.info.id;
  }
  const int64_t user = account_id_;
  auto stored = co_await rt_.Blocking([&] { return mail_.GetMetadata(owner, mailbox_id, user); });
  if (!stored.ok()) {
    result_ = absl::IsNotFound(stored.status()) ? "NO [NONEXISTENT] No such mailbox" : kUnavailable;
    co_return;
  }
  std::string items;
  size_t longest_skipped = 0;
  auto add = [&](const std::string& name, const std::string* value) {
    if (value != nullptr && max_size && value->size() > *max_size) {
      longest_skipped = std::max(longest_skipped, value->size());
      return;
    }
    absl::StrAppend(&items, items.empty() ? "" : " ", name, " ", value ? MetadataValue(*value) : "NIL");
  };
  for (const std::string& w : wanted) {
    bool found = false;
    for (const auto& e : *stored) {
      if (e.name == w) found = true;
      if (MetadataEntryMatches(w, e.name, depth)) add(e.name, &*e.value);
    }
    if (!found) add(w, nullptr);  // asked for and absent: NIL (as Dovecot answers)
  }
  if (!items.empty()) {
    absl::StrAppend(&out_, "* METADATA ", AString(raw.empty() ? raw : NormalizeInbox(raw)), " (", items, ")\r\n");
  }
  result_ = longest_skipped > 0
                ? absl::StrCat("OK [METADATA LONGENTRIES ", longest_skipped, "] GETMETADATA completed")
                : "OK GETMETADATA completed";
}

// SETMETADATA mailbox (entry value|NIL ...)
boost::asio::awaitable<void> Session::CmdSetMetadata(const Command& cmd) {
  if (cmd.args.size() != 2 || !cmd.args[0].IsString() || cmd.args[1].kind != Token::kList ||
      cmd.args[1].children.empty() || cmd.args[1].children.size() % 2 != 0 ||
      cmd.args[1].children.size() > 2 * kMaxEntriesPerCommand) {
    result_ = "BAD Syntax: SETMETADATA mailbox (entry value ...)";
    co_return;
  }
  const std::string raw = cmd.args[0].value;
  const auto& pairs = cmd.args[1].children;
  std::vector<mailstore::MetadataEntry> changes;
  bool shared_entry = false;
  for (size_t i = 0; i < pairs.size(); i += 2) {
    auto name = pairs[i].IsString() && pairs[i].kind != Token::kNil ? NormalizeMetadataEntry(pairs[i].value)
                                                                      : std::nullopt;
    if (!name || !(pairs[i + 1].IsString() || pairs[i + 1].kind == Token::kNil)) {
      result_ = "BAD Invalid metadata entry name or value";
      co_return;
    }
    shared_entry = shared_entry || !IsPrivateEntry(*name);
    mailstore::MetadataEntry e{std::move(*name), std::nullopt};
    if (pairs[i + 1].kind != Token::kNil) {
      if (pairs[i + 1].value.size() > kMaxMetadataValue) {
        result_ = absl::StrCat("NO [METADATA MAXSIZE ", kMaxMetadataValue, "] The value is too long");
        co_return;
      }
      e.value = pairs[i + 1].value;
    }
    changes.push_back(std::move(e));
  }
  int64_t owner = account_id_, mailbox_id = 0;
  if (raw.empty()) {
    if (shared_entry) {
      result_ = "NO [NOPERM] Server /shared entries are set by the administrator";
      co_return;
    }
  } else {
    Target target = co_await ResolveMailbox(raw, false);
    if (!target.error.empty()) {
      result_ = target.error;
      co_return;
    }
    if (shared_entry && !target.may_write) {
      result_ = kNoPerm;
      co_return;
    }
    owner = target.owner;
    mailbox_id = target.info.id;
  }
  const int64_t user = account_id_;
  absl::Status st =
      co_await rt_.Blocking([&] { return mail_.SetMetadata(owner, mailbox_id, user, changes, kMaxMetadataEntries); });
  if (st.ok()) {
    result_ = "OK SETMETADATA completed";
  } else if (absl::IsResourceExhausted(st)) {
    result_ = "NO [METADATA TOOMANY] Too many metadata entries";
  } else if (absl::IsNotFound(st)) {
    result_ = "NO [NONEXISTENT] No such mailbox";
  } else {
    result_ = kUnavailable;
  }
}

}  // namespace kite::imap

// Mailbox-level IMAP commands: shared-mailbox resolution, CREATE, DELETE, RENAME,
// SUBSCRIBE/UNSUBSCRIBE, LIST/LSUB (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), STATUS, APPEND,
// QUOTA and ACL. See imap_session.h for SECURITY and STANDARDS.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "imap/session.h"
#include "lib/base/strings.h"
#include "lib/imap/mailbox_name.h"
#include "lib/imap/object_id.h"
#include "lib/imap/quote.h"
#include "lib/log/log.h"
#include "lib/rpc/rpc.h"

namespace kite::imap {
namespace {

namespace dv1 = kite::directory::v1;

// RFC 4314 rights: the owner has all of them; a shared mailbox's read grant is "lrs", its
// write grant adds "wite" (flags, append, delete messages, expunge).
constexpr const char* kOwnerRights = "lrswipkxtea";
constexpr const char* kReadRights = "lrs";
constexpr const char* kWriteRights = "lrswite";

// A name a user may create: not empty, bounded, no control characters, no empty levels, and
// not in the shared namespace.
std::string CheckNewName(const std::string& name) {
  if (name.empty() || name.size() > kMaxMailboxNameLength) return "BAD Invalid mailbox name";
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return "BAD Invalid character in mailbox name";
  }
  if (name.front() == '/' || absl::StrContains(name, "//")) return "NO [CANNOT] Empty hierarchy level in the name";
  if (name == kSharedRoot || absl::StartsWith(name, AV(kSharedPrefix))) {
    return "NO [NOPERM] Mailboxes in the shared namespace are managed by the administrator";
  }
  if (name.size() > 200 && std::count(name.begin(), name.end(), '/') > 20) return "NO [CANNOT] Too deep";
  return "";
}

std::string StatusErrorToNo(const absl::Status& st) {
  if (absl::IsNotFound(st)) return "NO [NONEXISTENT] No such mailbox";
  if (absl::IsAlreadyExists(st)) return "NO [ALREADYEXISTS] Mailbox already exists";
  if (absl::IsResourceExhausted(st)) return "NO [OVERQUOTA] Quota exceeded";
  if (absl::IsFailedPrecondition(st)) return "NO [CANNOT] Not allowed for this mailbox";
  return kUnavailable;
}

const char* const kStatusItems[] = {"MESSAGES", "RECENT",        "UIDNEXT", "UIDVALIDITY", "UNSEEN",
                                    "HIGHESTMODSEQ", "SIZE", "DELETED", "MAILBOXID"};

// The STATUS item list (shared by STATUS and LIST ... RETURN (STATUS (...))).
bool ParseStatusItems(const Token& list, std::vector<std::string>* items) {
  if (list.kind != Token::kList || list.children.empty()) return false;
  for (const Token& t : list.children) {
    std::string item = absl::AsciiStrToUpper(t.value);
    if (t.kind != Token::kAtom ||
        std::none_of(std::begin(kStatusItems), std::end(kStatusItems), [&](const char* k) { return item == k; })) {
      return false;
    }
    items->push_back(item);
  }
  return true;
}

}  // namespace

boost::asio::awaitable<SharedAccess> Session::AskShared(const std::string& address) {
  dv1::SharedRightsRequest req;
  req.set_account_id(account_id_);
  req.set_shared_address(address);
  auto& directory = server_.directory();
  auto resp = co_await rt_.Blocking([&directory, &req]() -> absl::StatusOr<dv1::SharedRightsResponse> {
    dv1::SharedRightsResponse r;
    auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
    grpc::Status st = directory.SharedRights(ctx.get(), req, &r);
    if (!st.ok()) return rpc::FromGrpc(st);
    return r;
  });
  SharedAccess a;
  if (!resp.ok()) {
    log::Warn("imap.directory_unavailable").Kv("error", resp.status().message());
    co_return a;
  }
  a.answered = true;
  // Only the canonical name opens it ("team+x@" would be a second name for one mailbox).
  if (resp->owner_address() != address) co_return a;
  a.owner = resp->owner_account_id();
  for (int r : resp->rights()) {
    a.read = a.read || r == dv1::MAILBOX_RIGHT_READ;
    a.write = a.write || r == dv1::MAILBOX_RIGHT_WRITE;
  }
  co_return a;
}

boost::asio::awaitable<Target> Session::ResolveMailbox(const std::string& raw, bool need_write) {
  Target t;
  t.owner = account_id_;
  t.name = NormalizeInbox(raw);
  if (auto sn = ParseSharedName(t.name)) {
    SharedAccess a = co_await AskShared(sn->address);
    if (!a.answered) {
      t.error = kUnavailable;
      co_return t;
    }
    if (!a.read || a.owner == 0 || (need_write && !a.write)) {
      log::Info("imap.noperm").Kv("account", account_).Kv("mailbox", raw);
      t.error = kNoPerm;
      co_return t;
    }
    if (sn->mailbox.empty()) {
      t.error = "NO [CANNOT] Not a selectable mailbox";
      co_return t;
    }
    t.owner = a.owner;
    t.shared = sn->address;
    t.may_write = a.write;
    t.name = sn->mailbox;
  } else if (t.name == kSharedRoot || absl::StartsWith(t.name, AV(kSharedPrefix))) {
    t.error = "NO [CANNOT] Not a selectable mailbox";
    co_return t;
  }
  const int64_t owner = t.owner;
  const std::string& name = t.name;
  auto mb = co_await rt_.Blocking([&] { return mail_.FindMailbox(owner, name); });
  if (!mb.ok()) {
    t.error = kUnavailable;
  } else if (!*mb) {
    t.error = need_write ? "NO [TRYCREATE] No such mailbox" : "NO [NONEXISTENT] No such mailbox";
  } else {
    t.info = **mb;
  }
  co_return t;
}

boost::asio::awaitable<std::string> Session::RecheckShared(const std::string& command) {
  const std::string address = sel_->shared;
  SharedAccess a = co_await AskShared(address);
  if (!a.answered) co_return kUnavailable;
  if (!a.read || a.owner != sel_->owner) {
    log::Info("imap.noperm").Kv("account", account_).Kv("shared", address).Kv("command", command);
    co_return kNoPerm;
  }
  sel_->may_write = a.write;
  co_return "";
}

boost::asio::awaitable<void> Session::CmdCreate(const Command& cmd) {
  // CREATE name [(USE (\Sent ...))] (RFC 6154 CREATE-SPECIAL-USE).
  if (cmd.args.empty() || cmd.args.size() > 2 || !cmd.args[0].IsString()) {
    result_ = "BAD Syntax: CREATE mailbox [(USE (attributes))]";
    co_return;
  }
  std::string special;
  if (cmd.args.size() == 2) {
    const Token& opts = cmd.args[1];
    static const char* const kUses[] = {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"};
    bool ok = opts.kind == Token::kList && opts.children.size() == 2 &&
              absl::EqualsIgnoreCase(opts.children[0].value, "USE") && opts.children[1].kind == Token::kList &&
              opts.children[1].children.size() <= 1;
    if (ok && opts.children[1].children.size() == 1) {
      const std::string& use = opts.children[1].children[0].value;
      auto it = std::find_if(std::begin(kUses), std::end(kUses),
                             [&](const char* u) { return absl::EqualsIgnoreCase(use, u); });
      if (it == std::end(kUses)) {
        result_ = "NO [USEATTR] Unsupported special-use attribute";
        co_return;
      }
      special = *it;
    }
    if (!ok) {
      result_ = "BAD Syntax: CREATE mailbox (USE (attribute))";
      co_return;
    }
  }
  std::string name = NormalizeInbox(cmd.args[0].value);
  while (name.size() > 1 && name.back() == '/') name.pop_back();  // "a/" creates "a"
  if (std::string bad = CheckNewName(name); !bad.empty()) {
    result_ = bad;
    co_return;
  }
  if (name == "INBOX") {
    result_ = "NO [ALREADYEXISTS] INBOX always exists";
    co_return;
  }
  // Superior levels are created too (RFC 3501 6.3.3); they may exist already.
  std::vector<std::string> levels;
  for (size_t pos = name.find('/'); pos != std::string::npos; pos = name.find('/', pos + 1)) {
    levels.push_back(name.substr(0, pos));
  }
  const int64_t account = account_id_;
  auto created = co_await rt_.Blocking([&]() -> absl::StatusOr<mailstore::MailboxInfo> {
    for (const auto& parent : levels) {
      auto p = mail_.CreateMailbox(account, parent);
      if (!p.ok() && !absl::IsAlreadyExists(p.status())) return p.status();
    }
    return mail_.CreateMailbox(account, name, special);
  });
  if (!created.ok()) {
    result_ = StatusErrorToNo(created.status());
    co_return;
  }
  log::Info("imap.create").Kv("account", account_).Kv("mailbox", name);
  // RFC 8474 4.1: the new mailbox's MAILBOXID in the tagged OK.
  result_ = absl::StrCat("OK [MAILBOXID (", MailboxObjectId(created->id), ")] CREATE completed");
}

boost::asio::awaitable<void> Session::CmdDelete(const Command& cmd) {
  if (cmd.args.size() != 1 || !cmd.args[0].IsString()) {
    result_ = "BAD Syntax: DELETE mailbox";
    co_return;
  }
  const std::string name = NormalizeInbox(cmd.args[0].value);
  if (ParseSharedName(name) || name == kSharedRoot) {
    result_ = "NO [NOPERM] Shared mailboxes are managed by the administrator";
    co_return;
  }
  if (name == "INBOX") {
    result_ = "NO [CANNOT] INBOX cannot be deleted";
    co_return;
  }
  const int64_t account = account_id_;
  auto st = co_await rt_.Blocking([&] { return mail_.DeleteMailbox(account, name); });
  if (!st.ok()) {
    result_ = StatusErrorToNo(st);
    co_return;
  }
  // Deleting the selected mailbox ends the selection (RFC 3501 leaves it open).
  if (sel_ && sel_->shared.empty() && sel_->info.name == name) {
    sel_.reset();
    view_.Clear();
  }
  log::Info("imap.delete").Kv("account", account_).Kv("mailbox", name);
  result_ = "OK DELETE completed";
}

boost::asio::awaitable<void> Session::CmdRename(const Command& cmd) {
  if (cmd.args.size() != 2 || !cmd.args[0].IsString() || !cmd.args[1].IsString()) {
    result_ = "BAD Syntax: RENAME from to";
    co_return;
  }
  const std::string from = NormalizeInbox(cmd.args[0].value);
  std::string to = NormalizeInbox(cmd.args[1].value);
  while (to.size() > 1 && to.back() == '/') to.pop_back();
  if (ParseSharedName(from) || from == kSharedRoot) {
    result_ = "NO [NOPERM] Shared mailboxes are managed by the administrator";
    co_return;
  }
  if (std::string bad = CheckNewName(to); !bad.empty()) {
    result_ = bad;
    co_return;
  }
  if (to == "INBOX" || absl::StartsWith(to, AV(from + "/"))) {
    result_ = "NO [CANNOT] Cannot rename to that name";
    co_return;
  }
  std::vector<std::string> levels;
  for (size_t pos = to.find('/'); pos != std::string::npos; pos = to.find('/', pos + 1)) {
    levels.push_back(to.substr(0, pos));
  }
  const int64_t account = account_id_;
  auto st = co_await rt_.Blocking([&]() -> absl::Status {
    for (const auto& parent : levels) {
      if (parent == from) continue;
      auto p = mail_.CreateMailbox(account, parent);
      if (!p.ok() && !absl::IsAlreadyExists(p.status())) return p.status();
    }
    return mail_.RenameMailbox(account, from, to);
  });
  if (!st.ok()) {
    result_ = StatusErrorToNo(st);
    co_return;
  }
  if (sel_ && sel_->shared.empty() &&
      (sel_->info.name == from || absl::StartsWith(sel_->info.name, AV(from + "/")))) {
    sel_->info.name = to + sel_->info.name.substr(from.size());
  }
  result_ = "OK RENAME completed";
}

boost::asio::awaitable<void> Session::CmdSubscribe(const Command& cmd) {
  const bool subscribe = cmd.name == "SUBSCRIBE";
  if (cmd.args.size() != 1 || !cmd.args[0].IsString()) {
    result_ = absl::StrCat("BAD Syntax: ", cmd.name, " mailbox");
    co_return;
  }
  const std::string name = NormalizeInbox(cmd.args[0].value);
  if (ParseSharedName(name) || name == kSharedRoot) {
    // Shared mailboxes are always listed; subscribing is accepted and changes nothing.
    result_ = absl::StrCat("OK ", cmd.name, " completed");
    co_return;
  }
  const int64_t account = account_id_;
  auto st = co_await rt_.Blocking([&] { return mail_.SetSubscribed(account, name, subscribe); });
  if (!st.ok() && !(absl::IsNotFound(st) && !subscribe)) {
    result_ = StatusErrorToNo(st);
    co_return;
  }
  result_ = absl::StrCat("OK ", cmd.name, " completed");
}

boost::asio::awaitable<void> Session::CmdList(const Command& cmd) {
  // LIST [(selection options)] reference (pattern | (patterns)) [RETURN (return options)]
  // (RFC 3501 6.3.8, RFC 5258, RFC 5819, RFC 6154); LSUB reference pattern.
  const bool lsub = cmd.name == "LSUB";
  size_t i = 0;
  bool sel_subscribed = false, sel_special = false, recursive = false;
  bool ret_subscribed = false, ret_children = true, ret_special = true;
  std::vector<std::string> status_items;
  bool syntax = true;
  bool extended = false;
  if (!lsub && !cmd.args.empty() && cmd.args[0].kind == Token::kList) {
    extended = true;
    for (const Token& o : cmd.args[0].children) {
      std::string v = absl::AsciiStrToUpper(o.value);
      if (v == "SUBSCRIBED") {
        sel_subscribed = true;
      } else if (v == "RECURSIVEMATCH") {
        recursive = true;
      } else if (v == "SPECIAL-USE") {
        sel_special = true;
      } else if (v != "REMOTE") {
        syntax = false;
      }
    }
    if (recursive && !sel_subscribed) syntax = false;  // RFC 5258 3: not on its own
    ++i;
  }
  std::string reference;
  std::vector<std::string> patterns;
  if (i < cmd.args.size() && cmd.args[i].IsString()) {
    reference = cmd.args[i].value;
    ++i;
  } else {
    syntax = false;
  }
  if (syntax && i < cmd.args.size() && cmd.args[i].IsString()) {
    patterns.push_back(cmd.args[i].value);
    ++i;
  } else if (syntax && !lsub && i < cmd.args.size() && cmd.args[i].kind == Token::kList &&
             !cmd.args[i].children.empty() && cmd.args[i].children.size() <= 100) {
    extended = true;
    for (const Token& p : cmd.args[i].children) {
      syntax = syntax && p.IsString();
      patterns.push_back(p.value);
    }
    ++i;
  } else {
    syntax = false;
  }
  if (syntax && !lsub && i + 1 < cmd.args.size() + 1 && i < cmd.args.size()) {
    if (!absl::EqualsIgnoreCase(cmd.args[i].value, "RETURN") || i + 2 != cmd.args.size() ||
        cmd.args[i + 1].kind != Token::kList) {
      syntax = false;
    } else {
      extended = true;
      const auto& opts = cmd.args[i + 1].children;
      for (size_t k = 0; syntax && k < opts.size(); ++k) {
        std::string v = absl::AsciiStrToUpper(opts[k].value);
        if (v == "SUBSCRIBED") {
          ret_subscribed = true;
        } else if (v == "CHILDREN") {
          ret_children = true;
        } else if (v == "SPECIAL-USE") {
          ret_special = true;
        } else if (v == "STATUS" && k + 1 < opts.size()) {
          syntax = ParseStatusItems(opts[++k], &status_items);
        } else if (v != "MYRIGHTS") {
          syntax = false;
        }
      }
    }
  } else if (syntax && i != cmd.args.size()) {
    syntax = false;
  }
  if (!syntax) {
    result_ = absl::StrCat("BAD Syntax: ", cmd.name, lsub ? " reference pattern" : " [(options)] reference pattern [RETURN (options)]");
    co_return;
  }
  if (lsub) sel_subscribed = true;
  size_t total = reference.size();
  for (const auto& p : patterns) total += p.size();
  if (total > kMaxPatternLength * 4) {
    result_ = absl::StrCat("BAD ", cmd.name, " pattern too long");
    co_return;
  }
  // LIST "" "": the hierarchy delimiter and root (RFC 3501 6.3.8).
  if (!extended && patterns.size() == 1 && patterns[0].empty()) {
    absl::StrAppend(&out_, "* ", cmd.name, " (\\Noselect) \"/\" \"\"\r\n");
    result_ = absl::StrCat("OK ", cmd.name, " completed");
    co_return;
  }

  const int64_t account = account_id_;
  auto boxes = co_await rt_.Blocking([&] { return mail_.ListMailboxes(account); });
  // Subscriptions whose mailbox is gone are listed when subscriptions are (LSUB, LIST
  // (SUBSCRIBED)): RFC 3501 6.3.9 \Noselect, RFC 5258 3.1 \NonExistent.
  absl::StatusOr<std::vector<std::string>> lost = std::vector<std::string>();
  if (sel_subscribed) lost = co_await rt_.Blocking([&] { return mail_.ListLostSubscriptions(account); });
  dv1::ListSharedMailboxesRequest sreq;
  sreq.set_account_id(account_id_);
  auto& directory = server_.directory();
  auto shared = co_await rt_.Blocking([&directory, &sreq]() -> absl::StatusOr<dv1::ListSharedMailboxesResponse> {
    dv1::ListSharedMailboxesResponse r;
    auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
    grpc::Status st = directory.ListSharedMailboxes(ctx.get(), sreq, &r);
    if (!st.ok()) return rpc::FromGrpc(st);
    return r;
  });
  if (!shared.ok()) log::Warn("imap.directory_unavailable").Kv("error", shared.status().message());
  if (!boxes.ok() || !shared.ok() || !lost.ok()) {
    result_ = kUnavailable;
    co_return;
  }
  struct Row {
    std::string special;
    bool subscribed = false;
    bool noselect = false;
    bool exists = true;
    int64_t owner = 0;
    const mailstore::MailboxInfo* info = nullptr;
  };
  std::map<std::string, Row> rows;
  for (const auto& mb : *boxes) rows[mb.name] = Row{mb.special_use, mb.subscribed, false, true, account_id_, &mb};
  for (const auto& name : *lost) rows.emplace(name, Row{"", true, true, false, 0, nullptr});
  std::vector<std::vector<mailstore::MailboxInfo>> theirs_all;
  theirs_all.reserve(shared->mailboxes().size());
  for (const auto& grant : shared->mailboxes()) {
    if (std::find(grant.rights().begin(), grant.rights().end(), dv1::MAILBOX_RIGHT_READ) == grant.rights().end()) {
      continue;
    }
    const int64_t owner = grant.owner_account_id();
    auto theirs = co_await rt_.Blocking([&] { return mail_.ListMailboxes(owner); });
    if (!theirs.ok()) {
      result_ = kUnavailable;
      co_return;
    }
    theirs_all.push_back(std::move(*theirs));
    rows[std::string(kSharedRoot)] = Row{"", true, true, true, 0, nullptr};
    rows[SharedMailboxName(grant.address(), "")] = Row{"", true, true, true, 0, nullptr};
    for (const auto& mb : theirs_all.back()) {
      rows[SharedMailboxName(grant.address(), mb.name)] = Row{"", true, false, true, owner, &mb};
    }
  }
  // Parents that do not exist as mailboxes ("a" of "a/b"): \NonExistent (RFC 5258) or, for a
  // plain LIST, \Noselect.
  std::vector<std::string> names;
  for (const auto& [name, row] : rows) names.push_back(name);
  for (const auto& name : names) {
    for (size_t pos = name.find('/'); pos != std::string::npos; pos = name.find('/', pos + 1)) {
      std::string parent = name.substr(0, pos);
      if (!rows.count(parent)) rows[parent] = Row{"", false, true, false, 0, nullptr};
    }
  }
  std::vector<std::string> pats;
  for (const auto& p : patterns) pats.push_back(ListPattern(reference, p));
  auto matches = [&](const std::string& name) {
    return std::any_of(pats.begin(), pats.end(), [&](const std::string& p) { return MatchMailboxPattern(name, p); });
  };
  for (const auto& [name, row] : rows) {
    bool matched = matches(name);
    std::string childinfo;
    if (sel_subscribed && !row.subscribed) {
      // RECURSIVEMATCH: a parent listed because a child is subscribed (RFC 5258 3.5).
      if (!recursive || !matched) continue;
      std::string prefix = name + "/";
      bool child = std::any_of(rows.begin(), rows.end(), [&](const auto& r) {
        return r.second.subscribed && r.first.rfind(prefix, 0) == 0;
      });
      if (!child) continue;
      childinfo = " (\"CHILDINFO\" (\"SUBSCRIBED\"))";
    }
    if (!matched) continue;
    if (sel_special && row.special.empty()) continue;
    if (!row.exists && !sel_subscribed) {
      // A plain LIST shows a missing parent only when a pattern wildcard reaches it.
    }
    std::vector<std::string> attrs;
    if (!row.exists) attrs.push_back(extended ? "\\NonExistent" : "\\Noselect");
    if (row.noselect && row.exists) attrs.push_back("\\Noselect");
    if (ret_children && !lsub) {
      std::string prefix = name + "/";
      bool children = std::any_of(rows.begin(), rows.end(), [&](const auto& r) {
        return r.second.exists && r.first.rfind(prefix, 0) == 0;
      });
      attrs.push_back(children ? "\\HasChildren" : "\\HasNoChildren");
    }
    if ((ret_special || sel_special) && !row.special.empty()) attrs.push_back(row.special);
    if ((ret_subscribed || (sel_subscribed && extended)) && row.subscribed) attrs.push_back("\\Subscribed");
    absl::StrAppend(&out_, "* ", cmd.name, " (", absl::StrJoin(attrs, " "), ") \"/\" ", AString(name), childinfo,
                    "\r\n");
    if (!status_items.empty() && row.info && !row.noselect) {
      Target t;
      t.owner = row.owner;
      t.info = *row.info;
      std::string error;
      std::string items = co_await StatusItems(t, status_items, &error);
      if (error.empty()) absl::StrAppend(&out_, "* STATUS ", AString(name), " (", items, ")\r\n");
    }
  }
  result_ = absl::StrCat("OK ", cmd.name, " completed");
}

boost::asio::awaitable<std::string> Session::StatusItems(const Target& target, const std::vector<std::string>& items,
                                                         std::string* error) {
  mailstore::MailboxCounts counts;
  bool need_counts = std::any_of(items.begin(), items.end(), [](const std::string& i) {
    return i == "UNSEEN" || i == "SIZE" || i == "DELETED" || i == "MESSAGES" || i == "RECENT";
  });
  if (need_counts) {
    const int64_t owner = target.owner, mailbox = target.info.id;
    auto c = co_await rt_.Blocking([&] { return mail_.CountMailbox(owner, mailbox); });
    if (!c.ok()) {
      *error = kUnavailable;
      co_return "";
    }
    counts = *c;
  }
  std::vector<std::string> parts;
  for (const auto& item : items) {
    if (item == "MAILBOXID") {  // RFC 8474 4.3
      parts.push_back(absl::StrCat("MAILBOXID (", MailboxObjectId(target.info.id), ")"));
      continue;
    }
    int64_t v = item == "MESSAGES"        ? counts.messages
                : item == "UIDNEXT"       ? target.info.uidnext
                : item == "UIDVALIDITY"   ? target.info.uidvalidity
                : item == "UNSEEN"        ? counts.unseen
                : item == "HIGHESTMODSEQ" ? target.info.highest_modseq
                : item == "SIZE"          ? counts.size
                : item == "DELETED"       ? counts.deleted
                : item == "RECENT"        ? counts.recent
                                          : 0;
    parts.push_back(absl::StrCat(item, " ", v));
  }
  co_return absl::StrJoin(parts, " ");
}

boost::asio::awaitable<void> Session::CmdStatus(const Command& cmd) {
  std::vector<std::string> want;
  if (cmd.args.size() != 2 || !cmd.args[0].IsString() || !ParseStatusItems(cmd.args[1], &want)) {
    result_ =
        "BAD Syntax: STATUS mailbox (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE DELETED MAILBOXID)";
    co_return;
  }
  if (std::find(want.begin(), want.end(), "HIGHESTMODSEQ") != want.end()) EnableCondstore();
  const std::string raw = cmd.args[0].value;
  Target target = co_await ResolveMailbox(raw, false);
  if (!target.error.empty()) {
    result_ = target.error;
    co_return;
  }
  std::string error;
  std::string items = co_await StatusItems(target, want, &error);
  if (!error.empty()) {
    result_ = error;
    co_return;
  }
  absl::StrAppend(&out_, "* STATUS ", AString(NormalizeInbox(raw)), " (", items, ")\r\n");
  result_ = "OK STATUS completed";
}

boost::asio::awaitable<void> Session::CmdAppend(const Command& cmd) {
  // APPEND mailbox 1*([(flags)] [date-time] message) (RFC 3501 6.3.11, RFC 3502 MULTIAPPEND:
  // several messages are stored all or none).
  const size_t n = cmd.args.size();
  bool syntax = n >= 2 && cmd.args[0].IsString() && cmd.args[n - 1].IsString();
  std::vector<mailstore::AppendMessage> messages;
  std::vector<std::optional<int64_t>> dates;
  {
    mailstore::AppendMessage next;
    std::optional<int64_t> date;
    int seen = 0;  // 1: flags taken, 2: date taken (each at most once, in that order)
    for (size_t i = 1; syntax && i < n; ++i) {
      const Token& t = cmd.args[i];
      if (t.kind == Token::kList && seen < 1) {
        syntax = t.children.size() <= kMaxFlagsPerMessage;
        for (const Token& f : t.children) {
          std::string flag = CanonicalFlag(f.value);
          syntax = syntax && f.kind == Token::kAtom && IsValidFlag(flag) && flag != "\\Recent";
          if (!HasFlag(next.flags, flag)) next.flags.push_back(flag);
        }
        seen = 1;
      } else if (t.kind == Token::kQuoted && seen < 2 && i + 1 < n) {
        date = ParseDateTime(t.value);
        syntax = date.has_value();
        seen = 2;
      } else if (t.kind == Token::kLiteral || (t.IsString() && i == n - 1)) {
        next.body = t.value;
        messages.push_back(std::move(next));
        dates.push_back(date);
        next = {};
        date.reset();
        seen = 0;
      } else {
        syntax = false;
      }
    }
    syntax = syntax && !messages.empty() && seen == 0;
  }
  if (!syntax) {
    result_ = "BAD Syntax: APPEND mailbox [(flags)] [\"date-time\"] {size} ...";
    co_return;
  }
  const std::string raw = cmd.args[0].value;
  Target target = co_await ResolveMailbox(raw, true);
  if (!target.error.empty()) {
    result_ = target.error;
    co_return;
  }
  if (!target.may_write) {
    result_ = kNoPerm;
    co_return;
  }
  const int64_t owner = target.owner, mailbox = target.info.id;
  const auto now = static_cast<int64_t>(std::time(nullptr));
  for (size_t i = 0; i < messages.size(); ++i) messages[i].internal_date = dates[i].value_or(now);
  Server& server = server_;
  auto appended = co_await rt_.Blocking([&]() -> absl::StatusOr<std::vector<mailstore::AppendResult>> {
    absl::StatusOr<std::vector<mailstore::AppendResult>> r;
    if (messages.size() == 1) {
      auto one = mail_.Append(owner, mailbox, messages[0].body, messages[0].flags, messages[0].internal_date);
      if (one.ok()) {
        r = std::vector<mailstore::AppendResult>{*one};
      } else {
        r = one.status();
      }
    } else {
      r = mail_.AppendMany(owner, mailbox, messages);
    }
    if (r.ok()) server.Publish(owner, mailbox);
    return r;
  });
  if (!appended.ok()) {
    result_ = absl::IsNotFound(appended.status()) ? "NO [TRYCREATE] No such mailbox"
                                                  : StatusErrorToNo(appended.status());
    co_return;
  }
  std::vector<int64_t> uids;
  for (const auto& a : *appended) uids.push_back(a.uid);
  result_ = absl::StrCat("OK [APPENDUID ", appended->front().uidvalidity, " ", CompressUids(uids),
                         "] APPEND completed");
}

boost::asio::awaitable<void> Session::CmdQuota(const Command& cmd) {
  // One quota root per account, named "" (RFC 9208): STORAGE in KiB and MESSAGE counts.
  if (cmd.name == "SETQUOTA") {
    result_ = "NO [NOPERM] Quotas are set by the administrator (kitectl)";
    co_return;
  }
  if (cmd.args.size() != 1 || !cmd.args[0].IsString()) {
    result_ = absl::StrCat("BAD Syntax: ", cmd.name, cmd.name == "GETQUOTA" ? " root" : " mailbox");
    co_return;
  }
  const std::string arg = cmd.args[0].value;
  if (cmd.name == "GETQUOTAROOT") {
    Target target = co_await ResolveMailbox(arg, false);
    if (!target.error.empty()) {
      result_ = target.error;
      co_return;
    }
    if (!target.shared.empty()) {
      absl::StrAppend(&out_, "* QUOTAROOT ", AString(arg), "\r\n");  // not the user's quota
      result_ = "OK GETQUOTAROOT completed";
      co_return;
    }
    absl::StrAppend(&out_, "* QUOTAROOT ", AString(NormalizeInbox(arg)), " \"\"\r\n");
  } else if (!arg.empty()) {
    result_ = "NO [NONEXISTENT] No such quota root";
    co_return;
  }
  const int64_t account = account_id_;
  auto q = co_await rt_.Blocking([&] { return mail_.GetQuota(account); });
  if (!q.ok()) {
    result_ = kUnavailable;
    co_return;
  }
  std::string resources;
  if (q->limit_bytes > 0) {
    resources = absl::StrCat("STORAGE ", (q->used_bytes + 1023) / 1024, " ", q->limit_bytes / 1024);
  }
  absl::StrAppend(&out_, "* QUOTA \"\" (", resources, ")\r\n");
  result_ = absl::StrCat("OK ", cmd.name, " completed");
}

boost::asio::awaitable<void> Session::CmdAcl(const Command& cmd) {
  // Rights come from kite-auth's directory (kitectl share); they are shown, not changed here.
  if (cmd.name == "SETACL" || cmd.name == "DELETEACL") {
    result_ = "NO [NOPERM] Sharing is managed in the directory by the administrator (kitectl share)";
    co_return;
  }
  const size_t want_args = cmd.name == "LISTRIGHTS" ? 2 : 1;
  if (cmd.args.size() != want_args || !cmd.args[0].IsString() || (want_args == 2 && !cmd.args[1].IsString())) {
    result_ = absl::StrCat("BAD Syntax: ", cmd.name, " mailbox", want_args == 2 ? " identifier" : "");
    co_return;
  }
  const std::string raw = cmd.args[0].value;
  Target target = co_await ResolveMailbox(raw, false);
  if (!target.error.empty()) {
    result_ = target.error;
    co_return;
  }
  const bool own = target.shared.empty();
  const std::string name = AString(NormalizeInbox(raw));
  if (cmd.name == "MYRIGHTS") {
    absl::StrAppend(&out_, "* MYRIGHTS ", name, " ", own ? kOwnerRights : target.may_write ? kWriteRights : kReadRights,
                    "\r\n");
  } else if (!own) {
    result_ = "NO [NOPERM] You may not see the access list of this mailbox";
    co_return;
  } else if (cmd.name == "GETACL") {
    absl::StrAppend(&out_, "* ACL ", name, " ", AString(account_), " ", kOwnerRights, "\r\n");
  } else {
    absl::StrAppend(&out_, "* LISTRIGHTS ", name, " ", AString(cmd.args[1].value), " \"\" l r s w i p k x t e a\r\n");
  }
  result_ = absl::StrCat("OK ", cmd.name, " completed");
}

}  // namespace kite::imap

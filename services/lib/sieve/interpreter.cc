// Running a compiled Script against a message (RFC 5228 sections 2.10, 4 and 5; RFC 5232,
// 5230, 5429, 5490, 3894).
#include <algorithm>
#include <utility>

#include "lib/sieve/address.h"
#include "lib/sieve/lexer.h"
#include "lib/sieve/match.h"
#include "lib/sieve/sieve.h"

namespace kite::sieve {
namespace {

bool SameFlag(std::string_view a, std::string_view b) { return EqualsNoCase(a, b); }

void AddFlags(std::vector<std::string>& set, const std::vector<std::string>& add) {
  for (const std::string& f : add) {
    bool found = false;
    for (const std::string& g : set) found = found || SameFlag(f, g);
    if (!found) set.push_back(f);
  }
}

void RemoveFlags(std::vector<std::string>& set, const std::vector<std::string>& remove) {
  set.erase(std::remove_if(set.begin(), set.end(),
                           [&](const std::string& g) {
                             for (const std::string& f : remove) {
                               if (SameFlag(f, g)) return true;
                             }
                             return false;
                           }),
            set.end());
}

class Interpreter {
 public:
  Interpreter(const Message& message, const ExecuteOptions& options)
      : message_(message), options_(options) {}

  absl::StatusOr<Result> Run(const Script& script) {
    budget_ = options_.limits.max_match_cost;
    absl::Status s = Block(script.commands);
    if (!s.ok()) return s;
    if (implicit_keep_) {
      Action keep;
      keep.kind = Action::Kind::kKeep;
      keep.flags = flags_;
      keep.implicit = true;
      s = Add(std::move(keep));
      if (!s.ok()) return s;
    }
    return std::move(result_);
  }

 private:
  // Returns an error for a runtime failure; sets stopped_ on stop.
  absl::Status Block(const std::vector<CommandNode>& block) {
    for (const CommandNode& c : block) {
      absl::Status s = Command(c);
      if (!s.ok() || stopped_) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Command(const CommandNode& c) {
    switch (c.kind) {
      case CommandNode::Kind::kIf:
        for (const Branch& b : c.branches) {
          bool chosen = !b.has_test || Test(b.test);
          if (exhausted_) {
            return absl::ResourceExhaustedError(Cat("line ", b.test.line,
                                                    ": the tests compare too much text (more than ",
                                                    options_.limits.max_match_cost, " units)"));
          }
          if (chosen) return Block(b.block);
        }
        return absl::OkStatus();
      case CommandNode::Kind::kStop:
        stopped_ = true;
        return absl::OkStatus();
      case CommandNode::Kind::kKeep: {
        Action a;
        a.kind = Action::Kind::kKeep;
        a.flags = c.has_flags ? c.flags : flags_;
        a.line = c.line;
        implicit_keep_ = false;
        return Add(std::move(a));
      }
      case CommandNode::Kind::kFileInto: {
        Action a;
        a.kind = Action::Kind::kFileInto;
        a.mailbox = c.argument;
        a.create = c.create;
        a.copy = c.copy;
        a.flags = c.has_flags ? c.flags : flags_;
        a.line = c.line;
        if (!c.copy) implicit_keep_ = false;
        return Add(std::move(a));
      }
      case CommandNode::Kind::kRedirect: {
        Action a;
        a.kind = Action::Kind::kRedirect;
        a.address = c.argument;
        a.copy = c.copy;
        a.line = c.line;
        if (!c.copy) implicit_keep_ = false;
        return Add(std::move(a));
      }
      case CommandNode::Kind::kDiscard: {
        implicit_keep_ = false;
        Action a;
        a.kind = Action::Kind::kDiscard;
        a.line = c.line;
        return Add(std::move(a));
      }
      case CommandNode::Kind::kReject:
      case CommandNode::Kind::kEreject: {
        implicit_keep_ = false;
        Action a;
        a.kind =
            c.kind == CommandNode::Kind::kReject ? Action::Kind::kReject : Action::Kind::kEreject;
        a.reason = c.argument;
        a.line = c.line;
        return Add(std::move(a));
      }
      case CommandNode::Kind::kVacation: {
        Action a;
        a.kind = Action::Kind::kVacation;
        a.vacation = c.vacation;
        a.line = c.line;
        return Add(std::move(a));
      }
      case CommandNode::Kind::kSetFlag:
        flags_.clear();
        AddFlags(flags_, c.flags);
        return absl::OkStatus();
      case CommandNode::Kind::kAddFlag:
        AddFlags(flags_, c.flags);
        return absl::OkStatus();
      case CommandNode::Kind::kRemoveFlag:
        RemoveFlags(flags_, c.flags);
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  static bool Delivers(Action::Kind k) {
    return k == Action::Kind::kKeep || k == Action::Kind::kFileInto;
  }
  static bool Rejects(Action::Kind k) {
    return k == Action::Kind::kReject || k == Action::Kind::kEreject;
  }

  absl::Status Conflict(const Action& a, const Action& b) {
    return absl::FailedPreconditionError(Cat(
        "line ", a.line, ": ", ActionKindName(a.kind), " conflicts with ", ActionKindName(b.kind),
        b.implicit ? " (implicit)" : "", b.line > 0 ? Cat(" at line ", b.line) : ""));
  }

  // Records an action after the conflict rules; duplicates collapse.
  absl::Status Add(Action a) {
    for (Action& b : result_.actions) {
      // RFC 5429 2.1/2.2: at most one reject/ereject; none together with keep, fileinto or
      // vacation (the implicit keep is cancelled by reject and never added after it).
      if (Rejects(a.kind) &&
          (Rejects(b.kind) || Delivers(b.kind) || b.kind == Action::Kind::kVacation)) {
        return Conflict(a, b);
      }
      if (Rejects(b.kind) && (Delivers(a.kind) || a.kind == Action::Kind::kVacation)) {
        if (a.implicit) return absl::OkStatus();
        return Conflict(a, b);
      }
      // RFC 5230 4.7: one vacation per run.
      if (a.kind == Action::Kind::kVacation && b.kind == Action::Kind::kVacation) {
        return Conflict(a, b);
      }
      // RFC 5228 2.10.3: the same keep/fileinto/redirect twice is done once; imap4flags
      // flags of the duplicates are merged (RFC 5232 3.1 leaves this open).
      bool same = false;
      if (a.kind == b.kind) {
        switch (a.kind) {
          case Action::Kind::kKeep:
            same = true;
            break;
          case Action::Kind::kFileInto:
            same = a.mailbox == b.mailbox;
            break;
          case Action::Kind::kRedirect:
            same = EqualsNoCase(a.address, b.address);
            break;
          case Action::Kind::kDiscard:
            same = true;
            break;
          default:
            break;
        }
      }
      if (a.kind == Action::Kind::kKeep && b.kind == Action::Kind::kFileInto &&
          EqualsNoCase(b.mailbox, "INBOX")) {
        same = true;
      }
      if (a.kind == Action::Kind::kFileInto && b.kind == Action::Kind::kKeep &&
          EqualsNoCase(a.mailbox, "INBOX")) {
        same = true;
      }
      if (same) {
        AddFlags(b.flags, a.flags);
        b.copy = b.copy && a.copy;
        b.create = b.create || a.create;
        b.implicit = b.implicit && a.implicit;
        return absl::OkStatus();
      }
    }
    if (a.kind == Action::Kind::kRedirect) {
      if (++redirects_ > options_.limits.max_redirects) {
        return absl::ResourceExhaustedError(
            Cat("line ", a.line, ": more than ", options_.limits.max_redirects, " redirects"));
      }
    }
    if (result_.actions.size() >= options_.limits.max_actions) {
      return absl::ResourceExhaustedError(
          Cat("line ", a.line, ": more than ", options_.limits.max_actions, " actions"));
    }
    result_.actions.push_back(std::move(a));
    return absl::OkStatus();
  }

  // Charges the comparison against the budget; false once it is exhausted.
  bool Charge(std::string_view value, std::string_view key, MatchType match) {
    uint64_t cost = match == MatchType::kIs
                        ? value.size() + key.size() + 1
                        : (static_cast<uint64_t>(value.size()) + 1) * (key.size() + 1);
    if (exhausted_ || cost > budget_) {
      exhausted_ = true;
      return false;
    }
    budget_ -= cost;
    return true;
  }

  bool AnyKey(std::string_view value, const TestNode& t) {
    for (const std::string& key : t.keys) {
      if (!Charge(value, key, t.match)) return false;
      if (Matches(value, key, t.match, t.comparator)) return true;
    }
    return false;
  }

  std::string_view Part(const ParsedAddress& a, AddressPart part) {
    switch (part) {
      case AddressPart::kAll:
        return a.all;
      case AddressPart::kLocalPart:
        return a.local_part;
      case AddressPart::kDomain:
        return a.domain;
    }
    return a.all;
  }

  bool Test(const TestNode& t) {
    switch (t.kind) {
      case TestNode::Kind::kTrue:
        return true;
      case TestNode::Kind::kFalse:
        return false;
      case TestNode::Kind::kNot:
        return !Test(t.children[0]);
      case TestNode::Kind::kAllOf:
        for (const TestNode& c : t.children) {
          if (!Test(c)) return false;
        }
        return true;
      case TestNode::Kind::kAnyOf:
        for (const TestNode& c : t.children) {
          if (Test(c)) return true;
        }
        return false;
      case TestNode::Kind::kSize: {
        uint64_t size = message_.Size();
        return t.over ? size > t.limit : size < t.limit;
      }
      case TestNode::Kind::kExists:
        for (const std::string& name : t.names) {
          if (message_.HeaderValues(name).empty()) return false;
        }
        return true;
      case TestNode::Kind::kHeader:
        for (const std::string& name : t.names) {
          for (const std::string& value : message_.HeaderValues(name)) {
            if (AnyKey(value, t)) return true;
          }
        }
        return false;
      case TestNode::Kind::kAddress:
        for (const std::string& name : t.names) {
          for (const std::string& value : message_.HeaderValues(name)) {
            for (const ParsedAddress& a : ParseAddressList(value)) {
              if (AnyKey(Part(a, t.address_part), t)) return true;
            }
          }
        }
        return false;
      case TestNode::Kind::kEnvelope:
        for (const std::string& name : t.names) {
          std::string raw =
              EqualsNoCase(name, "from") ? message_.EnvelopeFrom() : message_.EnvelopeTo();
          // RFC 5228 5.4: the null reverse-path compares as "" whatever the address part.
          ParsedAddress a = SplitAddress(raw);
          if (AnyKey(Part(a, t.address_part), t)) return true;
        }
        return false;
      case TestNode::Kind::kHasFlag:
        for (const std::string& flag : flags_) {
          // Each key may itself hold several space-separated flags (RFC 5232 4).
          for (const std::string& key : t.keys) {
            size_t i = 0;
            while (i < key.size()) {
              while (i < key.size() && key[i] == ' ') ++i;
              size_t start = i;
              while (i < key.size() && key[i] != ' ') ++i;
              if (i > start && !Charge(flag, key, t.match)) return false;
              if (i > start && Matches(flag, std::string_view(key).substr(start, i - start),
                                       t.match, t.comparator)) {
                return true;
              }
            }
          }
        }
        return false;
      case TestNode::Kind::kMailboxExists:
        if (!options_.mailbox_exists) return false;
        for (const std::string& name : t.names) {
          if (!options_.mailbox_exists(name)) return false;
        }
        return true;
    }
    return false;
  }

  const Message& message_;
  const ExecuteOptions& options_;
  Result result_;
  std::vector<std::string> flags_;  // the imap4flags internal variable
  bool implicit_keep_ = true;
  bool stopped_ = false;
  int redirects_ = 0;
  uint64_t budget_ = 0;
  bool exhausted_ = false;
};

}  // namespace

absl::StatusOr<Result> Execute(const Script& script, const Message& message,
                               const ExecuteOptions& options) {
  return Interpreter(message, options).Run(script);
}

const char* ActionKindName(Action::Kind kind) {
  switch (kind) {
    case Action::Kind::kKeep:
      return "keep";
    case Action::Kind::kFileInto:
      return "fileinto";
    case Action::Kind::kDiscard:
      return "discard";
    case Action::Kind::kRedirect:
      return "redirect";
    case Action::Kind::kReject:
      return "reject";
    case Action::Kind::kEreject:
      return "ereject";
    case Action::Kind::kVacation:
      return "vacation";
  }
  return "action";
}

}  // namespace kite::sieve

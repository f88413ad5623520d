// Validation of the generic syntax tree into a Script: command and test names, extensions
// named by require, tagged and positional arguments with their types (RFC 5228 sections
// 2.6, 3, 4, 5 and the extension RFCs).
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "lib/sieve/address.h"
#include "lib/sieve/lexer.h"
#include "lib/sieve/parser.h"
#include "lib/sieve/sieve.h"

namespace kite::sieve {

std::string CompileError::ToString() const { return Cat("line ", line, ": ", message); }

const std::vector<std::string>& Extensions() {
  static const auto* kList = new std::vector<std::string>{
      "fileinto", "reject",  "ereject", "envelope",           "imap4flags",
      "vacation", "vacation-seconds", "mailbox", "copy", "comparator-i;octet", "comparator-i;ascii-casemap"};
  return *kList;
}

namespace {

bool Supported(std::string_view ext) {
  const auto& list = Extensions();
  return std::find(list.begin(), list.end(), ext) != list.end();
}

// Headers the address test may look at (RFC 5228 5.1: headers that hold addresses).
bool IsAddressHeader(std::string_view name) {
  static const char* const kHeaders[] = {"from",
                                         "to",
                                         "cc",
                                         "bcc",
                                         "sender",
                                         "reply-to",
                                         "resent-from",
                                         "resent-to",
                                         "resent-cc",
                                         "resent-bcc",
                                         "resent-sender",
                                         "resent-reply-to",
                                         "return-path",
                                         "delivered-to",
                                         "x-original-to",
                                         "envelope-to",
                                         "errors-to",
                                         "disposition-notification-to",
                                         "mail-followup-to",
                                         "mail-reply-to",
                                         "list-post"};
  std::string lower = Lower(name);
  for (const char* h : kHeaders) {
    if (lower == h) return true;
  }
  return false;
}

bool IsFieldName(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  }
  return true;
}

// Valid UTF-8 without control characters, at most 1000 octets: mailbox names.
bool IsMailboxName(std::string_view name) {
  if (name.empty() || name.size() > 1000) return false;
  for (size_t i = 0; i < name.size();) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) return false;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > name.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(name[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Which value a tag takes.
enum class TagValue { kNone, kNumber, kString, kStringList };

struct TagSpec {
  std::string_view name;
  TagValue value = TagValue::kNone;
  std::string_view group;      // tags of one group exclude each other ("match", ...)
  std::string_view extension;  // required extension, if any
};

enum class Positional { kString, kStringList };

struct Signature {
  std::vector<TagSpec> tags;
  std::vector<Positional> positional;
};

struct GotTag {
  std::string name;
  const AstArgument* value = nullptr;
};

class Compiler {
 public:
  explicit Compiler(CompileError& err) : err_(err) {}

  bool Run(const std::vector<AstCommand>& ast, Script& out) {
    bool requires_allowed = true;
    for (const AstCommand& c : ast) {
      if (c.name == "require") {
        if (!requires_allowed) {
          return Fail(c.line, c.column, "\"require\" must come before any other command");
        }
        if (!Require(c, out)) return false;
        continue;
      }
      requires_allowed = false;
    }
    return Block(ast, out.commands, true);
  }

 private:
  bool Fail(int line, int column, std::string message) {
    err_.line = line;
    err_.column = column;
    err_.message = std::move(message);
    return false;
  }

  bool Has(std::string_view ext) const { return required_.count(std::string(ext)) > 0; }

  bool NeedExtension(int line, int column, std::string_view what, std::string_view ext) {
    if (Has(ext)) return true;
    return Fail(line, column,
                Cat(what, " requires the \"", ext, "\" extension (require \"", ext, "\";)"));
  }

  bool Require(const AstCommand& c, Script& out) {
    if (c.arguments.size() != 1 || c.arguments[0].kind == AstArgument::Kind::kTag ||
        c.arguments[0].kind == AstArgument::Kind::kNumber || !c.tests.empty() || c.has_block) {
      return Fail(c.line, c.column, "\"require\" takes one string list of extension names");
    }
    for (const std::string& ext : c.arguments[0].strings) {
      if (!Supported(ext)) {
        return Fail(c.arguments[0].line, c.arguments[0].column,
                    Cat("unsupported extension \"", Printable(ext), "\""));
      }
      if (required_.insert(ext).second) out.extensions.push_back(ext);
      if (ext == "vacation-seconds") required_.insert("vacation");  // RFC 6131 implies it
    }
    return true;
  }

  // Splits arguments into tags (checked against `sig`) and positional arguments.
  bool Arguments(std::string_view what, int line, int column, const std::vector<AstArgument>& args,
                 const Signature& sig, std::map<std::string, GotTag, std::less<>>& tags,
                 std::vector<const AstArgument*>& positional) {
    std::map<std::string_view, std::string> groups;
    for (size_t i = 0; i < args.size(); ++i) {
      const AstArgument& a = args[i];
      if (a.kind != AstArgument::Kind::kTag) {
        positional.push_back(&a);
        continue;
      }
      if (!positional.empty()) {
        return Fail(a.line, a.column,
                    Cat("tag :", Printable(a.tag),
                        " must come before the other "
                        "arguments of ",
                        what));
      }
      const TagSpec* spec = nullptr;
      for (const TagSpec& s : sig.tags) {
        if (s.name == a.tag) spec = &s;
      }
      if (spec == nullptr) {
        return Fail(a.line, a.column, Cat("unknown tag :", Printable(a.tag), " for ", what));
      }
      if (!spec->extension.empty() &&
          !NeedExtension(a.line, a.column, Cat("tag :", a.tag), spec->extension)) {
        return false;
      }
      if (tags.count(a.tag) > 0) {
        return Fail(a.line, a.column, Cat("tag :", a.tag, " given twice"));
      }
      if (!spec->group.empty()) {
        auto [it, fresh] = groups.emplace(spec->group, a.tag);
        if (!fresh) {
          return Fail(a.line, a.column,
                      Cat("tags :", it->second, " and :", a.tag, " cannot be used together (one ",
                          spec->group, ")"));
        }
      }
      GotTag got;
      got.name = a.tag;
      if (spec->value != TagValue::kNone) {
        if (i + 1 >= args.size()) {
          return Fail(a.line, a.column, Cat("tag :", a.tag, " needs a value"));
        }
        const AstArgument& v = args[++i];
        bool ok = false;
        switch (spec->value) {
          case TagValue::kNumber:
            ok = v.kind == AstArgument::Kind::kNumber;
            break;
          case TagValue::kString:
            ok = v.kind == AstArgument::Kind::kString;
            break;
          case TagValue::kStringList:
            ok = v.kind == AstArgument::Kind::kString || v.kind == AstArgument::Kind::kStringList;
            break;
          case TagValue::kNone:
            break;
        }
        if (!ok) {
          const char* want = spec->value == TagValue::kNumber   ? "a number"
                             : spec->value == TagValue::kString ? "a string"
                                                                : "a string list";
          return Fail(v.line, v.column, Cat("tag :", a.tag, " needs ", want));
        }
        got.value = &v;
      }
      tags.emplace(a.tag, std::move(got));
    }
    if (positional.size() != sig.positional.size()) {
      return Fail(line, column,
                  Cat(what, " takes ", sig.positional.size(),
                      sig.positional.size() == 1 ? " argument" : " arguments", ", found ",
                      positional.size()));
    }
    for (size_t i = 0; i < positional.size(); ++i) {
      const AstArgument& a = *positional[i];
      bool ok =
          sig.positional[i] == Positional::kString
              ? a.kind == AstArgument::Kind::kString
              : (a.kind == AstArgument::Kind::kString || a.kind == AstArgument::Kind::kStringList);
      if (!ok) {
        return Fail(a.line, a.column,
                    Cat("argument ", i + 1, " of ", what, " must be ",
                        sig.positional[i] == Positional::kString ? "a string" : "a string list"));
      }
    }
    return true;
  }

  static std::vector<TagSpec> MatchTags(bool address_part) {
    std::vector<TagSpec> t = {
        {"is", TagValue::kNone, "match type", ""},
        {"contains", TagValue::kNone, "match type", ""},
        {"matches", TagValue::kNone, "match type", ""},
        {"comparator", TagValue::kString, "comparator", ""},
    };
    if (address_part) {
      t.push_back({"all", TagValue::kNone, "address part", ""});
      t.push_back({"localpart", TagValue::kNone, "address part", ""});
      t.push_back({"domain", TagValue::kNone, "address part", ""});
    }
    return t;
  }

  bool ApplyMatch(const std::map<std::string, GotTag, std::less<>>& tags, TestNode& node) {
    if (tags.count("contains")) node.match = MatchType::kContains;
    if (tags.count("matches")) node.match = MatchType::kMatches;
    if (tags.count("localpart")) node.address_part = AddressPart::kLocalPart;
    if (tags.count("domain")) node.address_part = AddressPart::kDomain;
    auto it = tags.find("comparator");
    if (it != tags.end()) {
      const AstArgument& v = *it->second.value;
      const std::string& name = v.strings[0];
      if (name == "i;octet") {
        node.comparator = Comparator::kOctet;
      } else if (name == "i;ascii-casemap") {
        node.comparator = Comparator::kAsciiCasemap;
      } else {
        return Fail(v.line, v.column, Cat("unsupported comparator \"", Printable(name), "\""));
      }
    }
    return true;
  }

  bool Test(const AstTest& t, TestNode& node) {
    node.line = t.line;
    std::string what = Cat("test \"", Printable(t.name), "\"");
    std::map<std::string, GotTag, std::less<>> tags;
    std::vector<const AstArgument*> pos;
    auto no_tests = [&]() {
      if (t.tests.empty()) return true;
      return Fail(t.tests[0].line, t.tests[0].column, Cat(what, " takes no tests"));
    };
    if (t.name == "allof" || t.name == "anyof") {
      node.kind = t.name == "allof" ? TestNode::Kind::kAllOf : TestNode::Kind::kAnyOf;
      if (!t.arguments.empty()) {
        return Fail(t.arguments[0].line, t.arguments[0].column,
                    Cat(what, " takes only a test list"));
      }
      if (!t.test_list) return Fail(t.line, t.column, Cat(what, " needs a test list"));
      for (const AstTest& c : t.tests) {
        TestNode child;
        if (!Test(c, child)) return false;
        node.children.push_back(std::move(child));
      }
      return true;
    }
    if (t.name == "not") {
      node.kind = TestNode::Kind::kNot;
      if (!t.arguments.empty()) {
        return Fail(t.arguments[0].line, t.arguments[0].column, Cat(what, " takes only a test"));
      }
      if (t.test_list || t.tests.size() != 1) {
        return Fail(t.line, t.column, Cat(what, " needs exactly one test"));
      }
      TestNode child;
      if (!Test(t.tests[0], child)) return false;
      node.children.push_back(std::move(child));
      return true;
    }
    if (t.name == "true" || t.name == "false") {
      node.kind = t.name == "true" ? TestNode::Kind::kTrue : TestNode::Kind::kFalse;
      if (!Arguments(what, t.line, t.column, t.arguments, {}, tags, pos)) return false;
      return no_tests();
    }
    if (t.name == "address" || t.name == "envelope" || t.name == "header") {
      bool is_header = t.name == "header";
      node.kind = t.name == "address"    ? TestNode::Kind::kAddress
                  : t.name == "envelope" ? TestNode::Kind::kEnvelope
                                         : TestNode::Kind::kHeader;
      if (node.kind == TestNode::Kind::kEnvelope &&
          !NeedExtension(t.line, t.column, what, "envelope")) {
        return false;
      }
      Signature sig{MatchTags(!is_header), {Positional::kStringList, Positional::kStringList}};
      if (!Arguments(what, t.line, t.column, t.arguments, sig, tags, pos)) return false;
      if (!no_tests() || !ApplyMatch(tags, node)) return false;
      node.names = pos[0]->strings;
      node.keys = pos[1]->strings;
      for (const std::string& n : node.names) {
        if (node.kind == TestNode::Kind::kEnvelope) {
          std::string lower = Lower(n);
          if (lower != "from" && lower != "to") {
            return Fail(pos[0]->line, pos[0]->column,
                        Cat("unknown envelope part \"", Printable(n), "\" (\"from\" or \"to\")"));
          }
        } else if (!IsFieldName(n)) {
          return Fail(pos[0]->line, pos[0]->column,
                      Cat("invalid header name \"", Printable(n), "\""));
        } else if (node.kind == TestNode::Kind::kAddress && !IsAddressHeader(n)) {
          return Fail(pos[0]->line, pos[0]->column,
                      Cat("header \"", Printable(n), "\" does not hold addresses (address test)"));
        }
      }
      return true;
    }
    if (t.name == "exists") {
      node.kind = TestNode::Kind::kExists;
      Signature sig{{}, {Positional::kStringList}};
      if (!Arguments(what, t.line, t.column, t.arguments, sig, tags, pos) || !no_tests()) {
        return false;
      }
      node.names = pos[0]->strings;
      for (const std::string& n : node.names) {
        if (!IsFieldName(n)) {
          return Fail(pos[0]->line, pos[0]->column,
                      Cat("invalid header name \"", Printable(n), "\""));
        }
      }
      return true;
    }
    if (t.name == "size") {
      node.kind = TestNode::Kind::kSize;
      // size <":over" / ":under"> <limit: number>: the number follows the tag.
      Signature sig{{{"over", TagValue::kNumber, "size comparison", ""},
                     {"under", TagValue::kNumber, "size comparison", ""}},
                    {}};
      if (!Arguments(what, t.line, t.column, t.arguments, sig, tags, pos) || !no_tests()) {
        return false;
      }
      if (tags.empty()) {
        return Fail(t.line, t.column, "test \"size\" needs :over or :under and a number");
      }
      node.over = tags.count("over") > 0;
      node.limit = tags.begin()->second.value->number;
      return true;
    }
    if (t.name == "hasflag") {
      node.kind = TestNode::Kind::kHasFlag;
      if (!NeedExtension(t.line, t.column, what, "imap4flags")) return false;
      Signature sig{MatchTags(false), {Positional::kStringList}};
      if (!Arguments(what, t.line, t.column, t.arguments, sig, tags, pos)) return false;
      if (!no_tests() || !ApplyMatch(tags, node)) return false;
      node.keys = pos[0]->strings;
      return true;
    }
    if (t.name == "mailboxexists") {
      node.kind = TestNode::Kind::kMailboxExists;
      if (!NeedExtension(t.line, t.column, what, "mailbox")) return false;
      Signature sig{{}, {Positional::kStringList}};
      if (!Arguments(what, t.line, t.column, t.arguments, sig, tags, pos) || !no_tests()) {
        return false;
      }
      node.names = pos[0]->strings;
      return true;
    }
    return Fail(t.line, t.column, Cat("unknown test \"", Printable(t.name), "\""));
  }

  static std::vector<std::string> SplitFlags(const std::vector<std::string>& list) {
    std::vector<std::string> out;
    for (const std::string& s : list) {
      size_t i = 0;
      while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') ++i;
        size_t start = i;
        while (i < s.size() && s[i] != ' ') ++i;
        if (i > start) out.push_back(s.substr(start, i - start));
      }
    }
    return out;
  }

  bool Block(const std::vector<AstCommand>& ast, std::vector<CommandNode>& out, bool top) {
    for (size_t i = 0; i < ast.size(); ++i) {
      const AstCommand& c = ast[i];
      if (c.name == "require") {
        if (!top) return Fail(c.line, c.column, "\"require\" is only allowed at the top");
        continue;  // handled in Run
      }
      if (c.name == "elsif" || c.name == "else") {
        return Fail(c.line, c.column, Cat("\"", c.name, "\" without a preceding \"if\""));
      }
      CommandNode node;
      if (c.name == "if") {
        node.kind = CommandNode::Kind::kIf;
        node.line = c.line;
        if (!CompileBranch(c, true, node)) return false;
        while (i + 1 < ast.size() && (ast[i + 1].name == "elsif" || ast[i + 1].name == "else")) {
          const AstCommand& b = ast[++i];
          if (!CompileBranch(b, b.name == "elsif", node)) return false;
          if (b.name == "else") break;
        }
        out.push_back(std::move(node));
        continue;
      }
      if (!Command(c, node)) return false;
      out.push_back(std::move(node));
    }
    return true;
  }

  bool CompileBranch(const AstCommand& c, bool with_test, CommandNode& node) {
    std::string what = Cat("\"", c.name, "\"");
    if (!c.arguments.empty()) {
      return Fail(c.arguments[0].line, c.arguments[0].column,
                  Cat(what, " takes a test and a block, not arguments"));
    }
    sieve::Branch b;
    if (with_test) {
      if (c.tests.size() != 1 || c.test_list) {
        return Fail(c.line, c.column, Cat(what, " needs exactly one test"));
      }
      b.has_test = true;
      if (!Test(c.tests[0], b.test)) return false;
    } else if (!c.tests.empty()) {
      return Fail(c.line, c.column, "\"else\" takes no test");
    }
    if (!c.has_block) return Fail(c.line, c.column, Cat(what, " needs a block"));
    if (!Block(c.block, b.block, false)) return false;
    node.branches.push_back(std::move(b));
    return true;
  }

  bool Command(const AstCommand& c, CommandNode& node) {
    node.line = c.line;
    std::string what = Cat("command \"", Printable(c.name), "\"");
    if (c.has_block) {
      return Fail(c.line, c.column, Cat(what, " takes no block"));
    }
    if (!c.tests.empty()) {
      return Fail(c.tests[0].line, c.tests[0].column, Cat(what, " takes no test"));
    }
    std::map<std::string, GotTag, std::less<>> tags;
    std::vector<const AstArgument*> pos;
    const TagSpec flags_tag{"flags", TagValue::kStringList, "", "imap4flags"};
    auto take_flags = [&]() {
      auto it = tags.find("flags");
      if (it == tags.end()) return;
      node.has_flags = true;
      node.flags = SplitFlags(it->second.value->strings);
    };
    if (c.name == "keep") {
      node.kind = CommandNode::Kind::kKeep;
      if (!Arguments(what, c.line, c.column, c.arguments, {{flags_tag}, {}}, tags, pos)) {
        return false;
      }
      take_flags();
      return true;
    }
    if (c.name == "discard" || c.name == "stop") {
      node.kind = c.name == "stop" ? CommandNode::Kind::kStop : CommandNode::Kind::kDiscard;
      return Arguments(what, c.line, c.column, c.arguments, {}, tags, pos);
    }
    if (c.name == "fileinto") {
      node.kind = CommandNode::Kind::kFileInto;
      if (!NeedExtension(c.line, c.column, what, "fileinto")) return false;
      Signature sig{{flags_tag,
                     {"copy", TagValue::kNone, "", "copy"},
                     {"create", TagValue::kNone, "", "mailbox"}},
                    {Positional::kString}};
      if (!Arguments(what, c.line, c.column, c.arguments, sig, tags, pos)) return false;
      take_flags();
      node.copy = tags.count("copy") > 0;
      node.create = tags.count("create") > 0;
      node.argument = pos[0]->strings[0];
      if (!IsMailboxName(node.argument)) {
        return Fail(pos[0]->line, pos[0]->column,
                    Cat("invalid mailbox name \"", Printable(node.argument), "\""));
      }
      return true;
    }
    if (c.name == "redirect") {
      node.kind = CommandNode::Kind::kRedirect;
      Signature sig{{{"copy", TagValue::kNone, "", "copy"}}, {Positional::kString}};
      if (!Arguments(what, c.line, c.column, c.arguments, sig, tags, pos)) return false;
      node.copy = tags.count("copy") > 0;
      node.argument = SplitAddress(pos[0]->strings[0]).all;
      if (!IsValidRedirectAddress(node.argument)) {
        return Fail(pos[0]->line, pos[0]->column,
                    Cat("invalid redirect address \"", Printable(pos[0]->strings[0]), "\""));
      }
      return true;
    }
    if (c.name == "reject" || c.name == "ereject") {
      node.kind = c.name == "reject" ? CommandNode::Kind::kReject : CommandNode::Kind::kEreject;
      if (!NeedExtension(c.line, c.column, what, c.name)) return false;
      if (!Arguments(what, c.line, c.column, c.arguments, {{}, {Positional::kString}}, tags, pos)) {
        return false;
      }
      node.argument = pos[0]->strings[0];
      return true;
    }
    if (c.name == "setflag" || c.name == "addflag" || c.name == "removeflag") {
      node.kind = c.name == "setflag"   ? CommandNode::Kind::kSetFlag
                  : c.name == "addflag" ? CommandNode::Kind::kAddFlag
                                        : CommandNode::Kind::kRemoveFlag;
      if (!NeedExtension(c.line, c.column, what, "imap4flags")) return false;
      if (!Arguments(what, c.line, c.column, c.arguments, {{}, {Positional::kStringList}}, tags,
                     pos)) {
        return false;
      }
      node.flags = SplitFlags(pos[0]->strings);
      return true;
    }
    if (c.name == "vacation") {
      node.kind = CommandNode::Kind::kVacation;
      if (!NeedExtension(c.line, c.column, what, "vacation")) return false;
      Signature sig{{{"days", TagValue::kNumber, "period", ""},
                     {"seconds", TagValue::kNumber, "period", "vacation-seconds"},
                     {"subject", TagValue::kString, "", ""},
                     {"from", TagValue::kString, "", ""},
                     {"addresses", TagValue::kStringList, "", ""},
                     {"mime", TagValue::kNone, "", ""},
                     {"handle", TagValue::kString, "", ""}},
                    {Positional::kString}};
      if (!Arguments(what, c.line, c.column, c.arguments, sig, tags, pos)) return false;
      VacationParams& v = node.vacation;
      if (auto it = tags.find("days"); it != tags.end()) {
        uint64_t days = std::max<uint64_t>(1, it->second.value->number);
        days = std::min<uint64_t>(days, 365);
        v.seconds = days * 86400;
      }
      if (auto it = tags.find("seconds"); it != tags.end()) {
        v.seconds = std::min<uint64_t>(it->second.value->number, 365ull * 86400);
      }
      // :subject and :from become header fields of the reply: no line breaks (header
      // injection), and :from must hold an address.
      auto one_line = [&](std::string_view tag, std::string& out) {
        auto it = tags.find(tag);
        if (it == tags.end()) return true;
        const AstArgument& a = *it->second.value;
        if (a.strings[0].find_first_of("\r\n") != std::string::npos) {
          return Fail(a.line, a.column, Cat("vacation :", tag, " must be a single line"));
        }
        out = a.strings[0];
        return true;
      };
      if (!one_line("subject", v.subject) || !one_line("from", v.from)) return false;
      if (!v.from.empty()) {
        auto list = ParseAddressList(v.from);
        if (list.size() != 1 || !IsValidRedirectAddress(list[0].all)) {
          const AstArgument& a = *tags.find("from")->second.value;
          return Fail(a.line, a.column,
                      Cat("vacation :from \"", Printable(v.from), "\" is not one address"));
        }
      }
      if (auto it = tags.find("addresses"); it != tags.end()) {
        v.addresses = it->second.value->strings;
        for (const std::string& addr : v.addresses) {
          if (!IsValidRedirectAddress(SplitAddress(addr).all)) {
            return Fail(
                it->second.value->line, it->second.value->column,
                Cat("vacation :addresses holds an invalid address \"", Printable(addr), "\""));
          }
        }
      }
      v.mime = tags.count("mime") > 0;
      v.reason = pos[0]->strings[0];
      if (auto it = tags.find("handle"); it != tags.end()) {
        v.handle = it->second.value->strings[0];
      } else {
        // RFC 5230 4.2: without :handle, replies differing in these parameters are
        // different replies. A stable FNV-1a 64 digest of them.
        uint64_t h = 1469598103934665603ull;
        auto mix = [&h](std::string_view s) {
          for (unsigned char ch : s) {
            h ^= ch;
            h *= 1099511628211ull;
          }
          h ^= 0xff;
          h *= 1099511628211ull;
        };
        mix(v.subject);
        mix(v.from);
        mix(v.mime ? "mime" : "");
        mix(v.reason);
        static const char kHex[] = "0123456789abcdef";
        v.handle = "auto-";
        for (int shift = 60; shift >= 0; shift -= 4) v.handle.push_back(kHex[(h >> shift) & 15]);
      }
      return true;
    }
    return Fail(c.line, c.column, Cat("unknown command \"", Printable(c.name), "\""));
  }

  CompileError& err_;
  std::set<std::string, std::less<>> required_;
};

}  // namespace

absl::StatusOr<Script> Compile(std::string_view text, const Limits& limits, CompileError* error) {
  CompileError local;
  CompileError& err = error != nullptr ? *error : local;
  std::vector<AstCommand> ast;
  Script script;
  if (!Parse(text, limits, ast, err) || !Compiler(err).Run(ast, script)) {
    return absl::InvalidArgumentError(err.ToString());
  }
  return script;
}

}  // namespace kite::sieve

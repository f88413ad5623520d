#include "lib/sieve/parser.h"

#include <utility>

namespace kite::sieve {
namespace {

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const Limits& limits, CompileError& err)
      : t_(tokens), limits_(limits), err_(err) {}

  bool Script(std::vector<AstCommand>& out) {
    if (!Commands(out, 0)) return false;
    if (Peek().kind != TokenKind::kEnd) {
      return FailAt(Peek(), std::string("unexpected ") + TokenKindName(Peek().kind));
    }
    return true;
  }

 private:
  const Token& Peek() const { return t_[pos_]; }
  const Token& Next() {
    const Token& t = t_[pos_];
    if (t.kind != TokenKind::kEnd) ++pos_;
    return t;
  }

  bool FailAt(const Token& t, std::string message) {
    err_.line = t.line;
    err_.column = t.column;
    err_.message = std::move(message);
    return false;
  }

  bool Count(const Token& t) {
    if (++nodes_ > limits_.max_commands) {
      return FailAt(t, "script has more than " + std::to_string(limits_.max_commands) +
                           " commands and tests");
    }
    return true;
  }

  bool Commands(std::vector<AstCommand>& out, int depth) {
    while (Peek().kind == TokenKind::kIdentifier) {
      AstCommand c;
      if (!Command(c, depth)) return false;
      out.push_back(std::move(c));
    }
    return true;
  }

  bool Command(AstCommand& c, int depth) {
    const Token& name = Next();
    if (!Count(name)) return false;
    c.name = name.text;
    c.line = name.line;
    c.column = name.column;
    if (!Arguments(c.arguments, c.tests, c.test_list, 0)) return false;
    const Token& t = Peek();
    if (t.kind == TokenKind::kSemicolon) {
      Next();
      return true;
    }
    if (t.kind == TokenKind::kLeftBrace) {
      if (depth + 1 > limits_.max_nesting) {
        return FailAt(t, "blocks nested deeper than " + std::to_string(limits_.max_nesting));
      }
      Next();
      c.has_block = true;
      if (!Commands(c.block, depth + 1)) return false;
      if (Peek().kind != TokenKind::kRightBrace) {
        return FailAt(Peek(), std::string("expected \"}\" or a command, found ") +
                                  TokenKindName(Peek().kind));
      }
      Next();
      return true;
    }
    return FailAt(t, std::string("expected \";\" or \"{\" after command \"") + Printable(c.name) +
                         "\", found " + TokenKindName(t.kind));
  }

  // arguments = *argument [ test / test-list ]. `depth` counts nested tests only (blocks
  // are counted separately), so a test inside deep blocks still has its own budget.
  bool Arguments(std::vector<AstArgument>& args, std::vector<AstTest>& tests, bool& test_list,
                 int depth) {
    while (true) {
      const Token& t = Peek();
      AstArgument a;
      a.line = t.line;
      a.column = t.column;
      if (t.kind == TokenKind::kTag) {
        a.kind = AstArgument::Kind::kTag;
        a.tag = Next().text;
      } else if (t.kind == TokenKind::kNumber) {
        a.kind = AstArgument::Kind::kNumber;
        a.number = Next().number;
      } else if (t.kind == TokenKind::kString) {
        a.kind = AstArgument::Kind::kString;
        a.strings.push_back(Next().text);
      } else if (t.kind == TokenKind::kLeftBracket) {
        Next();
        a.kind = AstArgument::Kind::kStringList;
        while (true) {
          const Token& s = Next();
          if (s.kind != TokenKind::kString) {
            return FailAt(
                s, std::string("expected a string in the list, found ") + TokenKindName(s.kind));
          }
          if (a.strings.size() >= limits_.max_list_length) {
            return FailAt(s, "string list longer than " + std::to_string(limits_.max_list_length));
          }
          a.strings.push_back(s.text);
          const Token& sep = Next();
          if (sep.kind == TokenKind::kRightBracket) break;
          if (sep.kind != TokenKind::kComma) {
            return FailAt(sep, std::string("expected \",\" or \"]\" in the string list, found ") +
                                   TokenKindName(sep.kind));
          }
        }
      } else {
        break;
      }
      args.push_back(std::move(a));
    }
    const Token& t = Peek();
    if (t.kind == TokenKind::kIdentifier) {
      AstTest test;
      if (!Test(test, depth + 1)) return false;
      tests.push_back(std::move(test));
    } else if (t.kind == TokenKind::kLeftParen) {
      test_list = true;
      Next();
      while (true) {
        AstTest test;
        if (Peek().kind != TokenKind::kIdentifier) {
          return FailAt(Peek(),
                        std::string("expected a test, found ") + TokenKindName(Peek().kind));
        }
        if (!Test(test, depth + 1)) return false;
        tests.push_back(std::move(test));
        const Token& sep = Next();
        if (sep.kind == TokenKind::kRightParen) break;
        if (sep.kind != TokenKind::kComma) {
          return FailAt(sep, std::string("expected \",\" or \")\" in the test list, found ") +
                                 TokenKindName(sep.kind));
        }
      }
    }
    return true;
  }

  bool Test(AstTest& test, int depth) {
    const Token& name = Next();
    if (depth > limits_.max_nesting) {
      return FailAt(name, "tests nested deeper than " + std::to_string(limits_.max_nesting));
    }
    if (!Count(name)) return false;
    test.name = name.text;
    test.line = name.line;
    test.column = name.column;
    return Arguments(test.arguments, test.tests, test.test_list, depth);
  }

  const std::vector<Token>& t_;
  const Limits& limits_;
  CompileError& err_;
  size_t pos_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

bool Parse(std::string_view script, const Limits& limits, std::vector<AstCommand>& commands,
           CompileError& error) {
  commands.clear();
  if (script.size() > limits.max_script_size) {
    error.line = 1;
    error.column = 1;
    error.message = "script larger than " + std::to_string(limits.max_script_size) + " octets";
    return false;
  }
  std::vector<Token> tokens;
  if (!Lex(script, limits, tokens, error)) return false;
  return Parser(tokens, limits, error).Script(commands);
}

}  // namespace kite::sieve

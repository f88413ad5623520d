#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "lib/sieve/lexer.h"
#include "lib/sieve/parser.h"

namespace kite::sieve {
namespace {

std::vector<Token> LexOk(std::string_view s) {
  std::vector<Token> t;
  CompileError e;
  INFO(e.message);
  REQUIRE(Lex(s, Limits{}, t, e));
  return t;
}

CompileError LexError(std::string_view s, Limits limits = {}) {
  std::vector<Token> t;
  CompileError e;
  REQUIRE_FALSE(Lex(s, limits, t, e));
  return e;
}

TEST_CASE("the lexer reads identifiers, tags, numbers and punctuation", "[sieve][lexer]") {
  auto t = LexOk("if size :over 100K { discard; } # comment\n/* block\ncomment */ stop;");
  REQUIRE(t.size() == 11);
  CHECK(t[0].kind == TokenKind::kIdentifier);
  CHECK(t[0].text == "if");
  CHECK(t[2].kind == TokenKind::kTag);
  CHECK(t[2].text == "over");
  CHECK(t[3].kind == TokenKind::kNumber);
  CHECK(t[3].number == 100 * 1024);
  CHECK(t[4].kind == TokenKind::kLeftBrace);
  CHECK(t[8].text == "stop");
  CHECK(t[8].line == 3);
  CHECK(t[10].kind == TokenKind::kEnd);
}

TEST_CASE("numbers take K, M and G quantifiers and refuse overflow", "[sieve][lexer]") {
  CHECK(LexOk("1k")[0].number == 1024);
  CHECK(LexOk("2M")[0].number == 2u * 1024 * 1024);
  CHECK(LexOk("3G")[0].number == 3ull * 1024 * 1024 * 1024);
  CHECK(LexOk("18446744073709551615")[0].number == UINT64_MAX);
  CHECK(LexError("18446744073709551616").message == "number too large");
  CHECK(LexError("99999999999999999999G").message == "number too large");
  CHECK(LexError("17179869184G").message == "number too large");
  CHECK(LexError("12abc").message == "invalid number");
}

TEST_CASE("quoted strings decode backslash escapes", "[sieve][lexer]") {
  auto t = LexOk(R"("a\\b\"c\d" "multi
line")");
  CHECK(t[0].text == "a\\b\"cd");
  CHECK(t[1].text == "multi\nline");
  CHECK(LexError("\"open").message == "unterminated quoted string");
}

TEST_CASE("multi-line strings undo dot-stuffing", "[sieve][lexer]") {
  auto t = LexOk("text: # comment\r\nline one\r\n..dotted\r\n.\r\n;");
  REQUIRE(t[0].kind == TokenKind::kString);
  CHECK(t[0].text == "line one\r\n.dotted\r\n");
  CHECK(t[1].kind == TokenKind::kSemicolon);
  CHECK(t[1].line == 5);
  auto lf = LexOk("text:\nA\n.\n");
  CHECK(lf[0].text == "A\r\n");
  CHECK(LexError("text: x\nA\n.\n").message == "\"text:\" must be followed by a line break");
  CHECK(LexError("text:\nA\n").message.find("unterminated multi-line") == 0);
}

TEST_CASE("the lexer reports line and column of bad input", "[sieve][lexer]") {
  auto e = LexError("keep;\n  discard;\n   $");
  CHECK(e.line == 3);
  CHECK(e.column == 4);
  CHECK(e.message == "unexpected character \"$\"");
  CHECK(LexError("/* never closed").message == "unterminated /* comment");
  CHECK(LexError(": x").message == "\":\" must start a tag name");
  Limits small;
  small.max_string_length = 4;
  CHECK(LexError("\"12345\"", small).message == "string longer than 4 octets");
  small.max_tokens = 3;
  CHECK(LexError("a b c d", small).message == "script has too many tokens");
}

TEST_CASE("the parser builds commands, tests, test lists and blocks", "[sieve][parser]") {
  std::vector<AstCommand> ast;
  CompileError e;
  REQUIRE(Parse("if anyof (header :is \"a\" [\"b\", \"c\"], true) { keep; } else { stop; }",
                Limits{}, ast, e));
  REQUIRE(ast.size() == 2);
  CHECK(ast[0].name == "if");
  CHECK(ast[0].test_list == false);
  REQUIRE(ast[0].tests.size() == 1);
  CHECK(ast[0].tests[0].name == "anyof");
  CHECK(ast[0].tests[0].test_list);
  REQUIRE(ast[0].tests[0].tests.size() == 2);
  const AstTest& h = ast[0].tests[0].tests[0];
  REQUIRE(h.arguments.size() == 3);
  CHECK(h.arguments[0].kind == AstArgument::Kind::kTag);
  CHECK(h.arguments[1].kind == AstArgument::Kind::kString);
  CHECK(h.arguments[2].kind == AstArgument::Kind::kStringList);
  CHECK(h.arguments[2].strings == std::vector<std::string>{"b", "c"});
  CHECK(ast[0].has_block);
  CHECK(ast[1].name == "else");
}

TEST_CASE("the parser reports grammar errors with their position", "[sieve][parser]") {
  auto err = [](std::string_view s, Limits limits = {}) {
    std::vector<AstCommand> ast;
    CompileError e;
    REQUIRE_FALSE(Parse(s, limits, ast, e));
    return e;
  };
  auto e = err("keep;\nkeep\n");
  CHECK(e.line == 3);
  CHECK(e.message == "expected \";\" or \"{\" after command \"keep\", found end of script");
  CHECK(err("if true { keep;").message == "expected \"}\" or a command, found end of script");
  CHECK(err("x [\"a\" \"b\"];").message ==
        "expected \",\" or \"]\" in the string list, found string");
  CHECK(err("x [1];").message == "expected a string in the list, found number");
  CHECK(err("if anyof(true; false) {}").message ==
        "expected \",\" or \")\" in the test list, found \";\"");
  CHECK(err("}").message == "unexpected \"}\"");
  Limits l;
  l.max_script_size = 10;
  CHECK(err("keep; keep; keep;", l).message == "script larger than 10 octets");
}

TEST_CASE("nesting depth is bounded for blocks and tests", "[sieve][parser][limits]") {
  Limits l;
  l.max_nesting = 3;
  std::vector<AstCommand> ast;
  CompileError e;
  CHECK(Parse("if true { if true { if true { keep; } } }", l, ast, e));
  CHECK_FALSE(Parse("if true { if true { if true { if true { keep; } } } }", l, ast, e));
  CHECK(e.message == "blocks nested deeper than 3");
  CHECK_FALSE(Parse("if not not not not true { keep; }", l, ast, e));
  CHECK(e.message == "tests nested deeper than 3");
  // A deep attack at the default limits ends in an error, not a stack overflow.
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "if true {";
  CHECK_FALSE(Parse(deep, Limits{}, ast, e));
  std::string nots = "if ";
  for (int i = 0; i < 5000; ++i) nots += "not ";
  CHECK_FALSE(Parse(nots + "true {}", Limits{}, ast, e));
}

TEST_CASE("the number of commands is bounded", "[sieve][parser][limits]") {
  Limits l;
  l.max_commands = 5;
  std::vector<AstCommand> ast;
  CompileError e;
  CHECK(Parse("keep; keep; keep; keep; keep;", l, ast, e));
  CHECK_FALSE(Parse("keep; keep; keep; keep; keep; keep;", l, ast, e));
  CHECK(e.message == "script has more than 5 commands and tests");
  l.max_list_length = 2;
  CHECK_FALSE(Parse("x [\"a\", \"b\", \"c\"];", l, ast, e));
  CHECK(e.message == "string list longer than 2");
}

}  // namespace
}  // namespace kite::sieve

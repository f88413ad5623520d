// The generic Sieve grammar (RFC 5228 section 8.2): commands with arguments, tests and
// test lists, and blocks, before any command is known. compiler.cc checks names and
// arguments. Nesting is bounded by Limits::max_nesting (the parser is recursive).
#ifndef KITE_SERVICES_LIB_SIEVE_PARSER_H_
#define KITE_SERVICES_LIB_SIEVE_PARSER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/sieve/lexer.h"
#include "lib/sieve/sieve.h"

namespace kite::sieve {

struct AstArgument {
  enum class Kind { kTag, kNumber, kString, kStringList };
  Kind kind = Kind::kString;
  std::string tag;
  uint64_t number = 0;
  std::vector<std::string> strings;  // kString: one element
  int line = 0;
  int column = 0;
};

struct AstTest {
  std::string name;
  std::vector<AstArgument> arguments;
  std::vector<AstTest> tests;  // a single test or a test list
  bool test_list = false;      // written as ( ... )
  int line = 0;
  int column = 0;
};

struct AstCommand {
  std::string name;
  std::vector<AstArgument> arguments;
  std::vector<AstTest> tests;
  bool test_list = false;
  bool has_block = false;
  std::vector<AstCommand> block;
  int line = 0;
  int column = 0;
};

bool Parse(std::string_view script, const Limits& limits, std::vector<AstCommand>& commands,
           CompileError& error);

}  // namespace kite::sieve

#endif  // KITE_SERVICES_LIB_SIEVE_PARSER_H_

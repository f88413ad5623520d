// The pure SASL PLAIN / LOGIN message parsing of kite-auth (auth/sasl.h), which
// tests/fuzz/auth/auth_sasl_fuzz.cc fuzzes together with the SCRAM parsers.
#include <catch2/catch.hpp>

#include <string>

#include "auth/sasl.h"

namespace {

using namespace std::string_literals;
namespace sasl = kite::auth::sasl;

TEST_CASE("PLAIN messages split at the first two NULs", "[auth][sasl][plain][parser]") {
  auto p = sasl::ParsePlain("\0alice@example.test\0secret"s);
  REQUIRE(p.ok());
  CHECK(p->authzid.empty());
  CHECK(p->authcid == "alice@example.test");
  CHECK(p->password == "secret");
  CHECK(sasl::AuthzidPermitted(*p));

  p = sasl::ParsePlain("ALICE@example.test\0alice@EXAMPLE.test\0pw"s);
  REQUIRE(p.ok());
  CHECK(sasl::AuthzidPermitted(*p));
  p = sasl::ParsePlain("bob@example.test\0alice@example.test\0pw"s);
  REQUIRE(p.ok());
  CHECK_FALSE(sasl::AuthzidPermitted(*p));
  // A NUL in the password stays in it (it cannot match a stored one).
  p = sasl::ParsePlain("\0a\0p\0w"s);
  REQUIRE(p.ok());
  CHECK(p->password == "p\0w"s);
  // Empty fields parse; kite-auth refuses them as credentials.
  p = sasl::ParsePlain("\0\0"s);
  REQUIRE(p.ok());
  CHECK(p->authcid.empty());
  CHECK(p->password.empty());

  CHECK_FALSE(sasl::ParsePlain("").ok());
  CHECK_FALSE(sasl::ParsePlain("alice@example.test").ok());
  CHECK_FALSE(sasl::ParsePlain("alice@example.test\0pw"s).ok());
  CHECK_FALSE(sasl::ParsePlain("\0"s).ok());
}

TEST_CASE("LOGIN user names are bounded", "[auth][sasl][login][parser]") {
  CHECK(*sasl::ParseLoginUsername("alice@example.test") == "alice@example.test");
  CHECK(sasl::ParseLoginUsername(std::string(sasl::kMaxLoginUsername, 'a')).ok());
  CHECK_FALSE(sasl::ParseLoginUsername(std::string(sasl::kMaxLoginUsername + 1, 'a')).ok());
}

}  // namespace

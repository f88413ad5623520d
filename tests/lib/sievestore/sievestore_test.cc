// kite_sievestore against a real PostgreSQL: every call scoped to one account, compile errors
// refused with the line, the one-active-script rule, limits, and concurrent uploads.
#include "lib/sievestore/sievestore.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/test_env.h"
#include "lib/directory/directory.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace kite::sievestore {
namespace {

struct Db {
  std::unique_ptr<store::Pool> pool;
  int64_t alice = 0;
  int64_t bob = 0;
};

Db MakeDb(std::string_view tag) {
  auto pool = store::Pool::Create({.url = testing::FreshDatabase(tag), .pool_size = 8});
  REQUIRE(pool.ok());
  Db db{std::move(*pool)};
  REQUIRE(store::Migrate(*db.pool).ok());
  REQUIRE(directory::CreateDomain(*db.pool, "example.test").ok());
  auto a = directory::CreateAccount(*db.pool, "alice@example.test", "Alice", "!", 0);
  auto b = directory::CreateAccount(*db.pool, "bob@example.test", "Bob", "!", 0);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  db.alice = *a;
  db.bob = *b;
  return db;
}

constexpr char kGood[] =
    "require \"fileinto\";\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\n";
constexpr char kOther[] = "keep;\n";
constexpr char kBad[] = "require \"fileinto\";\nkeep;\nfileino \"X\";\n";

TEST_CASE("Check compiles without storing and names the line of an error", "[sievestore]") {
  CHECK(Check(kGood).ok());
  absl::Status s = Check(kBad);
  CHECK(absl::IsInvalidArgument(s));
  CHECK(std::string(s.message()).rfind("line 3: ", 0) == 0);
  CHECK(std::string(s.message()).find("fileino") != std::string::npos);
  CHECK(absl::IsInvalidArgument(Check("keep;\n\xff\xfe")));
  CHECK(absl::IsInvalidArgument(Check(std::string("keep;\0", 6))));
  Limits small;
  small.sieve.max_script_size = 8;
  absl::Status big = Check("keep; keep; keep;", small);
  CHECK(absl::IsResourceExhausted(big));
  CHECK(QuotaCode(big) == "QUOTA/MAXSIZE");
  CHECK(QuotaCode(absl::ResourceExhaustedError("other")).empty());
}

TEST_CASE("Every advertised extension compiles with require, an unknown one does not",
          "[sievestore]") {
  for (const std::string& ext : Extensions()) {
    INFO(ext);
    CHECK(Check("require \"" + ext + "\";\nkeep;\n").ok());
  }
  CHECK(absl::IsInvalidArgument(Check("require \"no-such-extension\";\n")));
}

TEST_CASE("Script names follow RFC 5804 section 1.6", "[sievestore]") {
  CHECK(ValidateName("vacation").ok());
  CHECK(ValidateName("Ferien \xc3\xbc"
                     "ber Weihnachten")
            .ok());
  CHECK(ValidateName(std::string(kMaxNameLength, 'a')).ok());
  std::string umlauts;
  for (size_t i = 0; i < kMaxNameLength; ++i) umlauts += "\xc3\xbc";
  CHECK(ValidateName(umlauts).ok());  // characters, not octets
  CHECK(absl::IsInvalidArgument(ValidateName(umlauts + "\xc3\xbc")));
  CHECK(absl::IsInvalidArgument(ValidateName("")));
  CHECK(absl::IsInvalidArgument(ValidateName(std::string(kMaxNameLength + 1, 'a'))));
  CHECK(absl::IsInvalidArgument(ValidateName("a\tb")));
  CHECK(absl::IsInvalidArgument(ValidateName("a\x7f")));
  CHECK(absl::IsInvalidArgument(ValidateName("a\xc2\x85")));      // U+0085 NEL
  CHECK(absl::IsInvalidArgument(ValidateName("a\xe2\x80\xa8")));  // U+2028
  CHECK(absl::IsInvalidArgument(ValidateName("a\xff")));
  CHECK(absl::IsInvalidArgument(ValidateName("\xc0\xaf")));      // overlong "/"
  CHECK(absl::IsInvalidArgument(ValidateName("\xed\xa0\x80")));  // a surrogate
}

TEST_CASE("Put, Get, List, Rename and Delete a script", "[sievestore]") {
  Db db = MakeDb("sieve_crud");
  store::Pool& pool = *db.pool;
  REQUIRE(Put(pool, db.alice, "main", kGood).ok());
  REQUIRE(Put(pool, db.alice, "other", kOther).ok());
  auto got = Get(pool, db.alice, "main");
  REQUIRE(got.ok());
  CHECK(*got == kGood);

  auto list = List(pool, db.alice);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].name == "main");
  CHECK_FALSE((*list)[0].active);
  CHECK((*list)[0].size == static_cast<int64_t>(sizeof kGood - 1));
  CHECK((*list)[1].name == "other");

  // Replacing keeps one row.
  REQUIRE(Put(pool, db.alice, "main", kOther).ok());
  CHECK(*Get(pool, db.alice, "main") == kOther);
  CHECK(List(pool, db.alice)->size() == 2);

  CHECK(absl::IsNotFound(Get(pool, db.alice, "missing").status()));
  CHECK(absl::IsAlreadyExists(Rename(pool, db.alice, "main", "other")));
  CHECK(absl::IsNotFound(Rename(pool, db.alice, "missing", "new")));
  CHECK(absl::IsInvalidArgument(Rename(pool, db.alice, "main", "")));
  REQUIRE(Rename(pool, db.alice, "main", "renamed").ok());
  CHECK(absl::IsNotFound(Get(pool, db.alice, "main").status()));
  CHECK(*Get(pool, db.alice, "renamed") == kOther);

  CHECK(absl::IsNotFound(Delete(pool, db.alice, "main")));
  REQUIRE(Delete(pool, db.alice, "renamed").ok());
  CHECK(List(pool, db.alice)->size() == 1);
}

TEST_CASE("A script that does not compile is refused with its line and nothing is stored",
          "[sievestore]") {
  Db db = MakeDb("sieve_bad");
  absl::Status s = Put(*db.pool, db.alice, "bad", kBad);
  CHECK(absl::IsInvalidArgument(s));
  CHECK(std::string(s.message()).rfind("line 3: ", 0) == 0);
  CHECK(List(*db.pool, db.alice)->empty());
  // Replacing a good script with a bad one keeps the good one.
  REQUIRE(Put(*db.pool, db.alice, "s", kGood).ok());
  CHECK(absl::IsInvalidArgument(Put(*db.pool, db.alice, "s", kBad)));
  CHECK(*Get(*db.pool, db.alice, "s") == kGood);
  CHECK(absl::IsInvalidArgument(Put(*db.pool, db.alice, "bad\nname", kGood)));
}

TEST_CASE(
    "One active script: SetActive switches, \"\" deactivates, the active one cannot be deleted",
    "[sievestore]") {
  Db db = MakeDb("sieve_active");
  store::Pool& pool = *db.pool;
  REQUIRE(Put(pool, db.alice, "a", kGood).ok());
  REQUIRE(Put(pool, db.alice, "b", kOther).ok());
  auto none = GetActive(pool, db.alice);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());

  REQUIRE(SetActive(pool, db.alice, "a").ok());
  auto active = GetActive(pool, db.alice);
  REQUIRE(active.ok());
  REQUIRE(active->has_value());
  CHECK((*active)->name == "a");
  CHECK((*active)->text == kGood);
  REQUIRE(SetActive(pool, db.alice, "a").ok());  // again: no change, no error
  REQUIRE(SetActive(pool, db.alice, "b").ok());
  CHECK((*GetActive(pool, db.alice))->name == "b");
  auto list = List(pool, db.alice);
  CHECK_FALSE((*list)[0].active);
  CHECK((*list)[1].active);

  CHECK(absl::IsFailedPrecondition(Delete(pool, db.alice, "b")));
  CHECK(absl::IsNotFound(SetActive(pool, db.alice, "missing")));
  CHECK((*GetActive(pool, db.alice))->name == "b");  // a failed SetActive changes nothing

  // Replacing and renaming the active script keep it active.
  REQUIRE(Put(pool, db.alice, "b", kGood).ok());
  REQUIRE(Rename(pool, db.alice, "b", "c").ok());
  CHECK((*GetActive(pool, db.alice))->name == "c");
  CHECK((*GetActive(pool, db.alice))->text == kGood);

  REQUIRE(SetActive(pool, db.alice, "").ok());
  CHECK_FALSE(GetActive(pool, db.alice)->has_value());
  REQUIRE(Delete(pool, db.alice, "c").ok());
  REQUIRE(SetActive(pool, db.alice, "").ok());  // nothing active: still fine
}

TEST_CASE("Accounts never see each other's scripts", "[sievestore]") {
  Db db = MakeDb("sieve_scope");
  store::Pool& pool = *db.pool;
  REQUIRE(Put(pool, db.alice, "mine", kGood).ok());
  REQUIRE(SetActive(pool, db.alice, "mine").ok());
  CHECK(List(pool, db.bob)->empty());
  CHECK(absl::IsNotFound(Get(pool, db.bob, "mine").status()));
  CHECK(absl::IsNotFound(SetActive(pool, db.bob, "mine")));
  CHECK(absl::IsNotFound(Delete(pool, db.bob, "mine")));
  CHECK(absl::IsNotFound(Rename(pool, db.bob, "mine", "x")));
  CHECK_FALSE(GetActive(pool, db.bob)->has_value());
  REQUIRE(Put(pool, db.bob, "mine", kOther).ok());  // the same name for another account
  REQUIRE(SetActive(pool, db.bob, "mine").ok());
  CHECK((*GetActive(pool, db.alice))->text == kGood);
  CHECK((*GetActive(pool, db.bob))->text == kOther);
  REQUIRE(SetActive(pool, db.bob, "").ok());
  CHECK(GetActive(pool, db.alice)->has_value());
}

TEST_CASE("HaveSpace and Put enforce the script size and count limits", "[sievestore]") {
  Db db = MakeDb("sieve_limits");
  store::Pool& pool = *db.pool;
  Limits limits;
  limits.max_scripts = 3;
  for (int i = 0; i < 3; ++i)
    REQUIRE(Put(pool, db.alice, "s" + std::to_string(i), kOther, limits).ok());
  absl::Status full = Put(pool, db.alice, "s3", kOther, limits);
  CHECK(absl::IsResourceExhausted(full));
  CHECK(QuotaCode(full) == "QUOTA/MAXSCRIPTS");
  CHECK(Put(pool, db.alice, "s0", kGood, limits).ok());  // replacing needs no new slot
  CHECK(HaveSpace(pool, db.alice, "s0", 100, limits).ok());
  CHECK(QuotaCode(HaveSpace(pool, db.alice, "s3", 100, limits)) == "QUOTA/MAXSCRIPTS");
  CHECK(QuotaCode(HaveSpace(pool, db.alice, "s0", limits.sieve.max_script_size + 1, limits)) ==
        "QUOTA/MAXSIZE");
  CHECK(HaveSpace(pool, db.alice, "s0", limits.sieve.max_script_size, limits).ok());
  CHECK(absl::IsInvalidArgument(HaveSpace(pool, db.alice, "", 1, limits)));
  CHECK(HaveSpace(pool, db.bob, "s3", 100, limits).ok());  // the count is per account
  std::string big(limits.sieve.max_script_size + 1, ' ');
  CHECK(QuotaCode(Put(pool, db.bob, "big", big, limits)) == "QUOTA/MAXSIZE");
}

TEST_CASE("Concurrent uploads never exceed the script count limit", "[sievestore]") {
  Db db = MakeDb("sieve_race");
  Limits limits;
  limits.max_scripts = 5;
  std::atomic<int> stored{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        absl::Status s = Put(*db.pool, db.alice, "t" + std::to_string(t) + "-" + std::to_string(i),
                             kOther, limits);
        if (s.ok()) {
          ++stored;
        } else if (QuotaCode(s) == "QUOTA/MAXSCRIPTS") {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(other == 0);
  CHECK(stored == 5);
  CHECK(refused == 19);
  CHECK(List(*db.pool, db.alice)->size() == 5);
}

TEST_CASE("Concurrent SetActive calls leave exactly one active script", "[sievestore]") {
  Db db = MakeDb("sieve_active_race");
  for (int i = 0; i < 6; ++i)
    REQUIRE(Put(*db.pool, db.alice, "s" + std::to_string(i), kOther).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        if (!SetActive(*db.pool, db.alice, "s" + std::to_string((t + i) % 6)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  int active = 0;
  auto list = List(*db.pool, db.alice);
  REQUIRE(list.ok());
  for (const auto& s : *list) active += s.active ? 1 : 0;
  CHECK(active == 1);
}

}  // namespace
}  // namespace kite::sievestore

// What MailStore::SearchText sends to PostgreSQL (lib/mailstore/search_sql.h): the escaping
// of the client's string, the pattern per key, and a statement in which client text only ever
// appears as a bound parameter.
#include "lib/mailstore/search_sql.h"

#include <catch2/catch.hpp>

#include "lib/imap/search_text.h"

namespace kite::mailstore {
namespace {

using imap::TextField;

TEST_CASE("LIKE and regular-expression escaping of the client's string", "[mailstore][search]") {
  CHECK(LikeEscape("100%_a\\b") == "100\\%\\_a\\\\b");
  CHECK(LikeEscape("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(RegexEscape("a.b*c(d)[e]{f}|g^h$i?j+k\\l") ==
        "a\\.b\\*c\\(d\\)\\[e\\]\\{f\\}\\|g\\^h\\$i\\?j\\+k\\\\l");
  CHECK(RegexEscape("sender3@") == "sender3\\@");
  CHECK(RegexEscape("x y\x01") == "x\\ y\\\x01");
  CHECK(RegexEscape("\xce\xa3") == "\xce\xa3");  // non-ASCII bytes stay literal
}

TEST_CASE("Each key's pattern folds the string as lib/imap does", "[mailstore][search]") {
  CHECK(CriterionPattern({TextField::kText, "100%"}) == "%100\\%%");
  CHECK(CriterionPattern({TextField::kBody, "A_B"}) == "%\x01%a\\_b%");
  CHECK(CriterionPattern({TextField::kFrom, "Sender3@"}) ==
        "\x01"
        "f[^\x01]*sender3\\@");
  CHECK(CriterionPattern({TextField::kSubject, "\xce\xa3"}) == "\x01s[^\x01]*\xcf\x83");
  // A string with the mark matches nothing stored.
  CHECK_FALSE(CriterionPattern({TextField::kTo, "a\x01"}).has_value());
}

TEST_CASE("The SearchText statement binds every client string", "[mailstore][search]") {
  auto sql = BuildSearchTextSql(
      7, 9, std::nullopt,
      {{TextField::kFrom, "x'; DROP TABLE messages; --"}, {TextField::kBody, "b"}});
  REQUIRE(sql.ok());
  CHECK(sql->sql.find("DROP") == std::string::npos);
  CHECK(sql->sql.find("ANY($3") == std::string::npos);  // no UID list: the whole mailbox
  REQUIRE(sql->params.size() == 4);
  CHECK(sql->params[0] == "7");
  CHECK(sql->params[1] == "9");
  CHECK(sql->sql.find("m.search_header ~ $3::text") != std::string::npos);
  CHECK(sql->sql.find("m.search_text LIKE $4::text ESCAPE '\\'") != std::string::npos);
  CHECK(sql->sql.find("m.search_header IS NULL OR m.search_text IS NULL") != std::string::npos);

  auto with_uids =
      BuildSearchTextSql(7, 9, std::vector<int64_t>{1, 5}, {{TextField::kCc, "a\x01"}});
  REQUIRE(with_uids.ok());
  CHECK(with_uids->params == std::vector<std::string>{"7", "9", "{1,5}"});
  // A small UID set: exactly those entries, each message by its key.
  CHECK(with_uids->sql.find("WITH e AS MATERIALIZED") != std::string::npos);
  CHECK(with_uids->sql.find("m.search_header IS NULL OR false") != std::string::npos);
  CHECK(with_uids->sql.find("search_text") == std::string::npos);  // header keys only
  std::vector<int64_t> many_uids(kScanLimit + 1);
  for (size_t i = 0; i < many_uids.size(); ++i) many_uids[i] = static_cast<int64_t>(i + 1);
  auto large = BuildSearchTextSql(7, 9, many_uids, {{TextField::kCc, "a"}});
  REQUIRE(large.ok());
  CHECK(large->sql.find("UNION ALL") != std::string::npos);
  CHECK(large->sql.find("ANY($3::bigint[])") != std::string::npos);

  CHECK_FALSE(BuildSearchTextSql(1, 1, std::nullopt, {}).ok());
  CHECK_FALSE(BuildSearchTextSql(1, 1, std::nullopt, {{TextField::kText, "\xff"}}).ok());
  std::vector<TextCriterion> many(65, TextCriterion{TextField::kText, "a"});
  CHECK_FALSE(BuildSearchTextSql(1, 1, std::nullopt, many).ok());
}

}  // namespace
}  // namespace kite::mailstore

#include "lib/imap/fetch_items.h"

#include <catch2/catch.hpp>

#include "lib/imap/receiver.h"

namespace kite::imap {
namespace {

Token ArgOf(std::string_view command) {
  Receiver r;
  r.Feed(command);
  Receiver::Event e = r.Next();
  REQUIRE(e.kind == Receiver::Event::kCommand);
  REQUIRE(e.command.args.size() == 2);
  return e.command.args[1];
}

std::vector<FetchItem> Items(std::string_view command) {
  absl::StatusOr<std::vector<FetchItem>> items = ParseFetchItems(ArgOf(command));
  INFO(command << " " << items.status().ToString());
  REQUIRE(items.ok());
  return *items;
}

TEST_CASE("FETCH macros expand", "[imap][parser]") {
  CHECK(Items("a FETCH 1 ALL\r\n").size() == 4);
  CHECK(Items("a FETCH 1 fast\r\n").size() == 3);
  std::vector<FetchItem> full = Items("a FETCH 1 FULL\r\n");
  REQUIRE(full.size() == 5);
  CHECK(full[4].kind == FetchItem::kBody);
  // Macros are not items inside a list.
  CHECK_FALSE(ParseFetchItems(ArgOf("a FETCH 1 (ALL)\r\n")).ok());
}

TEST_CASE("simple FETCH attributes", "[imap][parser]") {
  std::vector<FetchItem> items = Items(
      "a FETCH 1 (FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT ENVELOPE BODY "
      "BODYSTRUCTURE UID MODSEQ)\r\n");
  REQUIRE(items.size() == 11);
  CHECK(items[0].kind == FetchItem::kFlags);
  CHECK(items[2].kind == FetchItem::kRfc822);
  CHECK(items[2].SetsSeen());
  CHECK_FALSE(items[3].SetsSeen());
  CHECK(items[10].kind == FetchItem::kModSeq);
  CHECK(Items("a FETCH 1 uid\r\n")[0].kind == FetchItem::kUid);
}

TEST_CASE("BODY sections, parts and partials", "[imap][parser]") {
  std::vector<FetchItem> items =
      Items("a FETCH 1 (BODY[] BODY.PEEK[HEADER] body[1.2.MIME]<10.20> BODY[3.TEXT] BODY[2])\r\n");
  REQUIRE(items.size() == 5);
  CHECK(items[0].kind == FetchItem::kBodySection);
  CHECK(items[0].section.empty());
  CHECK(items[0].SetsSeen());
  CHECK(items[1].peek);
  CHECK_FALSE(items[1].SetsSeen());
  CHECK(items[1].section == "HEADER");
  CHECK(items[2].part == std::vector<uint32_t>{1, 2});
  CHECK(items[2].section == "MIME");
  CHECK(items[2].partial == std::make_pair(uint64_t{10}, uint64_t{20}));
  CHECK(items[2].ResponseName() == "BODY[1.2.MIME]<10>");
  CHECK(items[3].ResponseName() == "BODY[3.TEXT]");
  CHECK(items[4].ResponseName() == "BODY[2]");
}

TEST_CASE("HEADER.FIELDS lists", "[imap][parser]") {
  std::vector<FetchItem> items =
      Items("a FETCH 1 BODY.PEEK[HEADER.FIELDS (From \"To\" x-spam)]\r\n");
  REQUIRE(items.size() == 1);
  CHECK(items[0].section == "HEADER.FIELDS");
  CHECK(items[0].fields == std::vector<std::string>{"From", "To", "x-spam"});
  CHECK(items[0].ResponseName() == "BODY[HEADER.FIELDS (FROM TO X-SPAM)]");
  items = Items("a FETCH 1 BODY[1.HEADER.FIELDS.NOT (Received)]\r\n");
  CHECK(items[0].section == "HEADER.FIELDS.NOT");
  CHECK(items[0].part == std::vector<uint32_t>{1});
}

TEST_CASE("BINARY items", "[imap][parser]") {
  std::vector<FetchItem> items =
      Items("a FETCH 1 (BINARY[1] BINARY.PEEK[]<0.5> BINARY.SIZE[2])\r\n");
  REQUIRE(items.size() == 3);
  CHECK(items[0].kind == FetchItem::kBinary);
  CHECK(items[0].SetsSeen());
  CHECK(items[1].peek);
  CHECK(items[2].kind == FetchItem::kBinarySize);
  CHECK_FALSE(ParseFetchItem("BINARY[HEADER]").ok());
  CHECK_FALSE(ParseFetchItem("BINARY.SIZE[1]<0.1>").ok());
}

TEST_CASE("bad FETCH attributes", "[imap][parser]") {
  for (const char* bad : {"FOO", "BODY[HEADERS]", "BODY[0]", "BODY[1.]", "BODY[.1]", "BODY[MIME]",
                          "BODY[HEADER.FIELDS]", "BODY[HEADER.FIELDS ()]", "BODY[HEADER.FIELDS (A]",
                          "BODY[]<1>", "BODY[]<1.0>", "BODY[]<a.b>", "BODY[]x", "BODY[TEXT ]",
                          "BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16."
                          "17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32.33]"}) {
    INFO(bad);
    CHECK_FALSE(ParseFetchItem(bad).ok());
  }
  CHECK_FALSE(ParseFetchItems(ArgOf("a FETCH 1 ()\r\n")).ok());
  CHECK_FALSE(ParseFetchItems(ArgOf("a FETCH 1 \"FLAGS\"\r\n")).ok());
}

TEST_CASE("OBJECTID, SAVEDATE and PREVIEW items", "[imap][parser]") {
  std::vector<FetchItem> items = Items("a FETCH 1 (EMAILID THREADID savedate PREVIEW)\r\n");
  REQUIRE(items.size() == 4);
  CHECK(items[0].kind == FetchItem::kEmailId);
  CHECK(items[0].ResponseName() == "EMAILID");
  CHECK(items[1].kind == FetchItem::kThreadId);
  CHECK(items[2].kind == FetchItem::kSaveDate);
  CHECK(items[2].ResponseName() == "SAVEDATE");
  CHECK(items[3].kind == FetchItem::kPreview);
  CHECK_FALSE(items[3].lazy);
  CHECK_FALSE(items[3].SetsSeen());
  // PREVIEW (LAZY) inside a list (RFC 8970 4), and the modifiers' errors.
  items = Items("a FETCH 1 (UID PREVIEW (lazy) FLAGS)\r\n");
  REQUIRE(items.size() == 3);
  CHECK(items[1].kind == FetchItem::kPreview);
  CHECK(items[1].lazy);
  CHECK(items[1].ResponseName() == "PREVIEW");
  CHECK(items[2].kind == FetchItem::kFlags);
  CHECK_FALSE(ParseFetchItems(ArgOf("a FETCH 1 (PREVIEW (EAGER))\r\n")).ok());
  CHECK_FALSE(ParseFetchItems(ArgOf("a FETCH 1 (PREVIEW ())\r\n")).ok());
  CHECK_FALSE(ParseFetchItems(ArgOf("a FETCH 1 (FLAGS (LAZY))\r\n")).ok());
  // FETCH 1 PREVIEW (LAZY): the modifier list is FETCH's next argument.
  Receiver r;
  r.Feed("a FETCH 1 PREVIEW (LAZY)\r\n");
  Receiver::Event e = r.Next();
  REQUIRE(e.kind == Receiver::Event::kCommand);
  REQUIRE(e.command.args.size() == 3);
  CHECK(IsPreviewWithModifiers(e.command.args[1], e.command.args[2]));
  FetchItem preview;
  CHECK(ParsePreviewModifiers(e.command.args[2], preview).ok());
  CHECK(preview.lazy);
}

}  // namespace
}  // namespace kite::imap

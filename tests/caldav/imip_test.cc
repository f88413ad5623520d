// iMIP composition (RFC 6047): the MIME structure parses with GMime, the calendar part
// carries the method, and no client text can add a header or a part.
#include "caldav/imip.h"

#include <gmime/gmime.h>

#include <catch2/catch.hpp>
#include <mutex>
#include <string>

namespace {

using namespace kite::caldav;

const char* kIcal =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//"
    "EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:x\r\n"
    "DTSTAMP:20261120T090000Z\r\nDTSTART:20261201T090000Z\r\nSUMMARY:Sync\r\nEND:VEVENT\r\nEND:"
    "VCALENDAR\r\n";

ImipMail Sample() {
  ImipMail m;
  m.from = "olga@example.test";
  m.from_name = "Olga";
  m.to = "carol@other.test";
  m.method = "REQUEST";
  m.subject = "Invitation: Sync";
  m.text = "Olga invites you to Sync";
  m.ical = kIcal;
  m.date = 1795000000;
  m.message_id = "abc.itip@example.test";
  return m;
}

GMimeMessage* ParseMime(const std::string& text) {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
  GMimeStream* stream = g_mime_stream_mem_new_with_buffer(text.data(), text.size());
  GMimeParser* parser = g_mime_parser_new_with_stream(stream);
  GMimeMessage* msg = g_mime_parser_construct_message(parser, nullptr);
  g_object_unref(parser);
  g_object_unref(stream);
  return msg;
}

std::string Header(GMimeMessage* msg, const char* name) {
  const char* v = g_mime_object_get_header(GMIME_OBJECT(msg), name);
  return v != nullptr ? v : "";
}

std::string PartText(GMimeObject* part) {
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(part));
  GMimeStream* out = g_mime_stream_mem_new();
  g_mime_data_wrapper_write_to_stream(content, out);
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
  std::string s(reinterpret_cast<const char*>(bytes->data), bytes->len);
  g_object_unref(out);
  return s;
}

int HeaderCount(const std::string& text) {
  std::string head = text.substr(0, text.find("\r\n\r\n") + 2);
  int n = 0;
  for (size_t i = 0; i + 1 < head.size(); ++i) {
    if (head[i] == '\r' && head[i + 1] == '\n' && i + 2 < head.size() && head[i + 2] != ' ' &&
        head[i + 2] != '\t')
      ++n;
  }
  return n + 1;
}

}  // namespace

TEST_CASE("an iMIP REQUEST is multipart/alternative with a text/calendar part carrying the method",
          "[caldav][imip]") {
  auto text = ComposeImip(Sample());
  REQUIRE(text.ok());
  CHECK(text->find("\r\nMIME-Version: 1.0\r\n") != std::string::npos);
  CHECK(text->find("Date: ") != std::string::npos);
  CHECK(text->find("Message-ID: <abc.itip@example.test>") != std::string::npos);
  GMimeMessage* msg = ParseMime(*text);
  REQUIRE(msg != nullptr);
  CHECK(Header(msg, "Subject") == "Invitation: Sync");
  GMimeObject* body = g_mime_message_get_mime_part(msg);
  REQUIRE(GMIME_IS_MULTIPART(body));
  CHECK(std::string(g_mime_content_type_get_media_subtype(g_mime_object_get_content_type(body))) ==
        "alternative");
  GMimeMultipart* mp = GMIME_MULTIPART(body);
  REQUIRE(g_mime_multipart_get_count(mp) == 2);
  GMimeObject* cal = g_mime_multipart_get_part(mp, 1);
  GMimeContentType* ct = g_mime_object_get_content_type(cal);
  CHECK(std::string(g_mime_content_type_get_media_subtype(ct)) == "calendar");
  CHECK(std::string(g_mime_content_type_get_parameter(ct, "method")) == "REQUEST");
  CHECK(std::string(g_mime_content_type_get_parameter(ct, "charset")) == "UTF-8");
  CHECK(PartText(cal) == kIcal);
  g_object_unref(msg);
}

TEST_CASE("CR/LF in a SUMMARY or name cannot add a header", "[caldav][imip]") {
  ImipMail m = Sample();
  m.subject = "Invitation: Hi\r\nBcc: victim@evil.test\r\n\r\nbody";
  m.from_name = "Olga\"\r\nX-Injected: 1";
  m.to_name = "Carol\nReply-To: evil@evil.test";
  auto text = ComposeImip(m);
  REQUIRE(text.ok());
  int base = HeaderCount(*ComposeImip(Sample()));
  CHECK(HeaderCount(*text) == base);
  CHECK(text->find("\r\nBcc:") == std::string::npos);
  CHECK(text->find("\r\nX-Injected:") == std::string::npos);
  CHECK(text->find("\r\nReply-To:") == std::string::npos);
  GMimeMessage* msg = ParseMime(*text);
  REQUIRE(msg != nullptr);
  CHECK(Header(msg, "Bcc").empty());
  CHECK(Header(msg, "Subject").find("Bcc: victim@evil.test") !=
        std::string::npos);  // kept as text, one line
  g_object_unref(msg);
}

TEST_CASE("non-ASCII subjects and names become RFC 2047 encoded words", "[caldav][imip]") {
  ImipMail m = Sample();
  m.subject = "Réunion: café ☕";
  m.from_name = "Zoë";
  auto text = ComposeImip(m);
  REQUIRE(text.ok());
  CHECK(text->find("=?UTF-8?B?") != std::string::npos);
  GMimeMessage* msg = ParseMime(*text);
  REQUIRE(msg != nullptr);
  const char* subject = g_mime_message_get_subject(msg);
  REQUIRE(subject != nullptr);
  CHECK(std::string(subject) == "Réunion: café ☕");
  g_object_unref(msg);
}

TEST_CASE("unsafe addresses and Message-IDs are refused", "[caldav][imip]") {
  for (const char* bad :
       {"a@b\r\nBcc: x@y", "<a@b>", "a b@c", "a@b@c", "@b", "a@", "a@b,c@d", "a@.b"}) {
    INFO(bad);
    ImipMail m = Sample();
    m.to = bad;
    CHECK_FALSE(ComposeImip(m).ok());
    CHECK_FALSE(SafeMailAddress(bad));
  }
  ImipMail m = Sample();
  m.message_id = "x>\r\nBcc: y@z";
  CHECK_FALSE(ComposeImip(m).ok());
  m = Sample();
  m.method = "PUBLISH\r\nX: y";
  CHECK_FALSE(ComposeImip(m).ok());
  CHECK(SafeMailAddress("carol+tag@other.test"));
}

TEST_CASE("header text is cleaned and bounded", "[caldav][imip]") {
  CHECK(CleanHeaderText("  a\r\n\tb  c ") == "a b c");
  CHECK(CleanHeaderText(std::string(500, 'x')).size() == kMaxHeaderText);
  std::string e = std::string(300, 'x') + "é";
  CHECK(CleanHeaderText(e).size() == kMaxHeaderText);
  CHECK(CleanHeaderText("bad \xff\xfe utf8") == "bad  utf8");
  CHECK(FormatMailbox("A \"B\"", "a@b.test") == "\"A \\\"B\\\"\" <a@b.test>");
  CHECK(FormatMailbox("", "a@b.test") == "<a@b.test>");
  CHECK(RfcDate(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST_CASE("a delegate notice is a single text/plain part", "[caldav][imip]") {
  NoticeMail n;
  n.from = "room@example.test";
  n.to = "boss@example.test";
  n.subject = "Booking request";
  n.text = "please decide";
  n.date = 1795000000;
  n.message_id = "n1@example.test";
  auto text = ComposeNotice(n);
  REQUIRE(text.ok());
  GMimeMessage* msg = ParseMime(*text);
  REQUIRE(msg != nullptr);
  GMimeObject* body = g_mime_message_get_mime_part(msg);
  REQUIRE(GMIME_IS_PART(body));
  CHECK(PartText(body) == "please decide\r\n");
  g_object_unref(msg);
}

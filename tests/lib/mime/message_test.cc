// Parse once (lib/mime): structure, exact octet offsets and sizes, ENVELOPE / BODY /
// BODYSTRUCTURE strings, the storage blob, and SEARCH text.
#include "lib/mime/message.h"

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

namespace kite::mime {
namespace {

std::string Crlf(std::string_view s) {
  std::string r;
  for (char c : s) {
    if (c == '\n')
      r += "\r\n";
    else
      r.push_back(c);
  }
  return r;
}

std::string_view Slice(std::string_view raw, uint64_t off, uint64_t size) {
  return raw.substr(off, size);
}

// Every part: the body follows its header, and both lie inside the message.
void CheckOffsets(const Message& m, const Part& p) {
  CHECK(p.header_offset + p.header_size == p.body_offset);
  CHECK(p.body_offset + p.body_size <= m.size);
  for (const auto& c : p.children) {
    CHECK(c.header_offset >= p.body_offset);
    CHECK(c.body_offset + c.body_size <= p.body_offset + p.body_size);
    CheckOffsets(m, c);
  }
}

void CheckRoundTrip(const Message& m) {
  CheckOffsets(m, m.root);
  auto blob = EncodeStorage(m);
  auto back = DecodeStorage(blob);
  REQUIRE(back.ok());
  CHECK(*back == m);
  CHECK(ImapBody(back->root, true) == ImapBody(m.root, true));
}

TEST_CASE("A simple text message gives an exact envelope and structure", "[mime]") {
  std::string raw = Crlf(
      "From: Alice <alice@example.test>\n"
      "To: bob@example.test\n"
      "Subject: Hello \"there\"\n"
      "Date: Mon, 23 Nov 2026 04:00:00 +0000\n"
      "Message-ID: <1@example.test>\n"
      "\n"
      "Hello Bob.\n"
      "Second line.\n");
  Message m = Parse(raw);
  CHECK(m.size == raw.size());
  size_t body = raw.find("\r\n\r\n") + 4;
  CHECK(m.root.header_offset == 0);
  CHECK(m.root.header_size == body);
  CHECK(m.root.body_offset == body);
  CHECK(m.root.body_size == raw.size() - body);
  CHECK(m.root.body_lines == 2);
  CHECK(ImapEnvelope(m.envelope) ==
        "(\"Mon, 23 Nov 2026 04:00:00 +0000\" \"Hello \\\"there\\\"\" "
        "((\"Alice\" NIL \"alice\" \"example.test\")) "
        "((\"Alice\" NIL \"alice\" \"example.test\")) "
        "((\"Alice\" NIL \"alice\" \"example.test\")) "
        "((NIL NIL \"bob\" \"example.test\")) NIL NIL NIL \"<1@example.test>\")");
  std::string size = std::to_string(raw.size() - body);
  CHECK(ImapBody(m.root, false) ==
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" " + size + " 2)");
  CHECK(ImapBody(m.root, true) ==
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" " + size +
            " 2 NIL NIL NIL NIL)");
  CHECK(FindPart(m, "1") == &m.root);
  CHECK(FindPart(m, "2") == nullptr);
  CheckRoundTrip(m);
}

TEST_CASE(
    "multipart/alternative parts have exact offsets and the CRLF before a boundary is not "
    "part of the body",
    "[mime]") {
  std::string raw = Crlf(
      "From: a@example.test\n"
      "Content-Type: multipart/alternative; boundary=\"b1\"\n"
      "\n"
      "preamble\n"
      "--b1\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: quoted-printable\n"
      "\n"
      "caf=C3=A9\n"
      "--b1\n"
      "Content-Type: text/html; charset=utf-8\n"
      "\n"
      "<p>hi</p>\n"
      "\n"
      "--b1--\n"
      "epilogue\n");
  Message m = Parse(raw);
  REQUIRE(m.root.IsMultipart());
  REQUIRE(m.root.children.size() == 2);
  const Part& p1 = m.root.children[0];
  const Part& p2 = m.root.children[1];
  size_t h1 = raw.find("Content-Type: text/plain");
  CHECK(p1.header_offset == h1);
  CHECK(Slice(raw, p1.header_offset, p1.header_size) ==
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
        "quoted-printable\r\n\r\n");
  CHECK(Slice(raw, p1.body_offset, p1.body_size) == "caf=C3=A9");
  CHECK(p1.body_lines == 1);
  CHECK(p1.encoding == "quoted-printable");
  CHECK(Slice(raw, p2.body_offset, p2.body_size) == "<p>hi</p>\r\n");
  CHECK(p2.body_lines == 1);
  CHECK(ImapBody(m.root, false) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 9 1)"
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 11 1) \"ALTERNATIVE\")");
  CHECK(ImapBody(m.root, true) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 9 1 NIL NIL NIL "
        "NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL) "
        "\"ALTERNATIVE\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)");
  CHECK(FindPart(m, "2") == &p2);
  CHECK(BodyText(raw, m) == "caf\xc3\xa9\n<p>hi</p>\r\n");
  CheckRoundTrip(m);
}

TEST_CASE("multipart/mixed with attachments carries disposition, language, location, id",
          "[mime]") {
  std::string raw = Crlf(
      "From: a@example.test\n"
      "Content-Type: multipart/mixed; boundary=outer\n"
      "\n"
      "--outer\n"
      "\n"
      "See attachments.\n"
      "--outer\n"
      "Content-Type: application/pdf; name=\"doc.pdf\"\n"
      "Content-Transfer-Encoding: base64\n"
      "Content-Disposition: attachment; filename=\"doc.pdf\"\n"
      "Content-Language: en, de\n"
      "Content-Location: http://example.test/doc.pdf\n"
      "Content-ID: <doc@example.test>\n"
      "Content-Description: A document\n"
      "\n"
      "JVBERi0xLjQK\n"
      "--outer\n"
      "Content-Type: image/png; name*=utf-8''%C3%A9.png\n"
      "Content-Disposition: inline\n"
      "Content-Language: fr\n"
      "\n"
      "iVBORw0KGgo=\n"
      "--outer--\n");
  Message m = Parse(raw);
  REQUIRE(m.root.children.size() == 3);
  CHECK(m.root.children[0].header_size == 2);  // just the blank line
  CHECK(ImapBody(m.root.children[1], true) ==
        "(\"APPLICATION\" \"PDF\" (\"NAME\" \"doc.pdf\") \"<doc@example.test>\" \"A document\" "
        "\"BASE64\" 12 NIL (\"ATTACHMENT\" (\"FILENAME\" \"doc.pdf\")) (\"en\" \"de\") "
        "\"http://example.test/doc.pdf\")");
  CHECK(m.root.children[2].params[0].value == "\xc3\xa9.png");  // RFC 2231 decoded
  CHECK(ImapBody(m.root.children[2], true) ==
        "(\"IMAGE\" \"PNG\" (\"NAME\" \"=?UTF-8?b?w6kucG5n?=\") NIL NIL \"7BIT\" 12 NIL "
        "(\"INLINE\" NIL) \"fr\" NIL)");
  CheckRoundTrip(m);
}

TEST_CASE("A nested message/rfc822 has its envelope, body and lines, and its sections", "[mime]") {
  std::string inner = Crlf(
      "From: Dave <dave@example.test>\n"
      "Subject: inner\n"
      "Content-Type: multipart/alternative; boundary=\"i\"\n"
      "\n"
      "--i\n"
      "Content-Type: text/plain\n"
      "\n"
      "inner text\n"
      "--i\n"
      "Content-Type: text/html\n"
      "\n"
      "<b>inner</b>\n"
      "--i--\n");
  std::string raw = Crlf(
                        "From: a@example.test\n"
                        "Content-Type: multipart/mixed; boundary=\"o\"\n"
                        "\n"
                        "--o\n"
                        "Content-Type: text/plain\n"
                        "\n"
                        "Forwarded.\n"
                        "--o\n"
                        "Content-Type: message/rfc822\n"
                        "\n") +
                    inner + Crlf("--o--\n");
  Message m = Parse(raw);
  REQUIRE(m.root.children.size() == 2);
  const Part& msg = m.root.children[1];
  REQUIRE(msg.IsMessage());
  // The CRLF before "--o--" is the delimiter's: the nested message lacks its final CRLF.
  std::string inner_body = inner.substr(0, inner.size() - 2);
  CHECK(Slice(raw, msg.body_offset, msg.body_size) == inner_body);
  CHECK(msg.body_lines == 13);
  CHECK(msg.envelope->subject == "inner");
  CHECK(msg.envelope->from[0].name == "Dave");
  const Part* nested = FindPart(m, "2.1");
  REQUIRE(nested != nullptr);
  CHECK(nested->type == "text");
  CHECK(Slice(raw, nested->body_offset, nested->body_size) == "inner text");
  const Part* html = FindPart(m, "2.2");
  REQUIRE(html != nullptr);
  CHECK(Slice(raw, html->body_offset, html->body_size) == "<b>inner</b>");
  // BODY[2.HEADER] is the nested message's header.
  const Part& nroot = msg.children[0];
  CHECK(Slice(raw, nroot.header_offset, nroot.header_size) ==
        inner.substr(0, inner.find("\r\n\r\n") + 4));
  std::string bs = ImapBody(m.root, false);
  CHECK(bs.find("(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" " + std::to_string(msg.body_size) +
                " (NIL \"inner\" ((\"Dave\" NIL \"dave\" \"example.test\"))") != std::string::npos);
  CHECK(bs.find("\"ALTERNATIVE\") 13)(") == std::string::npos);
  CHECK(bs.find("\"ALTERNATIVE\") 13) \"MIXED\")") != std::string::npos);
  CheckRoundTrip(m);
}

TEST_CASE("RFC 2047 names are sent encoded, subjects raw, and decoded for SEARCH", "[mime]") {
  std::string raw = Crlf(
      "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\n"
      "Subject: =?UTF-8?Q?caf=C3=A9?= =?UTF-8?B?w6k=?= and =?broken?Q?x\n"
      "Subject: second\n"
      "\n"
      "x\n");
  Message m = Parse(raw);
  CHECK(m.envelope.subject == "=?UTF-8?Q?caf=C3=A9?= =?UTF-8?B?w6k=?= and =?broken?Q?x");
  REQUIRE(m.envelope.from.size() == 1);
  CHECK(m.envelope.from[0].mailbox == "PIRARD");
  CHECK(m.envelope.from[0].host == "vm1.ulg.ac.be");
  REQUIRE(m.envelope.from[0].name.has_value());
  CHECK(m.envelope.from[0].name->find("=?") != std::string::npos);  // ASCII on the wire
  auto subj = HeaderValues(raw, m.root, "SUBJECT");
  REQUIRE(subj.size() == 2);
  CHECK(subj[0].rfind("caf\xc3\xa9\xc3\xa9 and", 0) == 0);
  CHECK(subj[1] == "second");
  auto from = HeaderValues(raw, m.root, "from");
  REQUIRE(from.size() == 1);
  CHECK(from[0].find("Andr\xc3\xa9 Pirard") != std::string::npos);
}

TEST_CASE("Group addresses use IMAP group syntax", "[mime]") {
  std::string raw = Crlf(
      "From: a@example.test\n"
      "To: Team: bob@example.test, Carol <carol@example.test>;, dave@example.test\n"
      "Cc: empty:;\n"
      "\n");
  Message m = Parse(raw);
  std::string env = ImapEnvelope(m.envelope);
  CHECK(
      env.find("((NIL NIL \"Team\" NIL)(NIL NIL \"bob\" \"example.test\")"
               "(\"Carol\" NIL \"carol\" \"example.test\")(NIL NIL NIL NIL)"
               "(NIL NIL \"dave\" \"example.test\")) ((NIL NIL \"empty\" NIL)(NIL NIL NIL NIL))") !=
      std::string::npos);
  CHECK(m.root.body_size == 0);
}

TEST_CASE("Malformed MIME still gives a valid best-effort structure", "[mime]") {
  SECTION("missing boundary: one empty part") {
    std::string raw = Crlf("Content-Type: multipart/mixed; boundary=\"nothere\"\n\nno parts\n");
    Message m = Parse(raw);
    REQUIRE(m.root.children.size() == 1);
    CHECK(ImapBody(m.root, false) ==
          "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) \"MIXED\")");
    CheckRoundTrip(m);
  }
  SECTION("multipart without a boundary parameter is an opaque leaf") {
    Message m = Parse(Crlf("Content-Type: multipart/mixed\n\nx\n"));
    CHECK(m.root.children.empty());
    CHECK(ImapBody(m.root, false).rfind("(\"APPLICATION\" \"OCTET-STREAM\"", 0) == 0);
  }
  SECTION("unterminated multipart: the last part runs to the end") {
    std::string raw = Crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n");
    Message m = Parse(raw);
    REQUIRE(m.root.children.size() == 2);
    CHECK(Slice(raw, m.root.children[1].body_offset, m.root.children[1].body_size) == "two\r\n");
  }
  SECTION("bad transfer encoding and unknown charset") {
    std::string raw = Crlf(
        "Content-Type: text/plain; charset=x-unknown\nContent-Transfer-Encoding: base64\n\n"
        "!!!not base64@@@\n");
    Message m = Parse(raw);
    CHECK(m.root.encoding == "base64");
    (void)BodyText(raw, m);
  }
  SECTION("a base64 message/rfc822 is a basic part, not parsed") {
    std::string raw = Crlf(
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        "U3ViamVjdDogeA0KDQp5DQo=\n");
    Message m = Parse(raw);
    CHECK(m.root.children.empty());
    CHECK(ImapBody(m.root, false) == "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"BASE64\" 26)");
    CHECK(TransferDecode(raw, m.root) == "Subject: x\r\n\r\ny\r\n");
    CheckRoundTrip(m);
  }
  SECTION("8-bit headers and duplicate headers") {
    std::string raw = Crlf(
        "From: J\xf6rg <j@example.test>\nSubject: Gr\xc3\xbc\xc3\x9f"
        "e\n"
        "Subject: dup\n\nb\n");
    Message m = Parse(raw);
    CHECK(m.envelope.subject ==
          "Gr\xc3\xbc\xc3\x9f"
          "e");  // the first one, raw
    CHECK(ImapEnvelope(m.envelope)
              .find("{7}\r\nGr\xc3\xbc\xc3\x9f"
                    "e") != std::string::npos);
    REQUIRE(m.envelope.from.size() == 1);
    CHECK(m.envelope.from[0].mailbox == "j");
    CheckRoundTrip(m);
  }
  SECTION("no headers at all") {
    std::string raw = Crlf("\njust a body\n");
    Message m = Parse(raw);
    CHECK(m.root.header_size == 2);
    CHECK(m.root.body_size == raw.size() - 2);
    CHECK(ImapEnvelope(m.envelope) == "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
  }
  SECTION("no blank line: all header") {
    Message m = Parse("Subject: x\r\nFrom: a@b.test");
    CHECK(m.root.body_size == 0);
    CHECK(m.envelope.subject == "x");
  }
  SECTION("empty message") {
    Message m = Parse("");
    CHECK(m.size == 0);
    CHECK(ImapBody(m.root, true) ==
          "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)");
  }
  SECTION("a bare LF message") {
    std::string raw =
        "From: a@example.test\nContent-Type: multipart/mixed; boundary=x\n\n--x\n"
        "Content-Type: text/plain\n\nlf only\n--x--\n";
    Message m = Parse(raw);
    REQUIRE(m.root.children.size() == 1);
    const Part& p = m.root.children[0];
    CHECK(Slice(raw, p.header_offset, p.header_size) == "Content-Type: text/plain\n\n");
    CHECK(Slice(raw, p.body_offset, p.body_size) == "lf only");
    CHECK(p.body_lines == 1);
    CHECK(p.params == std::vector<Param>{{"charset", "us-ascii"}});
    CheckRoundTrip(m);
  }
  SECTION("multipart/digest parts default to message/rfc822") {
    std::string raw =
        Crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody\n--d--\n");
    Message m = Parse(raw);
    REQUIRE(m.root.children.size() == 1);
    CHECK(m.root.children[0].IsMessage());
    CHECK(m.root.children[0].envelope->subject == "one");
    CheckRoundTrip(m);
  }
  SECTION("header fields beyond the header limit are ignored, offsets stay exact") {
    std::string raw = "X-Pad: " + std::string(5000, 'a') + "\r\nSubject: late\r\n\r\nbody";
    Message m = Parse(raw, Limits{.max_header_bytes = 1024});
    CHECK(!m.envelope.subject.has_value());
    CHECK(m.root.body_offset == raw.size() - 4);
    CHECK(m.root.body_size == 4);
  }
}

TEST_CASE("Limits turn the rest into opaque leaves", "[mime]") {
  SECTION("nesting depth") {
    std::string raw;
    for (int i = 0; i < 50; ++i) {
      raw += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" +
             std::to_string(i) + "\r\n";
    }
    raw += "\r\nleaf\r\n";
    Message m = Parse(raw, Limits{.max_depth = 8});
    int depth = 0;
    const Part* p = &m.root;
    while (!p->children.empty()) {
      p = &p->children[0];
      ++depth;
    }
    CHECK(depth == 8);
    CHECK(p->type == "application");
    CheckRoundTrip(m);
  }
  SECTION("number of parts") {
    std::string raw = "Content-Type: multipart/mixed; boundary=b\r\n\r\n";
    for (int i = 0; i < 30; ++i) raw += "--b\r\n\r\npart\r\n";
    raw += "--b--\r\n";
    Message m = Parse(raw, Limits{.max_parts = 10});
    REQUIRE(m.root.children.size() == 10);
    const Part& last = m.root.children.back();
    CHECK(last.type == "application");
    CHECK(last.body_offset + last.body_size == raw.size() - 9);  // up to "\r\n--b--\r\n"
  }
}

TEST_CASE("Literals for long or CR/LF values, quoting escapes", "[mime]") {
  CHECK(ImapString(std::nullopt) == "NIL");
  CHECK(ImapString("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(ImapString("a\r\nb") == "{4}\r\na\r\nb");
  std::string long_value(1001, 'x');
  CHECK(ImapString(long_value).rfind("{1001}\r\n", 0) == 0);
}

TEST_CASE("The storage blob rejects corrupt input", "[mime]") {
  Message m =
      Parse(Crlf("From: a@example.test\nContent-Type: multipart/mixed; boundary=b\n\n"
                 "--b\n\nx\n--b\nContent-Type: message/rfc822\n\nSubject: s\n\ny\n--b--\n"));
  std::string blob = EncodeStorage(m);
  CheckRoundTrip(m);
  CHECK(!DecodeStorage("").ok());
  CHECK(!DecodeStorage("KMS\x02").ok());
  for (size_t cut = 0; cut < blob.size(); ++cut) {
    CHECK(!DecodeStorage(std::string_view(blob).substr(0, cut)).ok());
  }
  for (size_t i = 4; i < blob.size(); ++i) {  // flipped bytes: error or a valid message
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0xff);
    auto r = DecodeStorage(bad);
    if (r.ok()) (void)ImapBody(r->root, true);
  }
}

TEST_CASE("BodyText decodes base64 and converts charsets", "[mime]") {
  std::string raw = Crlf(
      "Content-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: base64\n\n"
      "Y2Fm6Q==\n"
      "--b\nContent-Type: image/png\n\nnot text\n"
      "--b--\n");
  Message m = Parse(raw);
  CHECK(BodyText(raw, m) == "caf\xc3\xa9");
  CHECK(BodyText(raw, m, 2) == "ca");
}

TEST_CASE("Parsing from several threads at once gives the same result", "[mime]") {
  std::string raw = Crlf(
      "From: =?UTF-8?Q?J=C3=B6rg?= <j@example.test>\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: base64\n\n"
      "Y2Fm6Q==\n--b--\n");
  std::string expected = ImapBody(Parse(raw).root, true);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&raw, &expected, &ok, t] {
      for (int i = 0; i < 200; ++i) {
        Message m = Parse(raw);
        if (ImapBody(m.root, true) != expected || BodyText(raw, m) != "caf\xc3\xa9") return;
      }
      ok[t] = 1;
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok == std::vector<int>(4, 1));
}

TEST_CASE("A chain of nested messages stops at the depth limit", "[mime]") {
  std::string raw;
  for (int i = 0; i < 100; ++i)
    raw += "Subject: level " + std::to_string(i) + "\r\nContent-Type: message/rfc822\r\n\r\n";
  raw += "\r\nbottom\r\n";
  Message m = Parse(raw);
  int depth = 0;
  const Part* p = &m.root;
  while (p->IsMessage()) {
    p = &p->children[0];
    ++depth;
  }
  CHECK(depth == 32);
  CHECK(p->type == "application");
  CheckRoundTrip(m);
  std::string bs = ImapBody(m.root, true);
  CHECK(bs.find("\"level 31\"") != std::string::npos);
}

}  // namespace
}  // namespace kite::mime

namespace kite::mime {
namespace {

TEST_CASE("BODYSTRUCTURE of a message/rfc822 part and extension data is exact", "[mime]") {
  std::string raw = Crlf(
      "From: a@example.test\n"
      "Subject: outer\n"
      "Content-Type: multipart/mixed; boundary=\"o\"; x-param=1\n"
      "Content-Disposition: inline\n"
      "Content-Language: en\n"
      "Content-Location: http://example.test/outer\n"
      "\n"
      "--o\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
      "Content-Disposition: inline; filename=a.txt\n"
      "Content-Language: en, de\n"
      "Content-Location: a.txt\n"
      "\n"
      "one\n"
      "two\n"
      "--o\n"
      "Content-Type: message/rfc822\n"
      "\n"
      "From: Bob <bob@example.test>\n"
      "To: undisclosed-recipients:;\n"
      "Subject: inner\n"
      "Message-ID: <in@example.test>\n"
      "In-Reply-To: <prev@example.test>\n"
      "\n"
      "hello\n"
      "--o--\n");
  Message m = Parse(raw);
  const std::string text =
      "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 8 2";
  const std::string bob = "((\"Bob\" NIL \"bob\" \"example.test\"))";
  const std::string envelope = "(NIL \"inner\" " + bob + " " + bob + " " + bob +
                               " ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"
                               " NIL NIL \"<prev@example.test>\" \"<in@example.test>\")";
  CHECK(ImapBody(m.root, true) ==
        "(" + text +
            " \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"INLINE\" (\"FILENAME\" \"a.txt\")) (\"en\" \"de\")"
            " \"a.txt\")"
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 148 " +
            envelope +
            " (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)"
            " 7 NIL NIL NIL NIL)"
            " \"MIXED\" (\"BOUNDARY\" \"o\" \"X-PARAM\" \"1\") (\"INLINE\" NIL) \"en\""
            " \"http://example.test/outer\")");
  CHECK(ImapBody(m.root, false) ==
        "(" + text + ")(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 148 " + envelope +
            " (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 1) 7) \"MIXED\")");
  CheckRoundTrip(m);
}

TEST_CASE("A version 1 storage blob (no Content-MD5) still decodes", "[mime]") {
  std::string raw = Crlf("Content-MD5: abc\nSubject: x\n\nbody\n");
  Message m = Parse(raw);
  CHECK(m.root.md5 == "abc");
  std::string blob = EncodeStorage(m);
  REQUIRE(blob[3] == '\x02');
  // The same message as version 1 wrote it: no md5 field after the description.
  Message v1 = m;
  v1.root.md5.reset();
  std::string old = EncodeStorage(v1);
  // Drop the md5 tag (one 0 byte) that version 2 writes after the description.
  size_t desc = old.find("7bit") - 2;  // ... id(0) description(0) md5(0) "7bit"
  REQUIRE(old[desc] == '\0');
  old.erase(desc, 1);
  old[3] = '\x01';
  auto back = DecodeStorage(old);
  REQUIRE(back.ok());
  CHECK(*back == v1);
}

}  // namespace
}  // namespace kite::mime

namespace kite::mime {
namespace {

TEST_CASE("A top-level message/rfc822 has part 1, its message's parts are 1.n", "[mime]") {
  std::string inner = Crlf(
      "Subject: inner\n"
      "Content-Type: multipart/mixed; boundary=\"i\"\n"
      "\n"
      "--i\n"
      "\n"
      "first\n"
      "--i\n"
      "\n"
      "second\n"
      "--i--\n");
  std::string raw = Crlf("Subject: outer\nContent-Type: message/rfc822\n\n") + inner;
  Message m = Parse(raw);
  REQUIRE(m.root.IsMessage());
  const Part* one = FindPart(m, "1");
  REQUIRE(one == &m.root);
  CHECK(Slice(raw, one->body_offset, one->body_size) == inner);
  const Part* first = FindPart(m, "1.1");
  REQUIRE(first != nullptr);
  CHECK(Slice(raw, first->body_offset, first->body_size) == "first");
  const Part* second = FindPart(m, "1.2");
  REQUIRE(second != nullptr);
  CHECK(Slice(raw, second->body_offset, second->body_size) == "second");
  CHECK(FindPart(m, "2") == nullptr);
  CHECK(FindPart(m, "1.3") == nullptr);
}

TEST_CASE("Preview takes the first text part, decoded and collapsed (RFC 8970)", "[mime]") {
  const std::string mixed =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Disposition: attachment\r\n\r\nnot me\r\n"
      "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text\r\n"
      "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
      "  Caf=E9\r\n\r\n\tau  lait =\r\nfin\r\n--b--\r\n";
  CHECK(Preview(mixed, Parse(mixed)) == "Caf\xc3\xa9 au lait fin");
  const std::string html = "Content-Type: text/html\r\n\r\n<html><body><p>Hello</p><p>world</p></body></html>\r\n";
  CHECK(Preview(html, Parse(html)) == "Hello world");
  const std::string none = "Content-Type: image/png\r\n\r\nxx\r\n";
  CHECK(Preview(none, Parse(none)).empty());
  // At most 256 characters, counted as characters, not bytes.
  std::string many = "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  for (int i = 0; i < 300; ++i) many += "\xc3\xa9";
  const std::string p = Preview(many, Parse(many));
  CHECK(p.size() == 512);
  CHECK(Preview(many, Parse(many), 3) == "\xc3\xa9\xc3\xa9\xc3\xa9");
}

}  // namespace
}  // namespace kite::mime

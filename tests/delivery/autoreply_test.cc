#include "delivery/autoreply.h"

#include <map>

#include <catch2/catch.hpp>

#include "lib/mime/message.h"

using kite::delivery::AutoReplyDecision;
using kite::delivery::MayAutoReply;

namespace {

struct Headers {
  std::multimap<std::string, std::string> fields;
  kite::delivery::HeaderLookup Lookup() const {
    return [this](std::string_view name) {
      std::vector<std::string> out;
      for (const auto& [k, v] : fields) {
        if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
              return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
            }))
          out.push_back(v);
      }
      return out;
    };
  }
};

AutoReplyDecision Decide(std::string from, Headers h, std::vector<std::string> own = {"me@example.test"}) {
  return MayAutoReply(from, h.Lookup(), own);
}

}  // namespace

TEST_CASE("RFC 3834: automatic replies only to people who wrote to the user") {
  Headers to_me{{{"To", "Me <me@example.test>"}}};
  CHECK(Decide("friend@client.test", to_me).allowed);
  CHECK(Decide("friend@client.test", Headers{{{"Cc", "a@x.test, ME@example.test"}}}).allowed);
  CHECK(Decide("friend@client.test", Headers{{{"To", "me+tag@example.test"}}}).allowed);
  CHECK(Decide("friend@client.test", Headers{{{"Resent-To", "<me@example.test>"}}}).allowed);
  CHECK_FALSE(Decide("friend@client.test", Headers{{{"To", "other@example.test"}}}).allowed);
  CHECK_FALSE(Decide("", to_me).allowed);
  for (const char* robot : {"MAILER-DAEMON@x.test", "owner-list@x.test", "list-request@x.test", "noreply@x.test",
                            "listserv@x.test", "majordomo@x.test", "news-bounces@x.test"}) {
    CHECK_FALSE(Decide(robot, to_me).allowed);
  }
  auto with = [&](const char* k, const char* v) {
    Headers h = to_me;
    h.fields.emplace(k, v);
    return Decide("friend@client.test", h);
  };
  CHECK_FALSE(with("Auto-Submitted", "auto-replied").allowed);
  CHECK_FALSE(with("Auto-Submitted", "auto-generated; owner-email=x").allowed);
  CHECK(with("Auto-Submitted", "no").allowed);
  CHECK_FALSE(with("Precedence", "bulk").allowed);
  CHECK_FALSE(with("Precedence", " List").allowed);
  CHECK_FALSE(with("Precedence", "junk").allowed);
  CHECK(with("Precedence", "first-class").allowed);
  CHECK_FALSE(with("List-Id", "<dev.lists.test>").allowed);
  CHECK_FALSE(with("List-Unsubscribe", "<mailto:u@x.test>").allowed);
  CHECK_FALSE(with("X-Auto-Response-Suppress", "OOF, AutoReply").allowed);
}

TEST_CASE("ExtractAddresses reads address lists") {
  using kite::delivery::ExtractAddresses;
  CHECK(ExtractAddresses("A <A@X.test>, b@y.test") == std::vector<std::string>{"a@x.test", "b@y.test"});
  CHECK(ExtractAddresses("\"Doe, <fake@q.test>\" <real@x.test>") == std::vector<std::string>{"real@x.test"});
  CHECK(ExtractAddresses("undisclosed-recipients:;").empty());
  CHECK(ExtractAddresses("<unterminated@x.test").empty());
}

TEST_CASE("Vacation replies carry RFC 3834 fields and cannot be given extra fields") {
  kite::delivery::VacationReply r;
  r.from = "me@example.test";
  r.to = "friend@client.test";
  r.subject = "Away\r\nBcc: victim@remote.test";
  r.original_subject = "hello";
  r.original_message_id = "<abc@client.test>";
  r.reason = "I am away.\nBack Monday.";
  r.message_id = "v1@mail.example.test";
  r.date = absl::FromUnixSeconds(1700000000);
  std::string out = kite::delivery::BuildVacationReply(r);
  std::string head = out.substr(0, out.find("\r\n\r\n") + 2);
  CHECK(head.find("\r\nBcc:") == std::string::npos);
  CHECK(head.find("Subject: Away Bcc: victim@remote.test\r\n") != std::string::npos);
  CHECK(head.find("Auto-Submitted: auto-replied (vacation)\r\n") != std::string::npos);
  CHECK(head.find("In-Reply-To: <abc@client.test>\r\n") != std::string::npos);
  CHECK(head.find("References: <abc@client.test>\r\n") != std::string::npos);
  CHECK(head.find("To: <friend@client.test>\r\n") != std::string::npos);
  CHECK(out.find("I am away.\r\nBack Monday.\r\n") != std::string::npos);
  // The default subject, and non-ASCII text encoded.
  r.subject = "";
  r.original_subject = "Grüße";
  r.reason = "Nicht da — zurück am Montag.";
  out = kite::delivery::BuildVacationReply(r);
  CHECK(out.find("Subject: =?UTF-8?B?") != std::string::npos);
  CHECK(out.find("charset=utf-8\r\nContent-Transfer-Encoding: base64") != std::string::npos);
  auto parsed = kite::mime::Parse(out);
  REQUIRE(parsed.envelope.subject.has_value());
  // :mime reasons keep only their Content-* fields.
  r.mime = true;
  r.reason = "Content-Type: text/html\r\nTo: victim@remote.test\r\n\r\n<p>Away</p>";
  out = kite::delivery::BuildVacationReply(r);
  CHECK(out.find("Content-Type: text/html\r\n") != std::string::npos);
  CHECK(out.find("victim") == std::string::npos);
  // ... and only well-formed ones: a Content-* line without a colon or with a NUL (found by
  // tests/fuzz/delivery/delivery_autoreply_fuzz) is no field and would break the header.
  r.reason = std::string("Content-Typz\0 text/plain\r\n c\r\nContent-Language en\r\n"
                         "Content-Type: text/plain\r\n\tcharset=us-ascii\r\n \0x\r\n\r\nAway", 107);
  out = kite::delivery::BuildVacationReply(r);
  head = out.substr(0, out.find("\r\n\r\n") + 2);
  CHECK(head.find('\0') == std::string::npos);
  CHECK(head.find("Content-Typz") == std::string::npos);
  CHECK(head.find("Content-Language") == std::string::npos);
  CHECK(head.find(" c\r\n") == std::string::npos);
  CHECK(head.find("Content-Type: text/plain\r\n\tcharset=us-ascii\r\n") != std::string::npos);
  CHECK(out.find("\r\n\r\nAway") != std::string::npos);
  // A broken original Message-ID is left out rather than copied.
  r.original_message_id = "<abc@x>\r\nBcc: v@x.test";
  out = kite::delivery::BuildVacationReply(r);
  CHECK(out.find("In-Reply-To") == std::string::npos);
}

TEST_CASE("Reject notices are RFC 3798 MDNs with the original header") {
  kite::delivery::RejectNotice n;
  n.reporting_host = "mail.example.test";
  n.postmaster = "MAILER-DAEMON@mail.example.test";
  n.to = "friend@client.test";
  n.final_recipient = "me@example.test";
  n.reason = "Not here.";
  n.original_message_id = "<abc@client.test>";
  std::string original = "Subject: hi\r\nMessage-ID: <abc@client.test>\r\n\r\nsecret body\r\n";
  n.original = original;
  n.message_id = "r1@mail.example.test";
  n.boundary = "b1";
  n.date = absl::FromUnixSeconds(1700000000);
  std::string out = kite::delivery::BuildRejectNotice(n);
  CHECK(out.find("report-type=disposition-notification") != std::string::npos);
  CHECK(out.find("Disposition: automatic-action/MDN-sent-automatically; deleted\r\n") != std::string::npos);
  CHECK(out.find("Final-Recipient: rfc822; me@example.test\r\n") != std::string::npos);
  CHECK(out.find("Subject: hi\r\n") != std::string::npos);
  CHECK(out.find("secret body") == std::string::npos);
  auto parsed = kite::mime::Parse(out);
  CHECK(parsed.root.IsMultipart());
  CHECK(parsed.root.children.size() == 3);
}

TEST_CASE("Quota warnings say how full the mailbox is") {
  kite::delivery::QuotaWarning w;
  w.postmaster = "postmaster@example.test";
  w.to = "me@example.test";
  w.used_bytes = 85 * 1024 * 1024;
  w.limit_bytes = 100 * 1024 * 1024;
  w.percent = 80;
  w.message_id = "q1@mail.example.test";
  w.date = absl::FromUnixSeconds(1700000000);
  std::string out = kite::delivery::BuildQuotaWarning(w);
  CHECK(out.find("Subject: Your mailbox is 85% full\r\n") != std::string::npos);
  CHECK(out.find("85.0 MiB of its 100.0 MiB") != std::string::npos);
  CHECK(out.find("Auto-Submitted: auto-generated") != std::string::npos);
  CHECK(kite::delivery::HumanBytes(512) == "512 bytes");
}

TEST_CASE("EncodeWord splits long UTF-8 text between characters") {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "ü";
  std::string enc = kite::delivery::EncodeWord(text);
  CHECK(enc.find("=?UTF-8?B?") == 0);
  CHECK(enc.find("\r\n =?UTF-8?B?") != std::string::npos);
  CHECK(kite::delivery::EncodeWord("plain") == "plain");
  CHECK(kite::delivery::CleanField("a\r\nb\tc  d") == "a b c d");
}

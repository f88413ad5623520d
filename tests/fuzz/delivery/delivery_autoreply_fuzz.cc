// libFuzzer target: the messages kite-delivery writes from untrusted text (Sieve vacation
// replies and reject notices, services/delivery/autoreply.h) and the RFC 3834 checks on
// the incoming header. The input is split at 0x1F into fields: envelope sender, subject,
// original subject, original Message-ID, References, :from, reason, a header value for
// the address extraction and the original message; the first byte sets :mime.
// Invariants (no header injection): the generated header has only CRLF line ends (no bare
// CR or LF), each line is a continuation or a field whose name kite-delivery writes itself
// (From, To, Subject, Date, Message-ID, In-Reply-To, References, Auto-Submitted,
// MIME-Version, Content-*), with exactly one From, To and Subject; CleanField output holds no
// control character and stays within its bound; EncodeWord output has no line end except
// its "\r\n " folds; extracted addresses contain '@'.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "delivery/autoreply.h"

namespace {

using kite::delivery::BuildRejectNotice;
using kite::delivery::BuildVacationReply;
using kite::delivery::CleanField;
using kite::delivery::EncodeWord;
using kite::delivery::ExtractAddresses;
using kite::delivery::MayAutoReply;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// The header block (up to the first empty line) of a generated message.
std::string_view HeaderOf(std::string_view msg) {
  size_t end = msg.find("\r\n\r\n");
  Check(end != std::string_view::npos);
  return msg.substr(0, end + 2);
}

void CheckLineEnds(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') Check(i + 1 < text.size() && text[i + 1] == '\n');
    if (text[i] == '\n') Check(i > 0 && text[i - 1] == '\r');
  }
}

void CheckHeader(std::string_view header, const std::vector<std::string_view>& allowed, bool content_ok) {
  CheckLineEnds(header);
  int from = 0, to = 0, subject = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(header.data(), header.size()), "\r\n")) {
    if (line.empty()) continue;
    if (line[0] == ' ' || line[0] == '\t') continue;  // a continuation
    size_t colon = line.find(':');
    Check(colon != absl::string_view::npos);
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    bool known = content_ok && absl::StartsWith(name, "content-");
    for (std::string_view a : allowed) known = known || name == a;
    Check(known);
    from += name == "from";
    to += name == "to";
    subject += name == "subject";
  }
  Check(from == 1 && to == 1 && subject <= 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  const bool mime = data[0] & 1;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string> f = absl::StrSplit(absl::string_view(input.data(), input.size()), '\x1f');
  f.resize(9);

  for (size_t max : {size_t{0}, size_t{1}, size_t{7}, size_t{900}}) {
    std::string clean = CleanField(f[1], max);
    Check(clean.size() <= max);
    for (char c : clean) Check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  }
  std::string word = EncodeWord(f[1]);
  std::string unfolded = absl::StrReplaceAll(word, {{"\r\n ", ""}});
  Check(unfolded.find('\r') == std::string::npos && unfolded.find('\n') == std::string::npos);

  // Only compared with the user's own addresses (never written anywhere).
  for (const std::string& a : ExtractAddresses(f[7])) Check(a.find('@') != std::string::npos);
  auto lookup = [&f](std::string_view name) -> std::vector<std::string> {
    if (absl::EqualsIgnoreCase(absl::string_view(name.data(), name.size()), "To")) return {f[7]};
    if (absl::EqualsIgnoreCase(absl::string_view(name.data(), name.size()), "Subject")) return {f[2]};
    return {};
  };
  (void)MayAutoReply(f[0], lookup, {"user@example.test"});

  kite::delivery::VacationReply v;
  v.to = f[0];
  v.subject = f[1];
  v.original_subject = f[2];
  v.original_message_id = f[3];
  v.original_references = f[4];
  v.from = f[5].empty() ? "user@example.test" : f[5];
  v.reason = f[6];
  v.mime = mime;
  v.message_id = "vacation.1@mail.example.test";
  v.date = absl::FromUnixSeconds(1'800'000'000);
  std::string reply = BuildVacationReply(v);
  CheckHeader(HeaderOf(reply),
              {"from", "to", "subject", "date", "message-id", "in-reply-to", "references", "auto-submitted",
               "mime-version"},
              true);

  kite::delivery::RejectNotice r;
  r.reporting_host = "mail.example.test";
  r.postmaster = "postmaster@example.test";
  r.to = f[0];
  r.final_recipient = "user@example.test";
  r.reason = f[6];
  r.original_message_id = f[3];
  r.original = f[8];
  r.message_id = "reject.1@mail.example.test";
  r.boundary = "reject.1/mail.example.test";
  r.date = absl::FromUnixSeconds(1'800'000'000);
  std::string notice = BuildRejectNotice(r);
  CheckHeader(HeaderOf(notice),
              {"from", "to", "subject", "date", "message-id", "in-reply-to", "references", "auto-submitted",
               "mime-version"},
              true);
  return 0;
}

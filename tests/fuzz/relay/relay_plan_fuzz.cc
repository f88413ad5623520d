// Fuzzes what the relay takes from remote servers and spooled messages: ParseEhlo on reply
// lines, the MTA-STS TXT record and policy parsers, DotStuff (its output must be valid DATA content), and BuildDsn with the input as
// the remote reply and the original message (no field may be injected).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "mta/relay/dsn.h"
#include "mta/relay/mta_sts.h"
#include "mta/relay/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= in.size() && lines.size() < 300) {
    size_t nl = in.find('\n', start);
    if (nl == std::string_view::npos) nl = in.size();
    lines.emplace_back(in.substr(start, nl - start));
    start = nl + 1;
  }
  kite::relay::Capabilities caps = kite::relay::ParseEhlo(lines);
  (void)caps;

  auto policy = kite::relay::ParseStsPolicy(in);
  if (policy.ok()) {
    for (const std::string& l : lines) (void)kite::relay::StsMxMatches(*policy, l);
  }
  auto body = kite::relay::StsBodyFromHttpResponse(in);
  if (body.ok() && body->size() > kite::relay::kMaxPolicySize) abort();
  auto id = kite::relay::ParseStsTxt(in);
  if (id.ok() && (id->empty() || id->size() > 32)) abort();

  // DATA content: CRLF lines only, no line that is a lone "." before the end.
  std::string stuffed = kite::relay::DotStuff(in);
  if (stuffed.size() < 3 || stuffed.compare(stuffed.size() - 3, 3, ".\r\n") != 0) abort();
  if (stuffed.find("\r\n.\r\n") != stuffed.size() - 5 && stuffed != ".\r\n") abort();

  kite::relay::DsnInput d;
  d.reporting_mta = "mail.example.test";
  d.to = "sender@example.test";
  d.boundary = "b";
  d.now = absl::FromUnixSeconds(1700000000);
  d.original = in;
  d.envid = std::string(in.substr(0, 120));
  kite::relay::DsnRecipient r;
  r.final_recipient = "user@dest.test";
  r.action = (size & 1) ? "failed" : "delayed";
  r.status = kite::relay::StatusFromReply(size % 700, in.substr(0, 7));
  r.diagnostic = std::string(in.substr(0, 2000));
  d.recipients.push_back(r);
  std::string report = kite::relay::BuildDsn(d);
  // The report's own fields (before the returned message) never contain a bare CR or LF.
  size_t returned = report.find("Content-Type: message/rfc822");
  if (returned == std::string::npos) returned = report.find("Content-Type: text/rfc822-headers");
  if (returned == std::string::npos) abort();
  for (size_t i = 0; i < returned; ++i) {
    if (report[i] == '\n' && (i == 0 || report[i - 1] != '\r')) abort();
    if (report[i] == '\r' && report[i + 1] != '\n') abort();
  }
  return 0;
}

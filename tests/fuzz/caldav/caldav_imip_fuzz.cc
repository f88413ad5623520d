// libFuzzer target: iMIP composition (services/caldav/imip.h) with untrusted text from a
// client's calendar object (SUMMARY in the Subject, CN in From/To, the bodies). The input is
// split at NUL bytes into subject, from name, to name, text and iCalendar. Asserts the header
// has exactly the fields Kite writes (no injected field, every continuation line folded) and
// that every header line is at most 998 octets (RFC 5322 2.1.1).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "caldav/imip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.size() > 16 * 1024) return 0;
  std::vector<std::string> f;
  size_t pos = 0;
  while (f.size() < 4) {
    size_t nul = in.find('\0', pos);
    if (nul == std::string_view::npos) break;
    f.emplace_back(in.substr(pos, nul - pos));
    pos = nul + 1;
  }
  f.emplace_back(in.substr(pos));
  f.resize(5);
  kite::caldav::ImipMail m;
  m.from = "olga@example.test";
  m.to = "carol@other.test";
  m.method = "REQUEST";
  m.subject = f[0];
  m.from_name = f[1];
  m.to_name = f[2];
  m.text = f[3];
  m.ical = f[4];
  m.date = 1795000000;
  m.message_id = "fuzz.itip@example.test";
  auto out = kite::caldav::ComposeImip(m);
  if (!out.ok()) abort();
  size_t end = out->find("\r\n\r\n");
  if (end == std::string::npos) abort();
  std::string_view head(out->data(), end + 2);
  const std::string_view kFields[] = {
      "From: ",       "To: ",           "Subject: ",        "Date: ",
      "Message-ID: ", "MIME-Version: ", "Auto-Submitted: ", "Content-Type: "};
  size_t fields = 0;
  for (size_t p = 0; p < head.size();) {
    size_t nl = head.find("\r\n", p);
    if (nl == std::string_view::npos) abort();  // every line ends with CRLF
    std::string_view line = head.substr(p, nl - p);
    if (line.size() > 998) abort();
    if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos)
      abort();
    if (line.empty()) abort();
    if (line[0] != ' ' && line[0] != '\t') {
      bool known = false;
      for (auto k : kFields) known = known || line.substr(0, k.size()) == k;
      if (!known) abort();
      ++fields;
    }
    p = nl + 2;
  }
  if (fields != std::size(kFields)) abort();
  return 0;
}

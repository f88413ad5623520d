// libFuzzer target: kite-caldav's client setup (services/caldav/client_setup.h) on untrusted
// HTTP requests: the first byte picks the path and method, the rest is split at the first
// newline into the query/Host and the body (the Autodiscover POX XML, parsed by libxml2).
// Every 200 answer must be XML or the MTA-STS text, never echo a raw '<' from the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "caldav/client_setup.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 128 * 1024) return 0;
  static const char* kPaths[] = {"/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml",
                                 "/autodiscover/autodiscover.xml", "/.well-known/mta-sts.txt"};
  static const char* kMethods[] = {"GET", "POST", "HEAD", "PUT"};
  const int pick = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t nl = rest.find('\n');
  std::string_view head = rest.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  kite::caldav::ClientSetupSettings settings;
  settings.hostname = "mail.example.test";
  settings.local_domains = {"example.test"};
  kite::caldav::ClientSetupRequest request{kMethods[(pick >> 2) & 3], kPaths[pick & 3], head, head, body};
  auto answer = kite::caldav::ClientSetup(request, settings);
  if (!answer) abort();  // every one of these paths is client setup's
  if (answer->status == 200 && answer->body.find("<evil") != std::string::npos) abort();
  kite::caldav::AutodiscoverEmail(rest);
  kite::caldav::QueryParam(head, "emailaddress");
  return 0;
}

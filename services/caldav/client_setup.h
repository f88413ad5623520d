// Client setup on kite-caldav's HTTP front, so that a user types address and password and
// the mail client finds IMAP, POP3, SMTP and CalDAV by itself; and MTA-STS policy hosting:
//  - Thunderbird autoconfig: GET /.well-known/autoconfig/mail/config-v1.1.xml and
//    /mail/config-v1.1.xml (clientConfig version 1.1, with ?emailaddress=; without it the
//    domain comes from the Host, autoconfig.<domain>), username %EMAILADDRESS%;
//  - Outlook Autodiscover "POX": POST /autodiscover/autodiscover.xml (any case) with the
//    request schema's <EMailAddress>; a GET is tolerated (?emailaddress=, or the Host
//    autodiscover.<domain>);
//  - MTA-STS (RFC 8461 3.2): GET /.well-known/mta-sts.txt on Host mta-sts.<local domain>.
// A domain that is not one of Kite's gets 404 (no configuration is invented for it; whether
// a user exists is never revealed: any local part of a local domain gets the same answer).
//
// Pure: no I/O, no clock; settings come from configuration (keys below), the local domains
// from the directory (the caller keeps them fresh). Every value written into XML is escaped.
// Untrusted input: method, path, query, Host and body of an HTTP request. Bounded: query
// 4 KiB, body 64 KiB (413), address 320 octets; the Autodiscover body is parsed by libxml2
// without network access, without DTDs or entities (a DOCTYPE is refused: 400).
#ifndef KITE_SERVICES_CALDAV_CLIENT_SETUP_H_
#define KITE_SERVICES_CALDAV_CLIENT_SETUP_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kite::caldav {

inline constexpr size_t kClientSetupMaxBody = 64 * 1024;
inline constexpr size_t kClientSetupMaxQuery = 4096;

struct ClientSetupSettings {
  std::string hostname;            // global.hostname: the server clients connect to
  int imap_port = 993;             // caldav.public_imap_port (implicit TLS)
  int imap_starttls_port = 143;    // caldav.public_imap_starttls_port
  int pop3_port = 995;             // caldav.public_pop3_port
  int pop3_starttls_port = 110;    // caldav.public_pop3_starttls_port
  int submission_port = 465;       // caldav.public_submission_port
  int submission_starttls_port = 587;  // caldav.public_submission_starttls_port
  int https_port = 8443;           // caldav.public_https_port (CalDAV)
  std::set<std::string> local_domains;  // lower case, without trailing dot
  std::string mta_sts_mode = "testing";  // caldav.mta_sts_mode: enforce, testing, none
  std::vector<std::string> mta_sts_mx;   // caldav.mta_sts_mx; empty: hostname
  int64_t mta_sts_max_age = 604800;      // caldav.mta_sts_max_age, seconds
};

struct ClientSetupRequest {
  std::string_view method;  // "GET", "HEAD", "POST", ...
  std::string_view path;    // without the query
  std::string_view query;   // after '?', still percent-encoded
  std::string_view host;    // the Host header (may carry a port)
  std::string_view body;
};

struct HttpAnswer {
  int status = 200;
  std::string content_type;  // "" for none (e.g. 405 without a body)
  std::string body;          // for HEAD the caller sends the headers only
  std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Allow on 405
};

// The answer when the path is one of the client-setup paths, nullopt otherwise (the caller
// goes on with CalDAV routing).
std::optional<HttpAnswer> ClientSetup(const ClientSetupRequest& request, const ClientSetupSettings& settings);

// Helpers, exposed for tests.
std::string XmlEscape(std::string_view text);
// The value of `name` in an application/x-www-form-urlencoded query, decoded; nullopt when
// absent or malformed (bad %-escape, NUL); *present (if given) says whether it was there.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name, bool* present = nullptr);
// The <EMailAddress> of an Autodiscover POX request (namespace-agnostic); nullopt when the
// body is not well-formed XML, has a DOCTYPE, or names no address.
std::optional<std::string> AutodiscoverEmail(std::string_view body);
// RFC 8461 3.2 policy text ("version: STSv1\nmode: ...\nmx: ...\nmax_age: ...\n").
std::string MtaStsPolicy(const ClientSetupSettings& settings);

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_CLIENT_SETUP_H_

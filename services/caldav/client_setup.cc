#include "caldav/client_setup.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::caldav {
namespace {

constexpr size_t kMaxAddress = 320;
constexpr char kXmlType[] = "text/xml; charset=utf-8";
constexpr char kAutodiscoverResponseNs[] = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
constexpr char kOutlookResponseNs[] =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AV(s)); }

HttpAnswer Status(int status, std::string_view text) {
  HttpAnswer a;
  a.status = status;
  a.content_type = "text/plain; charset=utf-8";
  a.body = absl::StrCat(AV(text), "\n");
  return a;
}

HttpAnswer NotAllowed(const char* allow) {
  HttpAnswer a = Status(405, "method not allowed");
  a.headers.emplace_back("Allow", allow);
  return a;
}

// The Host header's name: lower case, without port and trailing dot; "" when malformed.
std::string HostName(std::string_view host) {
  std::string h = absl::AsciiStrToLower(absl::StripAsciiWhitespace(AV(host)));
  if (!h.empty() && h[0] == '[') return "";  // an IP literal names no domain
  size_t colon = h.find(':');
  if (colon != std::string::npos) h.resize(colon);
  if (!h.empty() && h.back() == '.') h.pop_back();
  for (char c : h) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return "";
  }
  return h;
}

// The domain of an address a client sent, lower case; "" when it is not an address.
std::string AddressDomain(std::string_view address) {
  if (address.empty() || address.size() > kMaxAddress) return "";
  for (char c : address) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f || c == '<' || c == '>' || c == '"' || c == '&' || c == '\\') return "";
  }
  size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return "";
  std::string domain = HostName(address.substr(at + 1));
  return domain;
}

bool IsLocal(const ClientSetupSettings& s, const std::string& domain) {
  return !domain.empty() && s.local_domains.count(domain) > 0;
}

// The domain a request is about: from the address when given, else from a Host
// "<prefix>.<domain>" or the Host itself. "" when none is local.
std::string DomainFor(const ClientSetupSettings& s, const std::optional<std::string>& address, std::string_view host,
                      std::string_view prefix) {
  if (address) {
    std::string d = AddressDomain(*address);
    return IsLocal(s, d) ? d : "";
  }
  std::string h = HostName(host);
  if (absl::StartsWith(h, AV(prefix)) && IsLocal(s, h.substr(prefix.size()))) return h.substr(prefix.size());
  return IsLocal(s, h) ? h : "";
}

std::string CalDavUrl(const ClientSetupSettings& s) {
  return absl::StrCat("https://", s.hostname, s.https_port == 443 ? "" : absl::StrCat(":", s.https_port),
                      "/.well-known/caldav");
}

std::string Server(const char* element, const char* type, const ClientSetupSettings& s, int port,
                   const char* socket_type) {
  return absl::StrCat("    <", element, " type=\"", type, "\">\n", "      <hostname>", XmlEscape(s.hostname),
                      "</hostname>\n", "      <port>", port, "</port>\n", "      <socketType>", socket_type,
                      "</socketType>\n", "      <authentication>password-cleartext</authentication>\n",
                      "      <username>%EMAILADDRESS%</username>\n", "    </", element, ">\n");
}

HttpAnswer Autoconfig(const ClientSetupSettings& s, const std::string& domain) {
  const std::string d = XmlEscape(domain);
  std::string body = absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "<clientConfig version=\"1.1\">\n", "  <emailProvider id=\"", d,
      "\">\n", "    <domain>", d, "</domain>\n", "    <displayName>", d, "</displayName>\n",
      "    <displayShortName>", d, "</displayShortName>\n",
      // RFC 8314: implicit TLS first.
      Server("incomingServer", "imap", s, s.imap_port, "SSL"),
      Server("incomingServer", "imap", s, s.imap_starttls_port, "STARTTLS"),
      Server("incomingServer", "pop3", s, s.pop3_port, "SSL"),
      Server("incomingServer", "pop3", s, s.pop3_starttls_port, "STARTTLS"),
      Server("outgoingServer", "smtp", s, s.submission_port, "SSL"),
      Server("outgoingServer", "smtp", s, s.submission_starttls_port, "STARTTLS"), "  </emailProvider>\n",
      "  <calendar type=\"caldav\">\n", "    <username>%EMAILADDRESS%</username>\n",
      "    <authentication system=\"http\">http-basic</authentication>\n", "    <serverURL>",
      XmlEscape(CalDavUrl(s)), "</serverURL>\n", "  </calendar>\n", "</clientConfig>\n");
  return {200, kXmlType, std::move(body), {}};
}

std::string PoxProtocol(const char* type, const ClientSetupSettings& s, int port, const std::string& login) {
  std::string out = absl::StrCat("      <Protocol>\n", "        <Type>", type, "</Type>\n", "        <Server>",
                                 XmlEscape(s.hostname), "</Server>\n", "        <Port>", port, "</Port>\n",
                                 "        <DomainRequired>off</DomainRequired>\n");
  if (!login.empty()) absl::StrAppend(&out, "        <LoginName>", XmlEscape(login), "</LoginName>\n");
  absl::StrAppend(&out, "        <SPA>off</SPA>\n", "        <SSL>on</SSL>\n",
                  "        <AuthRequired>on</AuthRequired>\n", "      </Protocol>\n");
  return out;
}

HttpAnswer Autodiscover(const ClientSetupSettings& s, const std::string& address) {
  std::string body = absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n", "<Autodiscover xmlns=\"", kAutodiscoverResponseNs, "\">\n",
      "  <Response xmlns=\"", kOutlookResponseNs, "\">\n", "    <Account>\n",
      "      <AccountType>email</AccountType>\n", "      <Action>settings</Action>\n",
      PoxProtocol("IMAP", s, s.imap_port, address), PoxProtocol("POP3", s, s.pop3_port, address),
      PoxProtocol("SMTP", s, s.submission_port, address), "    </Account>\n", "  </Response>\n",
      "</Autodiscover>\n");
  return {200, kXmlType, std::move(body), {}};
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> FormDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') return std::nullopt;
      out += decoded;
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (absl::EqualsIgnoreCase(AV(haystack.substr(i, needle.size())), AV(needle))) return true;
  }
  return false;
}

struct XmlDocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

const xmlNode* FindElement(const xmlNode* node, const char* name, int depth) {
  if (depth > 32) return nullptr;
  for (const xmlNode* n = node; n != nullptr; n = n->next) {
    if (n->type == XML_ELEMENT_NODE && absl::EqualsIgnoreCase(reinterpret_cast<const char*>(n->name), name)) return n;
    if (const xmlNode* found = FindElement(n->children, name, depth + 1)) return found;
  }
  return nullptr;
}

}  // namespace

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters other than tab and line ends are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += c;
    }
  }
  return out;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name, bool* present) {
  if (present != nullptr) *present = false;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    auto key = FormDecode(pair.substr(0, eq));
    if (!key || !absl::EqualsIgnoreCase(AV(*key), AV(name))) continue;
    if (present != nullptr) *present = true;
    return FormDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<std::string> AutodiscoverEmail(std::string_view body) {
  if (body.empty() || body.size() > kClientSetupMaxBody) return std::nullopt;
  // No DTD at all (no entity expansion, no external subset); a NUL means UTF-16/32, which
  // would hide a DOCTYPE from this check: both refused.
  if (body.find('\0') != std::string_view::npos || ContainsIgnoreCase(body, "<!DOCTYPE") ||
      ContainsIgnoreCase(body, "<!ENTITY")) {
    return std::nullopt;
  }
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  std::unique_ptr<xmlDoc, XmlDocFree> doc(xmlReadMemory(
      body.data(), static_cast<int>(body.size()), "autodiscover.xml", nullptr,
      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS));
  if (!doc || doc->intSubset != nullptr) return std::nullopt;
  const xmlNode* email = FindElement(xmlDocGetRootElement(doc.get()), "EMailAddress", 0);
  if (email == nullptr) return std::nullopt;
  xmlChar* content = xmlNodeGetContent(email);
  if (content == nullptr) return std::nullopt;
  std::string text(absl::StripAsciiWhitespace(reinterpret_cast<const char*>(content)));
  xmlFree(content);
  if (text.empty() || text.size() > kMaxAddress) return std::nullopt;
  return text;
}

std::string MtaStsPolicy(const ClientSetupSettings& s) {
  std::string out = absl::StrCat("version: STSv1\nmode: ", s.mta_sts_mode, "\n");
  if (s.mta_sts_mx.empty()) {
    absl::StrAppend(&out, "mx: ", s.hostname, "\n");
  } else {
    for (const auto& mx : s.mta_sts_mx) absl::StrAppend(&out, "mx: ", mx, "\n");
  }
  absl::StrAppend(&out, "max_age: ", s.mta_sts_max_age, "\n");
  return out;
}

std::optional<HttpAnswer> ClientSetup(const ClientSetupRequest& request, const ClientSetupSettings& settings) {
  const std::string_view path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool autoconfig = path == "/.well-known/autoconfig/mail/config-v1.1.xml" || path == "/mail/config-v1.1.xml";
  const bool autodiscover = absl::EqualsIgnoreCase(AV(path), "/autodiscover/autodiscover.xml");
  const bool mta_sts = path == "/.well-known/mta-sts.txt";
  if (!autoconfig && !autodiscover && !mta_sts) return std::nullopt;
  if (request.query.size() > kClientSetupMaxQuery) return Status(414, "query too long");

  if (mta_sts) {
    if (!get) return NotAllowed("GET, HEAD");
    std::string host = HostName(request.host);
    if (!absl::StartsWith(host, "mta-sts.") || !IsLocal(settings, host.substr(8))) {
      return Status(404, "no MTA-STS policy for this host");
    }
    return HttpAnswer{200, "text/plain", MtaStsPolicy(settings), {}};
  }

  if (autoconfig) {
    if (!get) return NotAllowed("GET, HEAD");
    bool present = false;
    auto address = QueryParam(request.query, "emailaddress", &present);
    if (present && (!address || AddressDomain(*address).empty())) return Status(400, "emailaddress is not an address");
    std::string domain = DomainFor(settings, address, request.host, "autoconfig.");
    if (domain.empty()) return Status(404, "not a domain of this server");
    return Autoconfig(settings, domain);
  }

  // Autodiscover.
  std::optional<std::string> address;
  if (request.method == "POST") {
    if (request.body.size() > kClientSetupMaxBody) return Status(413, "request too large");
    address = AutodiscoverEmail(request.body);
    if (!address) return Status(400, "not an Autodiscover request with an EMailAddress");
  } else if (get) {
    bool present = false, present2 = false;
    address = QueryParam(request.query, "emailaddress", &present);
    if (!present) address = QueryParam(request.query, "email", &present2);
    if ((present || present2) && !address) return Status(400, "not an email address");
  } else {
    return NotAllowed("GET, HEAD, POST");
  }
  if (address && AddressDomain(*address).empty()) return Status(400, "not an email address");
  std::string domain = DomainFor(settings, address, request.host, "autodiscover.");
  if (domain.empty()) return Status(404, "not a domain of this server");
  return Autodiscover(settings, address ? Lower(*address) : std::string());
}

}  // namespace kite::caldav

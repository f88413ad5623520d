#include "lib/dns/cares_resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/base/strings.h"

namespace kite::dns {
namespace {

constexpr size_t kMaxName = 253;
constexpr size_t kMaxAnswers = 256;  // records kept from one answer

void InitLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

// "ip", "ip:port", "[ip6]:port", "ip6" -> "ip:port" / "[ip6]:port".
absl::StatusOr<std::string> NormalizeServer(std::string_view entry) {
  std::string host;
  std::string_view port_text;
  if (!entry.empty() && entry.front() == '[') {
    size_t close = entry.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("unclosed [");
    host = std::string(entry.substr(1, close - 1));
    std::string_view rest = entry.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return absl::InvalidArgumentError("junk after ]");
      port_text = rest.substr(1);
    }
  } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
    size_t colon = entry.find(':');
    host = std::string(entry.substr(0, colon));
    port_text = entry.substr(colon + 1);
  } else {
    host = std::string(entry);
  }
  int port = 53;
  if (!port_text.empty() && (!absl::SimpleAtoi(AV(port_text), &port) || port < 1 || port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in DNS server '", AV(entry), "'"));
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return absl::StrCat(host, ":", port);
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) return absl::StrCat("[", host, "]:", port);
  return absl::InvalidArgumentError(
      absl::StrCat("DNS server '", AV(entry), "' is not an IP address (names are not resolved)"));
}

absl::Status CheckName(std::string_view name) {
  if (name.empty() || name.size() > kMaxName) {
    return absl::InvalidArgumentError(absl::StrCat("bad DNS name length: ", name.size()));
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return absl::InvalidArgumentError("DNS name with a control, space or non-ASCII byte");
    }
  }
  return absl::OkStatus();
}

std::string StripDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return std::string(name);
}

absl::Status MapError(int status, std::string_view name) {
  switch (status) {
    case ARES_ENOTFOUND:
      return NxDomainError(name);
    case ARES_ENODATA:
      return NoDataError(name);
    case ARES_EBADNAME:
      return absl::InvalidArgumentError(absl::StrCat("bad DNS name: ", AV(name)));
    case ARES_ETIMEOUT:
      return absl::UnavailableError(absl::StrCat("DNS timeout: ", AV(name)));
    default:
      return absl::UnavailableError(
          absl::StrCat("DNS error for ", AV(name), ": ", ares_strerror(status)));
  }
}

struct QueryState {
  bool done = false;
  int status = ARES_SUCCESS;
  std::string answer;
};

void OnAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* st = static_cast<QueryState*>(arg);
  st->done = true;
  st->status = status;
  if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) {
    st->answer.assign(reinterpret_cast<const char*>(abuf), static_cast<size_t>(alen));
  }
}

struct ChannelDeleter {
  void operator()(ares_channel ch) const { ares_destroy(ch); }
};

std::vector<std::string> HostentAddresses(const hostent* h) {
  std::vector<std::string> out;
  if (h == nullptr || h->h_addr_list == nullptr) return out;
  for (char** p = h->h_addr_list; *p != nullptr && out.size() < kMaxAnswers; ++p) {
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(h->h_addrtype, *p, text, sizeof(text)) != nullptr) out.emplace_back(text);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CaresResolver>> CaresResolver::Create(ResolverOptions options) {
  std::vector<std::string> normalized;
  for (const std::string& s : options.servers) {
    absl::StatusOr<std::string> n = NormalizeServer(s);
    if (!n.ok()) return n.status();
    normalized.push_back(*std::move(n));
  }
  if (options.tries < 1) options.tries = 1;
  if (options.timeout.count() < 1) options.timeout = std::chrono::milliseconds(1);
  std::string csv = absl::StrJoin(normalized, ",");
  return std::unique_ptr<CaresResolver>(new CaresResolver(std::move(options), std::move(csv)));
}

absl::StatusOr<std::string> CaresResolver::Query(std::string_view name_in, int type) {
  std::string name = StripDot(name_in);
  if (absl::Status s = CheckName(name); !s.ok()) return s;
  if (servers_csv_.empty()) {
    return absl::FailedPreconditionError(
        "DNS resolver has no servers configured: query refused (Kite never uses /etc/resolv.conf)");
  }
  InitLibrary();

  ares_options opts{};
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
             ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_SERVERS | ARES_OPT_RESOLVCONF;
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  opts.timeout = static_cast<int>(options_.timeout.count());
  opts.tries = options_.tries;
  opts.ndots = 1;
  opts.domains = nullptr;
  opts.ndomains = 0;
  char lookups[] = "b";  // DNS only, never /etc/hosts
  opts.lookups = lookups;
  // ARES_OPT_SERVERS with an empty list stops c-ares taking servers from resolv.conf; the
  // real list is set below. resolvconf_path points away from /etc/resolv.conf as well.
  opts.servers = nullptr;
  opts.nservers = 0;
  char resolvconf[] = "/dev/null";
  opts.resolvconf_path = resolvconf;

  ares_channel raw = nullptr;
  int rc = ares_init_options(&raw, &opts, mask);
  if (rc != ARES_SUCCESS) {
    return absl::InternalError(absl::StrCat("ares_init_options: ", ares_strerror(rc)));
  }
  std::unique_ptr<ares_channeldata, ChannelDeleter> channel(raw);
  rc = ares_set_servers_ports_csv(raw, servers_csv_.c_str());
  if (rc != ARES_SUCCESS) {
    return absl::InternalError(absl::StrCat("ares_set_servers_ports_csv: ", ares_strerror(rc)));
  }

  QueryState st;
  ares_query(raw, name.c_str(), ns_c_in, type, &OnAnswer, &st);
  const auto deadline = std::chrono::steady_clock::now() + options_.deadline;
  while (!st.done) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      ares_cancel(raw);  // runs the callback with ARES_ECANCELLED
      return absl::UnavailableError(absl::StrCat("DNS deadline exceeded: ", name));
    }
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(raw, socks, ARES_GETSOCK_MAXNUM);
    pollfd pfds[ARES_GETSOCK_MAXNUM];
    int n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events == 0) continue;
      pfds[n].fd = socks[i];
      pfds[n].events = events;
      pfds[n].revents = 0;
      ++n;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    timeval max_tv{static_cast<time_t>(left.count() / 1000),
                   static_cast<suseconds_t>((left.count() % 1000) * 1000)};
    timeval tv{};
    timeval* t = ares_timeout(raw, &max_tv, &tv);
    int wait_ms = static_cast<int>(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
    int ready = poll(pfds, static_cast<nfds_t>(n), wait_ms);
    if (ready <= 0) {
      ares_process_fd(raw, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts and retries
      continue;
    }
    for (int i = 0; i < n; ++i) {
      ares_socket_t r =
          (pfds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? pfds[i].fd : ARES_SOCKET_BAD;
      ares_socket_t w =
          (pfds[i].revents & (POLLOUT | POLLERR | POLLHUP)) ? pfds[i].fd : ARES_SOCKET_BAD;
      if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) ares_process_fd(raw, r, w);
    }
  }
  if (st.status != ARES_SUCCESS) return MapError(st.status, name);
  return std::move(st.answer);
}

absl::StatusOr<std::vector<std::string>> CaresResolver::Txt(std::string_view name) {
  absl::StatusOr<std::string> ans = Query(name, ns_t_txt);
  if (!ans.ok()) return ans.status();
  ares_txt_ext* txt = nullptr;
  int rc = ares_parse_txt_reply_ext(reinterpret_cast<const unsigned char*>(ans->data()),
                                    static_cast<int>(ans->size()), &txt);
  if (rc != ARES_SUCCESS) return MapError(rc, name);
  std::vector<std::string> out;
  for (ares_txt_ext* p = txt; p != nullptr; p = p->next) {
    if (p->record_start || out.empty()) {
      if (out.size() >= kMaxAnswers) break;
      out.emplace_back();
    }
    out.back().append(reinterpret_cast<const char*>(p->txt), p->length);
  }
  ares_free_data(txt);
  return out;
}

absl::StatusOr<std::vector<MxRecord>> CaresResolver::Mx(std::string_view name) {
  absl::StatusOr<std::string> ans = Query(name, ns_t_mx);
  if (!ans.ok()) return ans.status();
  ares_mx_reply* mx = nullptr;
  int rc = ares_parse_mx_reply(reinterpret_cast<const unsigned char*>(ans->data()),
                               static_cast<int>(ans->size()), &mx);
  if (rc != ARES_SUCCESS) return MapError(rc, name);
  std::vector<MxRecord> out;
  for (ares_mx_reply* p = mx; p != nullptr && out.size() < kMaxAnswers; p = p->next) {
    out.push_back(MxRecord{p->priority, StripDot(p->host == nullptr ? "" : p->host)});
  }
  ares_free_data(mx);
  std::sort(out.begin(), out.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference != b.preference ? a.preference < b.preference : a.host < b.host;
  });
  return out;
}

absl::StatusOr<std::vector<std::string>> CaresResolver::A(std::string_view name) {
  absl::StatusOr<std::string> ans = Query(name, ns_t_a);
  if (!ans.ok()) return ans.status();
  hostent* h = nullptr;
  int rc = ares_parse_a_reply(reinterpret_cast<const unsigned char*>(ans->data()),
                              static_cast<int>(ans->size()), &h, nullptr, nullptr);
  if (rc != ARES_SUCCESS) return MapError(rc, name);
  std::vector<std::string> out = HostentAddresses(h);
  ares_free_hostent(h);
  if (out.empty()) return NoDataError(name);
  return out;
}

absl::StatusOr<std::vector<std::string>> CaresResolver::Aaaa(std::string_view name) {
  absl::StatusOr<std::string> ans = Query(name, ns_t_aaaa);
  if (!ans.ok()) return ans.status();
  hostent* h = nullptr;
  int rc = ares_parse_aaaa_reply(reinterpret_cast<const unsigned char*>(ans->data()),
                                 static_cast<int>(ans->size()), &h, nullptr, nullptr);
  if (rc != ARES_SUCCESS) return MapError(rc, name);
  std::vector<std::string> out = HostentAddresses(h);
  ares_free_hostent(h);
  if (out.empty()) return NoDataError(name);
  return out;
}

absl::StatusOr<std::vector<std::string>> CaresResolver::Ptr(std::string_view ip) {
  std::string text(ip);
  unsigned char addr[16];
  std::string qname;
  int family = 0;
  int len = 0;
  static constexpr char kHex[] = "0123456789abcdef";
  if (inet_pton(AF_INET, text.c_str(), addr) == 1) {
    family = AF_INET;
    len = 4;
    qname = absl::StrCat(addr[3], ".", addr[2], ".", addr[1], ".", addr[0], ".in-addr.arpa");
  } else if (inet_pton(AF_INET6, text.c_str(), addr) == 1) {
    family = AF_INET6;
    len = 16;
    for (int i = 15; i >= 0; --i) {
      qname.push_back(kHex[addr[i] & 0xf]);
      qname.push_back('.');
      qname.push_back(kHex[addr[i] >> 4]);
      qname.push_back('.');
    }
    qname += "ip6.arpa";
  } else {
    return absl::InvalidArgumentError(absl::StrCat("not an IP address: ", AV(ip)));
  }
  absl::StatusOr<std::string> ans = Query(qname, ns_t_ptr);
  if (!ans.ok()) return ans.status();
  hostent* h = nullptr;
  int rc = ares_parse_ptr_reply(reinterpret_cast<const unsigned char*>(ans->data()),
                                static_cast<int>(ans->size()), addr, len, family, &h);
  if (rc != ARES_SUCCESS) return MapError(rc, qname);
  std::vector<std::string> out;
  auto add = [&out](const char* n) {
    if (n == nullptr || out.size() >= kMaxAnswers) return;
    std::string s = StripDot(n);
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  };
  add(h->h_name);
  for (char** p = h->h_aliases; p != nullptr && *p != nullptr; ++p) add(*p);
  ares_free_hostent(h);
  if (out.empty()) return NoDataError(qname);
  return out;
}

}  // namespace kite::dns

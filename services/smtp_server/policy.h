// Anti-abuse policies of the SMTP fronts, each off unless configured, each failing open
// (a Redis or DNS failure is logged and the mail accepted: never lose mail to a policy).
//
// - SendRateLimit (kite-submission, RFC 6409 has no word on it): messages and recipients
//   per hour per authenticated user, counted in Redis as a sliding hour (the current
//   clock hour plus the previous one weighted by how much of it is still inside the hour).
//   Over the limit: 450 4.7.1 at MAIL, 452 4.5.3 at RCPT; refused attempts are not counted.
//   Every RCPT that gets past the limit counts, also one the directory then refuses.
// - Greylist (kite-mta, off by default): the triplet (client /24 or /64, envelope sender,
//   recipient). First sight: 451 4.7.1. A retry after mta.greylist_delay and within
//   mta.greylist_retry_window passes, and the triplet then passes at once for
//   mta.greylist_remember (refreshed on every use).
// - Dnsbl (kite-mta, off by default): the client's address reversed under each zone of
//   mta.dnsbl_zones (RFC 5782), through the configured resolver (global.dns_servers). An
//   answer in 127.0.0.0/8 means listed (127.255.255.0/24, the "query refused" answers
//   some lists give, does not). Listed: every RCPT gets 554 5.7.1 naming the zone.
// Greylisting and blocklists skip clients in mta.trusted_networks; submission users are
// authenticated and never greylisted.
//
// Untrusted input: client addresses and envelope addresses go into Redis keys only as
// binary-safe arguments (never formatted into commands) and are bounded by the SMTP parser.
#pragma once

#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "lib/daemon/daemon.h"
#include "lib/dns/resolver.h"
#include "lib/net/cidr.h"
#include "lib/redis/client.h"

namespace kite::smtp_server {

// One Redis connection for the policies of a daemon, opened on first use and reopened after
// a failure; calls are serialised (they are short). Blocking.
class PolicyRedis {
 public:
  explicit PolicyRedis(redis::Options options) : options_(std::move(options)) {}
  absl::StatusOr<redis::Reply> Command(const std::vector<std::string>& argv);

 private:
  redis::Options options_;
  std::mutex mu_;
  std::unique_ptr<redis::Client> client_;
};

enum class PolicyVerdict { kPass, kRefuse, kUnavailable };

class SendRateLimit {
 public:
  SendRateLimit(PolicyRedis& redis, int64_t messages_per_hour, int64_t recipients_per_hour)
      : redis_(redis), messages_(messages_per_hour), recipients_(recipients_per_hour) {}
  bool limits_messages() const { return messages_ > 0; }
  bool limits_recipients() const { return recipients_ > 0; }
  // Counts one message (at MAIL) or recipient (at RCPT) for `user` unless it is over the
  // limit. Blocking.
  PolicyVerdict Message(std::string_view user, std::time_t now) {
    return Count("msg", user, messages_, now);
  }
  PolicyVerdict Recipient(std::string_view user, std::time_t now) {
    return Count("rcpt", user, recipients_, now);
  }

 private:
  PolicyVerdict Count(std::string_view kind, std::string_view user, int64_t limit, std::time_t now);
  PolicyRedis& redis_;
  int64_t messages_;
  int64_t recipients_;
};

struct GreylistOptions {
  bool enabled = false;
  std::chrono::seconds delay{300};
  std::chrono::seconds retry_window{86400};
  std::chrono::seconds remember{35 * 86400};
};

class Greylist {
 public:
  Greylist(PolicyRedis& redis, GreylistOptions options) : redis_(redis), options_(options) {}
  bool enabled() const { return options_.enabled; }
  // kRefuse: answer 451 4.7.1 for now. Blocking.
  PolicyVerdict Check(std::string_view client_ip, std::string_view sender,
                      std::string_view recipient, std::time_t now);

 private:
  PolicyRedis& redis_;
  GreylistOptions options_;
};

class Dnsbl {
 public:
  // `resolver` may be null when `zones` is empty.
  Dnsbl(std::unique_ptr<dns::Resolver> resolver, std::vector<std::string> zones)
      : resolver_(std::move(resolver)), zones_(std::move(zones)) {}
  bool enabled() const { return resolver_ != nullptr && !zones_.empty(); }
  // The first zone listing `client_ip`, "" when none does or on DNS errors (logged).
  // Blocking.
  std::string Listed(std::string_view client_ip, std::string_view sid);

 private:
  std::unique_ptr<dns::Resolver> resolver_;
  std::vector<std::string> zones_;
};

// The policies of one daemon, from its configuration section ("mta" or "submission").
struct Policies {
  Policies(daemon::Runtime& rt, const std::string& section, redis::Options redis_options);

  PolicyRedis redis;
  SendRateLimit rate;              // submission only (limits 0 on the mta)
  Greylist greylist;               // mta only
  Dnsbl dnsbl;                     // mta only
  std::vector<net::Cidr> trusted;  // exempt from greylisting and blocklists
  // kite_smtp_policy_refusals_total{service, policy}: rate_messages, rate_recipients,
  // greylist, dnsbl.
  prometheus::Family<prometheus::Counter>& refusals;
};

}  // namespace kite::smtp_server

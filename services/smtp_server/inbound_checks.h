// Mail authentication of kite-mta's inbound mail: SPF (RFC 7208), DKIM verification
// (RFC 6376, 8463) and DMARC (RFC 7489), reported in one Authentication-Results field
// (RFC 8601) with the daemon's host name as authserv-id. Used by Mode::kInbound only.
//
// Policy: a DMARC fail whose disposition (p / sp after pct) is reject is refused at the end
// of DATA with 550 5.7.1 (mta.dmarc_enforcement = full), or filed into the recipients' Junk
// folder instead (= quarantine); quarantine dispositions are filed into Junk (full and
// quarantine); = none only reports. DNS temporary failures never refuse or quarantine a
// message: they give temperror and the message is accepted. Authentication-Results fields
// already in the message that claim our authserv-id are removed (RFC 8601 section 5).
//
// SECURITY: the message, MAIL FROM, HELO and every DNS answer are untrusted; the libraries
// bound them (spf::Limits, dkim::VerifyOptions::max_signatures and MessageLimits, DMARC
// record limits, header From parsing limits). Check() blocks on DNS: run it through
// rt.Blocking. Nothing here logs message content; client text is escaped by the logger.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "lib/daemon/daemon.h"
#include "lib/dmarc/dmarc.h"
#include "lib/dmarc/psl.h"
#include "lib/dns/resolver.h"
#include "lib/spf/evaluator.h"

namespace kite::smtp_server {

enum class DmarcEnforcement { kFull, kQuarantine, kNone };

struct InboundOptions {
  bool spf = true;
  bool dkim = true;
  bool dmarc = true;  // implies SPF and DKIM are evaluated (DMARC needs both)
  DmarcEnforcement enforcement = DmarcEnforcement::kFull;
  std::string authserv_id;  // global.hostname
  spf::Limits spf_limits;
  size_t dkim_max_signatures = 8;
};

struct InboundRequest {
  std::string client_ip;  // the real client (after PROXY)
  std::string helo;
  std::string mail_from;  // "" for the null sender
  std::string session;    // for logs
};

struct InboundVerdict {
  bool reject = false;      // answer 550 5.7.1 `reject_text` and do not spool
  std::string reject_text;
  bool quarantine = false;  // deliver into Junk
  std::string header;       // the Authentication-Results field (CRLF-terminated)
  int forged_removed = 0;   // our-id Authentication-Results fields removed from the message
  // For logs and tests.
  std::string spf, dkim, dmarc, disposition = "none";
};

class InboundChecks {
 public:
  // Reads the mta.* keys, builds the resolver from global.dns_servers and loads the Public
  // Suffix List (when DMARC is on); metrics are registered on rt.metrics().
  static absl::StatusOr<std::unique_ptr<InboundChecks>> Create(daemon::Runtime& rt);

  InboundChecks(InboundOptions options, std::unique_ptr<dns::Resolver> resolver,
                std::optional<dmarc::PublicSuffixList> psl, metrics::Metrics* metrics,
                dmarc::Random random = dmarc::DefaultRandom());

  // Blocking. Evaluates the message (as the client sent it, CRLF), removes forged
  // Authentication-Results fields from `message` and puts ours on top of it (unless the
  // verdict is reject).
  InboundVerdict Check(const InboundRequest& req, std::string& message);

  const InboundOptions& options() const { return options_; }

 private:
  void Count(const char* method, const std::string& result);

  InboundOptions options_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::optional<dmarc::PublicSuffixList> psl_;
  dmarc::Random random_;
  prometheus::Family<prometheus::Counter>* results_ = nullptr;
  prometheus::Family<prometheus::Counter>* actions_ = nullptr;
};

}  // namespace kite::smtp_server

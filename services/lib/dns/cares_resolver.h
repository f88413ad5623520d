// Resolver backed by c-ares (1.18), blocking, with explicitly configured servers.
//
// Each call builds its own ares channel, so the object is thread-safe and calls from a
// caller's thread pool run in parallel. The channel gets the configured servers only:
// no resolv.conf servers, no search domains (ARES_FLAG_NOSEARCH, empty domain list),
// lookups "b" (no /etc/hosts), and queries go out with ares_query for the exact name.
// Every call is bounded: timeout per try x tries x servers, plus an overall deadline.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/dns/resolver.h"

namespace kite::dns {

struct ResolverOptions {
  // "127.0.0.1:5353", "127.0.0.1" (port 53), "[::1]:5353". Empty: every query is refused.
  std::vector<std::string> servers;
  std::chrono::milliseconds timeout{2000};  // per try
  int tries = 2;
  // Hard bound on one call, whatever c-ares does with retries.
  std::chrono::milliseconds deadline{10000};
};

class CaresResolver final : public Resolver {
 public:
  // Validates the server list; an invalid entry is InvalidArgument.
  static absl::StatusOr<std::unique_ptr<CaresResolver>> Create(ResolverOptions options);

  absl::StatusOr<std::vector<std::string>> Txt(std::string_view name) override;
  absl::StatusOr<std::vector<MxRecord>> Mx(std::string_view name) override;
  absl::StatusOr<std::vector<std::string>> A(std::string_view name) override;
  absl::StatusOr<std::vector<std::string>> Aaaa(std::string_view name) override;
  absl::StatusOr<std::vector<std::string>> Ptr(std::string_view ip) override;

  const ResolverOptions& options() const { return options_; }

 private:
  CaresResolver(ResolverOptions options, std::string servers_csv)
      : options_(std::move(options)), servers_csv_(std::move(servers_csv)) {}

  // Runs one query; on success returns the raw answer.
  absl::StatusOr<std::string> Query(std::string_view name, int type);

  ResolverOptions options_;
  std::string servers_csv_;  // "host:port,..." for ares_set_servers_ports_csv
};

}  // namespace kite::dns

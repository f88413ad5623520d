// resolve_bench — recipient resolutions per second over gRPC, with latency percentiles.
//
// Calls kite.directory.v1.Directory/ResolveRecipient on a running kite-auth from N client
// threads for T seconds (after a short warm-up that is not counted) and prints calls/s,
// p50, p99 and p99.9 latency, the kinds of answer and the errors. This is the call every
// SMTP RCPT makes. The load is bounded in threads and time and stops by itself; nothing is
// asserted (benchmarks print figures, see docs/testing.md). scripts/bench runs it.
//
//   resolve_bench [--address HOST:PORT] [--threads N] [--seconds T] [--warmup T]
//                 [--domain D] [--users N] [--prefix P] [--unknown-percent P]
//
// Addresses asked: P<i>@D for i in 1..N (made by scripts/bench), with --unknown-percent of
// them replaced by addresses that exist nowhere in D (answered UNKNOWN_LOCAL). Without
// --address, kite-auth's address and gRPC TLS settings come from the configuration
// ($KITE_CONFIG and KITE_* variables), like every daemon.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kite/directory/v1/directory.grpc.pb.h"
#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/rpc/rpc.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace dir = kite::directory::v1;

struct Options {
  std::string address;
  int threads = 8;
  int seconds = 10;
  int warmup = 1;
  std::string domain = "bench.test";
  int users = 1000;
  std::string prefix = "user";
  int unknown_percent = 0;
};

constexpr char kUsage[] =
    "Usage: resolve_bench [--address HOST:PORT] [--threads N (1-256)] [--seconds T (1-300)]\n"
    "                     [--warmup T (0-30)] [--domain D] [--users N] [--prefix P] [--unknown-percent P]\n"
    "Without --address, kite-auth's address comes from $KITE_CONFIG (global.auth_address).\n";

int UsageError(const std::string& why) {
  std::fprintf(stderr, "resolve_bench: %s\n%s", why.c_str(), kUsage);
  return 2;
}

bool IntOption(const std::string& text, int lo, int hi, int* out) {
  return absl::SimpleAtoi(kite::AV(text), out) && *out >= lo && *out <= hi;
}

struct ThreadResult {
  std::vector<uint32_t> latency_us;
  std::map<int, uint64_t> kinds;
  uint64_t errors = 0;
  std::string first_error;
};

// Runs until `stop`; records only while `measuring`.
void Worker(dir::Directory::Stub* stub, const Options& o, unsigned seed, const std::atomic<bool>& measuring,
            const std::atomic<bool>& stop, ThreadResult* out) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> user(1, o.users);
  std::uniform_int_distribution<int> percent(0, 99);
  out->latency_us.reserve(1 << 16);
  while (!stop.load(std::memory_order_relaxed)) {
    dir::ResolveRecipientRequest req;
    if (percent(rng) < o.unknown_percent) {
      req.set_address(absl::StrCat("nobody", user(rng), "@", o.domain));
    } else {
      req.set_address(absl::StrCat(o.prefix, user(rng), "@", o.domain));
    }
    dir::ResolveRecipientResponse resp;
    auto ctx = kite::rpc::ContextWithDeadline(std::chrono::milliseconds(2000));
    auto start = Clock::now();
    grpc::Status status = stub->ResolveRecipient(ctx.get(), req, &resp);
    auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    if (!measuring.load(std::memory_order_relaxed)) continue;
    if (!status.ok()) {
      if (out->errors++ == 0) out->first_error = absl::StrCat(status.error_code(), ": ", status.error_message());
      continue;
    }
    out->latency_us.push_back(static_cast<uint32_t>(std::min<int64_t>(took, UINT32_MAX)));
    ++out->kinds[resp.kind()];
  }
}

double Percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= args.size()) return UsageError(flag + " needs a value");
    const std::string& v = args[++i];
    bool ok = true;
    if (flag == "--address") {
      o.address = v;
    } else if (flag == "--threads") {
      ok = IntOption(v, 1, 256, &o.threads);
    } else if (flag == "--seconds") {
      ok = IntOption(v, 1, 300, &o.seconds);
    } else if (flag == "--warmup") {
      ok = IntOption(v, 0, 30, &o.warmup);
    } else if (flag == "--domain") {
      o.domain = v;
    } else if (flag == "--users") {
      ok = IntOption(v, 1, 10000000, &o.users);
    } else if (flag == "--prefix") {
      o.prefix = v;
    } else if (flag == "--unknown-percent") {
      ok = IntOption(v, 0, 100, &o.unknown_percent);
    } else {
      return UsageError("unknown option " + flag);
    }
    if (!ok) return UsageError("bad value for " + flag + ": " + v);
  }

  kite::rpc::TlsFiles tls;
  if (o.address.empty()) {
    const char* path = std::getenv("KITE_CONFIG");
    auto config = kite::config::Config::Load(kite::config::KiteSchema(), path ? path : "",
                                             kite::config::ProcessEnvironment());
    if (!config.ok()) {
      std::fprintf(stderr, "resolve_bench: configuration error: %s\n", std::string(config.status().message()).c_str());
      return 2;
    }
    o.address = config->Address("global", "auth_address").ToString();
    tls = {config->String("global", "grpc_tls_cert"), config->String("global", "grpc_tls_key"),
           config->String("global", "grpc_tls_ca")};
  }

  auto health = kite::rpc::CheckHealth(o.address, tls, std::chrono::milliseconds(3000));
  if (!health.ok() || !*health) {
    std::fprintf(stderr, "resolve_bench: kite-auth at %s is not serving%s%s\n", o.address.c_str(),
                 health.ok() ? "" : ": ", health.ok() ? "" : std::string(health.status().message()).c_str());
    return 1;
  }

  // One channel (one HTTP/2 connection), as a front daemon has; the stub is thread-safe.
  auto channel = kite::rpc::MakeChannel(o.address, tls);
  auto stub = dir::Directory::NewStub(channel);
  std::atomic<bool> measuring{o.warmup == 0};
  std::atomic<bool> stop{false};
  std::vector<ThreadResult> results(static_cast<size_t>(o.threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back(Worker, stub.get(), std::cref(o), 1234u + static_cast<unsigned>(t), std::cref(measuring),
                         std::cref(stop), &results[static_cast<size_t>(t)]);
  }
  std::this_thread::sleep_for(std::chrono::seconds(o.warmup));
  measuring = true;
  auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(o.seconds));
  measuring = false;
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& t : threads) t.join();

  std::vector<uint32_t> all;
  std::map<int, uint64_t> kinds;
  uint64_t errors = 0;
  std::string first_error;
  for (auto& r : results) {
    all.insert(all.end(), r.latency_us.begin(), r.latency_us.end());
    for (auto [k, n] : r.kinds) kinds[k] += n;
    if (r.errors > 0 && first_error.empty()) first_error = r.first_error;
    errors += r.errors;
  }
  std::printf("resolve_bench: kite-auth %s, %d threads, %.1f s measured (%d s warm-up), %d addresses in %s%s\n",
              o.address.c_str(), o.threads, elapsed, o.warmup, o.users, o.domain.c_str(),
              o.unknown_percent > 0 ? absl::StrCat(", ", o.unknown_percent, "% unknown").c_str() : "");
  std::printf("  resolutions      %zu (%.0f/s)\n", all.size(), static_cast<double>(all.size()) / elapsed);
  std::printf("  latency ms       p50 %.3f   p99 %.3f   p99.9 %.3f   max %.3f\n", Percentile(all, 0.50),
              Percentile(all, 0.99), Percentile(all, 0.999), Percentile(all, 1.0));
  std::printf("  answers         ");
  for (auto [k, n] : kinds) {
    std::printf(" %s=%llu", dir::RecipientKind_Name(static_cast<dir::RecipientKind>(k)).c_str(),
                static_cast<unsigned long long>(n));
  }
  std::printf("\n  errors           %llu%s%s\n", static_cast<unsigned long long>(errors), errors ? "  first: " : "",
              first_error.c_str());
  return all.empty() ? 1 : 0;
}

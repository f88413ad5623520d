// PLACEHOLDER until the Redis notifier lands (helper branch "compress"): no cross-replica
// notifications; sessions poll.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "absl/status/status.h"

namespace kite::imap {
class Watch {
 public:
  bool Pending() const { return true; }
  void Cancel() {}
  boost::asio::awaitable<int> Wait(std::chrono::milliseconds) { co_return 0; }
};
class Notifier {
 public:
  std::shared_ptr<Watch> Subscribe(int64_t, boost::asio::any_io_executor) { return nullptr; }
  absl::Status Publish(int64_t, int64_t, std::string_view) { return absl::OkStatus(); }
};
}  // namespace kite::imap

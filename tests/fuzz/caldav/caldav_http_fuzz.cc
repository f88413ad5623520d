// libFuzzer target: kite-caldav's HTTP request parser (services/caldav/http.cc) on untrusted
// bytes: fed whole and split in two at a position taken from the input, then every request
// taken out (pipelining), percent-decoding of the path included.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "caldav/http.h"

namespace {

void Run(std::string_view data, size_t split) {
  using kite::caldav::http::RequestParser;
  std::string in;
  size_t fed = 0;
  for (int requests = 0; requests < 16; ++requests) {
    RequestParser p(16 * 1024, 64 * 1024);
    RequestParser::State s = RequestParser::State::kNeedMore;
    for (;;) {
      size_t used = 0;
      if (!in.empty()) {
        s = p.Feed(in, &used);
        in.erase(0, used);
        if (s != RequestParser::State::kNeedMore) break;
      }
      if (fed >= data.size()) return;
      size_t next = fed < split ? split : data.size();
      in.append(data.substr(fed, next - fed));
      fed = next;
    }
    if (s == RequestParser::State::kError) return;
    kite::caldav::http::Request r = p.Take();
    (void)r.Header("depth");
    (void)kite::caldav::http::PercentDecode(r.target);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t split = size > 0 ? data[0] % (size + 1) : 0;
  Run(in, split);
  return 0;
}

#include "lib/imap/sequence_set.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "lib/base/ascii.h"

namespace kite::imap {
namespace internal = ::kite::ascii;

namespace {

// seq-number: nz-number / "*".
std::optional<uint32_t> ParseSeqNumber(std::string_view s) {
  if (s == "*") return SequenceSet::kStar;
  if (s.empty() || s.size() > 10 || s[0] < '1' || s[0] > '9') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

uint32_t Resolve(uint32_t v, uint32_t max) { return v == SequenceSet::kStar ? max : v; }

}  // namespace

absl::StatusOr<SequenceSet> SequenceSet::Parse(std::string_view text) {
  SequenceSet set;
  if (text == "$") {
    set.saved_ = true;
    return set;
  }
  if (text.empty()) return absl::InvalidArgumentError("Empty sequence set");
  for (std::string_view element : internal::Split(text, ',')) {
    size_t colon = element.find(':');
    std::optional<uint32_t> first = ParseSeqNumber(element.substr(0, colon));
    std::optional<uint32_t> last = first;
    if (colon != std::string_view::npos) last = ParseSeqNumber(element.substr(colon + 1));
    if (!first || !last) {
      return absl::InvalidArgumentError("Invalid sequence set");
    }
    set.ranges_.push_back(Range{*first, *last});
  }
  return set;
}

bool SequenceSet::Contains(uint32_t n, uint32_t max) const {
  if (n == 0) return false;
  for (const Range& r : ranges_) {
    uint32_t a = Resolve(r.first, max), b = Resolve(r.last, max);
    if (a == 0 && b == 0) continue;  // "*" in an empty mailbox
    if (a > b) std::swap(a, b);
    if (a == 0) a = 1;
    if (n >= a && n <= b) return true;
  }
  return false;
}

absl::StatusOr<std::vector<uint32_t>> SequenceSet::Expand(uint32_t max, size_t cap) const {
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  spans.reserve(ranges_.size());
  for (const Range& r : ranges_) {
    uint32_t a = Resolve(r.first, max), b = Resolve(r.last, max);
    if (a > b) std::swap(a, b);
    if (a == 0) a = 1;
    b = std::min(b, max);
    if (a > b) continue;
    spans.emplace_back(a, b);
  }
  std::sort(spans.begin(), spans.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  for (const auto& s : spans) {
    if (!merged.empty() && static_cast<uint64_t>(s.first) <= uint64_t{merged.back().second} + 1) {
      merged.back().second = std::max(merged.back().second, s.second);
    } else {
      merged.push_back(s);
    }
  }
  uint64_t count = 0;
  for (const auto& m : merged) count += uint64_t{m.second} - m.first + 1;
  if (count > cap) return absl::ResourceExhaustedError("Sequence set too large");
  std::vector<uint32_t> out;
  out.reserve(static_cast<size_t>(count));
  for (const auto& m : merged) {
    for (uint64_t v = m.first; v <= m.second; ++v) out.push_back(static_cast<uint32_t>(v));
  }
  return out;
}

bool SequenceSet::IsWithin(uint32_t max) const {
  for (const Range& r : ranges_) {
    if (r.first > max || r.last > max) return false;
  }
  return true;
}

std::string SequenceSet::ToString() const {
  if (saved_) return "$";
  std::string out;
  auto num = [](uint32_t v) { return v == kStar ? std::string("*") : std::to_string(v); };
  for (const Range& r : ranges_) {
    if (!out.empty()) out.push_back(',');
    out += num(r.first);
    if (r.last != r.first) out += ":" + num(r.last);
  }
  return out;
}

}  // namespace kite::imap

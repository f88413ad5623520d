#include "lib/smtp/reply_parser.h"

#include <algorithm>
#include <utility>

#include "lib/base/ascii.h"

namespace kite::smtp {
namespace internal = ::kite::ascii;

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "x.y.z" with class 2, 4 or 5, subject 1-3 digits, detail 1-3 digits.
bool IsEnhancedCode(std::string_view s) {
  std::vector<std::string_view> parts = internal::Split(s, '.');
  if (parts.size() != 3 || parts[0].size() != 1) return false;
  for (std::string_view p : parts) {
    if (p.empty() || p.size() > 3) return false;
    for (char c : p) {
      if (!IsDigit(c)) return false;
    }
  }
  return parts[0] == "2" || parts[0] == "4" || parts[0] == "5";
}

}  // namespace

ReplyParser::ReplyParser(Limits limits) : limits_(limits) {}

void ReplyParser::Feed(std::string_view bytes) {
  if (!error_.empty()) return;
  buffer_.append(bytes);
}

ReplyParser::Result ReplyParser::Error(std::string message) {
  error_ = std::move(message);
  buffer_.clear();
  pos_ = 0;
  Result r;
  r.kind = Result::kError;
  r.error = error_;
  return r;
}

ReplyParser::Result ReplyParser::Next() {
  if (!error_.empty()) return Error(error_);
  Result result;
  size_t scan = pos_;
  size_t total = 0;
  int code = -1;
  for (;;) {
    size_t lf = buffer_.find('\n', scan);
    if (lf == std::string::npos) {
      if (buffer_.size() - scan > limits_.max_line) return Error("reply line too long");
      if (buffer_.size() - pos_ > limits_.max_total) return Error("reply too long");
      return Result{};  // need more; the lines parsed so far are re-parsed next time
    }
    std::string_view line(buffer_.data() + scan, lf - scan);
    scan = lf + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > limits_.max_line) return Error("reply line too long");
    total += line.size() + 2;
    if (total > limits_.max_total) return Error("reply too long");
    if (result.lines.size() >= limits_.max_lines) return Error("too many reply lines");
    if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2]) ||
        line[0] < '2' || line[0] > '5') {
      return Error("malformed reply code");
    }
    int this_code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code >= 0 && this_code != code) return Error("reply code changed within a reply");
    code = this_code;
    char sep = line.size() > 3 ? line[3] : ' ';
    if (sep != ' ' && sep != '-') return Error("malformed reply separator");
    for (unsigned char c : line) {
      if ((c < 0x20 && c != '\t') || c == 0x7F) return Error("control character in reply");
    }
    result.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
    if (sep == ' ') break;
  }
  pos_ = scan;
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  } else if (pos_ > 4096) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }

  result.kind = Result::kReply;
  result.reply.code = code;
  // The enhanced code counts only if every line starts with the same one.
  std::string enhanced;
  bool all = true;
  for (const std::string& l : result.lines) {
    std::string_view first = std::string_view(l).substr(0, l.find(' '));
    if (!IsEnhancedCode(first) || first[0] != '0' + code / 100 ||
        (!enhanced.empty() && first != enhanced)) {
      all = false;
      break;
    }
    enhanced = std::string(first);
  }
  std::vector<std::string_view> texts;
  for (const std::string& l : result.lines) {
    std::string_view t = l;
    if (all) {
      t.remove_prefix(std::min(t.size(), enhanced.size()));
      if (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    }
    texts.push_back(t);
  }
  if (all) result.reply.enhanced = enhanced;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i > 0) result.reply.text.push_back('\n');
    result.reply.text.append(texts[i]);
  }
  return result;
}

}  // namespace kite::smtp

#include "freebusy/cache.h"

#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::freebusy {

std::string GenerationKey(int64_t account_id) { return absl::StrCat("kite:fb:gen:{", account_id, "}"); }

std::string AnswerKey(int64_t account_id, std::string_view generation, int64_t start, int64_t end) {
  return absl::StrCat("kite:fb:ans:{", account_id, "}:", AV(generation), ":", start, ":", end);
}

std::string EncodePeriods(const std::vector<calendar::BusyPeriod>& periods) {
  std::string out = "v1";
  out.reserve(3 + periods.size() * 24);
  for (const auto& p : periods) {
    absl::StrAppend(&out, " ", p.start, "-", p.end, "-", static_cast<int>(p.type));
  }
  return out;
}

namespace {

// Parses a decimal int64 (optionally negative) at the front of `s`, advancing it.
bool TakeInt(std::string_view& s, int64_t* out) {
  size_t n = 0;
  if (n < s.size() && s[n] == '-') ++n;
  size_t digits = n;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == digits || n - digits > 19) return false;
  if (!absl::SimpleAtoi(AV(s.substr(0, n)), out)) return false;
  s.remove_prefix(n);
  return true;
}

bool TakeChar(std::string_view& s, char c) {
  if (s.empty() || s[0] != c) return false;
  s.remove_prefix(1);
  return true;
}

}  // namespace

std::optional<std::vector<calendar::BusyPeriod>> DecodePeriods(std::string_view text, size_t max_periods) {
  if (text.substr(0, 2) != "v1") return std::nullopt;
  text.remove_prefix(2);
  std::vector<calendar::BusyPeriod> out;
  while (!text.empty()) {
    if (out.size() >= max_periods) return std::nullopt;
    calendar::BusyPeriod p;
    int64_t type = 0;
    if (!TakeChar(text, ' ') || !TakeInt(text, &p.start) || !TakeChar(text, '-') || !TakeInt(text, &p.end) ||
        !TakeChar(text, '-') || !TakeInt(text, &type)) {
      return std::nullopt;
    }
    if (p.end < p.start || type < 0 || type > 2) return std::nullopt;
    p.type = static_cast<calendar::BusyType>(type);
    out.push_back(p);
  }
  return out;
}

absl::Status InvalidateAccount(redis::Client& redis, int64_t account_id) {
  auto r = redis.Command({"INCR", GenerationKey(account_id)});
  if (!r.ok()) return r.status();
  if (r->is_error()) return absl::InternalError(absl::StrCat("redis INCR: ", r->str));
  return absl::OkStatus();
}

std::unique_ptr<redis::Client> Cache::Take() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    if (std::chrono::steady_clock::now() < down_until_) return nullptr;
  }
  auto c = redis::Client::Connect(options_.redis);
  if (!c.ok()) {
    absl::MutexLock lock(&mu_);
    down_until_ = std::chrono::steady_clock::now() + options_.retry_after;
    return nullptr;
  }
  return std::move(*c);
}

void Cache::Give(std::unique_ptr<redis::Client> client, bool failed) {
  absl::MutexLock lock(&mu_);
  if (failed) {
    down_until_ = std::chrono::steady_clock::now() + options_.retry_after;
    idle_.clear();  // a restarted or unreachable server: every connection is suspect
    return;
  }
  if (idle_.size() < 32) idle_.push_back(std::move(client));
}

Cache::Lookup Cache::Get(int64_t account_id, int64_t start, int64_t end) {
  Lookup out;
  auto client = Take();
  if (!client) return out;
  const std::string gen_key = GenerationKey(account_id);
  auto gen = client->Command({"GET", gen_key});
  if (gen.ok() && gen->is_nil()) {
    // First use (or Redis lost the counter): a random start, never a value used before.
    std::random_device rd;
    uint64_t value = ((static_cast<uint64_t>(rd()) << 32) | rd()) >> 2;
    auto set = client->Command({"SET", gen_key, absl::StrCat(value), "NX"});
    if (!set.ok()) {
      Give(std::move(client), true);
      return out;
    }
    gen = client->Command({"GET", gen_key});
  }
  if (!gen.ok() || gen->type != redis::Reply::kString) {
    Give(std::move(client), !gen.ok());
    return out;
  }
  out.generation = gen->str;
  auto answer = client->Command({"GET", AnswerKey(account_id, out.generation, start, end)});
  if (!answer.ok()) {
    Give(std::move(client), true);
    return out;
  }
  out.available = true;
  if (answer->type == redis::Reply::kString) out.periods = DecodePeriods(answer->str);
  Give(std::move(client), false);
  return out;
}

std::vector<Cache::Lookup> Cache::GetMany(const std::vector<int64_t>& account_ids, int64_t start, int64_t end) {
  std::vector<Lookup> out(account_ids.size());
  if (account_ids.empty()) return out;
  if (account_ids.size() == 1) {
    out[0] = Get(account_ids[0], start, end);
    return out;
  }
  auto client = Take();
  if (!client) return out;
  auto fallback = [&] {
    Give(std::move(client), false);
    for (size_t i = 0; i < account_ids.size(); ++i) out[i] = Get(account_ids[i], start, end);
    return out;
  };
  std::vector<std::string> argv = {"MGET"};
  for (int64_t a : account_ids) argv.push_back(GenerationKey(a));
  auto gens = client->Command(argv);
  if (!gens.ok()) {
    Give(std::move(client), true);
    return out;
  }
  if (gens->type != redis::Reply::kArray || gens->elements.size() != account_ids.size()) return fallback();
  for (size_t i = 0; i < account_ids.size(); ++i) {
    if (gens->elements[i].type == redis::Reply::kString) {
      out[i].generation = gens->elements[i].str;
    } else {
      return fallback();  // no counter yet: Get creates it (once per account and Redis lifetime)
    }
  }
  argv = {"MGET"};
  for (size_t i = 0; i < account_ids.size(); ++i) {
    argv.push_back(AnswerKey(account_ids[i], out[i].generation, start, end));
  }
  auto answers = client->Command(argv);
  if (!answers.ok()) {
    Give(std::move(client), true);
    for (auto& o : out) o = Lookup();
    return out;
  }
  if (answers->type != redis::Reply::kArray || answers->elements.size() != account_ids.size()) return fallback();
  for (size_t i = 0; i < account_ids.size(); ++i) {
    out[i].available = true;
    if (answers->elements[i].type == redis::Reply::kString) out[i].periods = DecodePeriods(answers->elements[i].str);
  }
  Give(std::move(client), false);
  return out;
}

void Cache::Put(int64_t account_id, std::string_view generation, int64_t start, int64_t end,
                const std::vector<calendar::BusyPeriod>& periods) {
  auto client = Take();
  if (!client) return;
  auto r = client->Command({"SET", AnswerKey(account_id, generation, start, end), EncodePeriods(periods), "EX",
                            absl::StrCat(std::max<int64_t>(1, options_.ttl.count()))});
  Give(std::move(client), !r.ok());
}

absl::Status Cache::Invalidate(int64_t account_id) {
  auto client = Take();
  if (!client) return absl::UnavailableError("Redis is unreachable");
  absl::Status s = InvalidateAccount(*client, account_id);
  Give(std::move(client), absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s));
  return s;
}

}  // namespace kite::freebusy

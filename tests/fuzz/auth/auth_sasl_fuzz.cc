// libFuzzer target: SASL client messages as kite-auth receives them (after the protocol
// daemon's base64 decoding, which is part of the run): PLAIN (authzid NUL authcid NUL
// passwd), LOGIN's user name, SCRAM-SHA-256 client-first and client-final, and SCRAM state
// tokens (auth/sasl.h, auth/scram.h; pure code). The first byte picks the message kind and
// whether the rest is base64 text (as a client sends it) or raw octets.
// Invariants: no crash; PLAIN's three parts joined by NUL give the message back and the
// authcid holds no NUL; a permitted authzid is empty or the authcid; LOGIN user names stay
// within kMaxLoginUsername; a parsed client-first has a non-empty NUL-free user name and
// nonce and its "bare" part ends the message; a parsed client-final's without_proof starts
// the message; a state sealed from a parsed client-first opens to the same fields and does
// not open under another binding; Open never accepts a token that was not sealed with the
// key (the fuzzer cannot forge the HMAC).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "auth/sasl.h"
#include "auth/scram.h"

namespace {

using kite::auth::sasl::AuthzidPermitted;
using kite::auth::sasl::ParseLoginUsername;
using kite::auth::sasl::ParsePlain;
namespace scram = kite::auth::scram;

constexpr std::string_view kKey = "fuzz-key-0123456789abcdef0123456789abcdef";
constexpr int64_t kNow = 1'800'000'000;
// Bindings as kite-auth makes them: service NUL client address.
constexpr std::string_view kImap("imap\0" "127.0.0.1", 14);
constexpr std::string_view kPop3("pop3\0" "127.0.0.1", 14);

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void Plain(std::string_view msg) {
  auto p = ParsePlain(msg);
  if (!p.ok()) {
    Check(std::count(msg.begin(), msg.end(), '\0') < 2);
    return;
  }
  Check(p->authzid.find('\0') == std::string::npos);
  Check(p->authcid.find('\0') == std::string::npos);
  Check(p->authzid + std::string(1, '\0') + p->authcid + std::string(1, '\0') + p->password == msg);
  if (AuthzidPermitted(*p) && !p->authzid.empty()) Check(p->authzid.size() == p->authcid.size());
}

void Login(std::string_view msg) {
  auto u = ParseLoginUsername(msg);
  Check(u.ok() == (msg.size() <= kite::auth::sasl::kMaxLoginUsername));
  if (u.ok()) Check(*u == msg);
}

void ClientFirst(std::string_view msg) {
  auto first = scram::ParseClientFirst(msg);
  if (!first.ok()) return;
  Check(msg.size() <= scram::kMaxClientMessage);
  Check(!first->username.empty() && first->username.find('\0') == std::string::npos);
  Check(!first->nonce.empty() && first->nonce.size() <= scram::kMaxNonce);
  Check(msg.size() >= first->bare.size() && msg.substr(msg.size() - first->bare.size()) == first->bare);
  Check(msg.substr(0, first->gs2_header.size()) == first->gs2_header);
  // What kite-auth does next: the server-first message and the sealed state.
  scram::State st;
  st.expires_unix = kNow + scram::kStateLifetimeSeconds;
  st.account_id = 42;
  st.username = first->username;
  st.gs2_header = first->gs2_header;
  st.client_first_bare = first->bare;
  st.server_first = scram::ServerFirst(first->nonce + "server", "salt", 4096);
  std::string token = scram::Seal(st, kKey, kImap);
  Check(scram::IsStateToken(token));
  auto opened = scram::Open(token, kKey, kImap, kNow);
  Check(opened.ok());
  Check(opened->username == st.username && opened->gs2_header == st.gs2_header &&
        opened->client_first_bare == st.client_first_bare && opened->server_first == st.server_first &&
        opened->account_id == 42 && opened->stage == 1);
  Check(!scram::Open(token, kKey, kPop3, kNow).ok());
  Check(!scram::Open(token, kKey, kImap, st.expires_unix + 1).ok());
}

void ClientFinal(std::string_view msg) {
  auto final = scram::ParseClientFinal(msg);
  if (!final.ok()) return;
  Check(msg.size() <= scram::kMaxClientMessage);
  Check(msg.substr(0, final->without_proof.size()) == final->without_proof);
  Check(!final->nonce.empty());
}

void Token(std::string_view msg) {
  (void)scram::IsStateToken(msg);
  auto opened = scram::Open(msg, kKey, kImap, kNow);
  // Only what Seal made opens; a fuzzer-made token would need the HMAC of the key.
  if (opened.ok()) Check(scram::Seal(*opened, kKey, kImap).size() > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 8192) return 0;
  const uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string decoded;
  if (mode & 0x80) {
    // As a client sends it: base64 text (what the daemons decode with absl).
    if (!absl::Base64Unescape(absl::string_view(rest.data(), rest.size()), &decoded)) return 0;
    rest = decoded;
  }
  switch ((mode & 0x7f) % 5) {
    case 0: Plain(rest); break;
    case 1: Login(rest); break;
    case 2: ClientFirst(rest); break;
    case 3: ClientFinal(rest); break;
    case 4: Token(rest); break;
  }
  return 0;
}

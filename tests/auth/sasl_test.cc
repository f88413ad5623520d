// kite-auth's Auth service in-process against real PostgreSQL and Redis (fixture pg_redis):
// passwords, app passwords, SASL PLAIN / LOGIN / SCRAM-SHA-256, throttling, TLS policy.
// The SCRAM client here is written from RFC 5802 with OpenSSL directly, independent of
// services/lib/password/scram.*, and is itself checked against the RFC 7677 example.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <random>
#include <string>

#include "auth/auth_service.h"
#include "auth/scram.h"
#include "fixtures/test_env.h"
#include "lib/directory/credentials.h"
#include "lib/directory/directory.h"
#include "lib/password/scram.h"
#include "lib/store/migrations.h"

namespace {

namespace v1 = kite::auth::v1;
using kite::auth::AuthService;
using kite::auth::Throttle;
using kite::auth::ThrottlePolicy;

// Cheap argon2id parameters so the tests stay fast; two sets to test rehashing.
const kite::password::Argon2Params kFast{.memory_kib = 256, .iterations = 1, .parallelism = 1};
const kite::password::Argon2Params kOther{.memory_kib = 512, .iterations = 2, .parallelism = 1};

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// ---- an independent SCRAM-SHA-256 client (RFC 5802 section 3), OpenSSL only ----

std::string B64(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string UnB64(const std::string& text) {
  std::string out(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  REQUIRE(n >= 0);
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string HmacSha256(const std::string& key, const std::string& data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Sha256(const std::string& data) {
  unsigned char out[32];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

std::string Pbkdf2(const std::string& password, const std::string& salt, int iterations) {
  unsigned char out[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                    EVP_sha256(), 32, out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

std::map<char, std::string> Attributes(const std::string& message) {
  std::map<char, std::string> out;
  size_t pos = 0;
  while (pos < message.size()) {
    size_t comma = message.find(',', pos);
    std::string attr = message.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (attr.size() >= 2 && attr[1] == '=') out[attr[0]] = attr.substr(2);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

struct ScramClient {
  std::string user, password, cnonce;
  std::string gs2 = "n,,";
  std::string bare, expected_server_signature;

  std::string First() {
    bare = "n=" + user + ",r=" + cnonce;
    return gs2 + bare;
  }
  // The client-final message for `server_first`; remembers the expected server signature.
  std::string Final(const std::string& server_first) {
    auto a = Attributes(server_first);
    REQUIRE(a['r'].rfind(cnonce, 0) == 0);  // the server nonce extends ours
    REQUIRE(a['r'].size() > cnonce.size());
    std::string salted = Pbkdf2(password, UnB64(a['s']), std::stoi(a['i']));
    std::string without_proof = "c=" + B64(gs2) + ",r=" + a['r'];
    std::string auth_message = bare + "," + server_first + "," + without_proof;
    std::string client_key = HmacSha256(salted, "Client Key");
    std::string signature = HmacSha256(Sha256(client_key), auth_message);
    std::string proof = client_key;
    for (size_t i = 0; i < proof.size(); ++i) proof[i] = static_cast<char>(proof[i] ^ signature[i]);
    expected_server_signature = "v=" + B64(HmacSha256(HmacSha256(salted, "Server Key"), auth_message));
    return without_proof + ",p=" + B64(proof);
  }
};

// ---- an in-process AuthService with its own database, domain and client address ----

struct Env {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::metrics::Metrics> metrics;
  std::unique_ptr<Throttle> throttle;
  std::unique_ptr<AuthService> auth;
  std::string domain;
  std::string ip;

  explicit Env(ThrottlePolicy policy = {.max_failures = 3, .window = std::chrono::seconds(60),
                                        .lockout = std::chrono::seconds(60)},
               kite::password::Argon2Params params = kFast, bool allow_plaintext_loopback = false) {
    std::string tag = kite::testing::UniqueName("sasl");
    auto p = kite::store::Pool::Create({.url = kite::testing::FreshDatabase("sasl")});
    REQUIRE(p.ok());
    pool = std::move(*p);
    REQUIRE(kite::store::Migrate(*pool).ok());
    auto m = kite::metrics::Metrics::Start("kite-test", "127.0.0.1:" + std::to_string(FreePort()));
    REQUIRE(m.ok());
    metrics = std::move(*m);
    throttle = std::make_unique<Throttle>(
        kite::redis::Options{.host = "127.0.0.1", .port = kite::testing::RedisPort()}, policy, *metrics);
    auth = std::make_unique<AuthService>(*pool, *throttle, params, allow_plaintext_loopback, *metrics);
    domain = tag + ".test";
    for (char& ch : domain) if (ch == '_') ch = '-';
    std::random_device r;
    ip = "10." + std::to_string(r() % 250) + "." + std::to_string(r() % 250) + "." + std::to_string(1 + r() % 250);
    REQUIRE(kite::directory::CreateDomain(*pool, domain).ok());
  }

  // Creates user@domain with `password` (argon2id + SCRAM through SetPassword).
  int64_t User(const std::string& local, const std::string& password,
               kite::password::Argon2Params params = kFast) {
    auto id = kite::directory::CreateAccount(*pool, local + "@" + domain, "User " + local, "!", 0);
    REQUIRE(id.ok());
    REQUIRE(kite::directory::SetPassword(*pool, *id, password, params).ok());
    return *id;
  }
  std::string Address(const std::string& local) const { return local + "@" + domain; }

  v1::ClientInfo Client(bool tls = true) const {
    v1::ClientInfo c;
    c.set_service("imap");
    c.set_remote_address(ip);
    c.set_tls(tls);
    return c;
  }

  v1::AuthResponse Check(const std::string& user, const std::string& password, v1::ClientInfo client) {
    v1::PasswordRequest req;
    req.set_username(user);
    req.set_password(password);
    *req.mutable_client() = client;
    v1::AuthResponse resp;
    REQUIRE(auth->CheckPassword(nullptr, &req, &resp).ok());
    return resp;
  }
  v1::AuthResponse Check(const std::string& user, const std::string& password) {
    return Check(user, password, Client());
  }

  v1::SaslStepResponse Start(const std::string& mech, const std::string& initial, bool has_initial = true,
                             v1::ClientInfo client = {}) {
    v1::SaslStartRequest req;
    req.set_mechanism(mech);
    req.set_initial_response(initial);
    req.set_has_initial_response(has_initial);
    *req.mutable_client() = client.service().empty() ? Client() : client;
    v1::SaslStepResponse resp;
    REQUIRE(auth->SaslStart(nullptr, &req, &resp).ok());
    return resp;
  }
  v1::SaslStepResponse Step(const std::string& state, const std::string& response, v1::ClientInfo client = {}) {
    v1::SaslStepRequest req;
    req.set_state(state);
    req.set_response(response);
    *req.mutable_client() = client.service().empty() ? Client() : client;
    v1::SaslStepResponse resp;
    REQUIRE(auth->SaslStep(nullptr, &req, &resp).ok());
    return resp;
  }

  v1::AuthResponse Plain(const std::string& user, const std::string& password, const std::string& authzid = "") {
    auto r = Start("PLAIN", authzid + std::string(1, '\0') + user + std::string(1, '\0') + password);
    REQUIRE(r.done());
    return r.outcome();
  }

  // A whole SCRAM exchange; the outcome, and whether the server signature matched.
  v1::AuthResponse Scram(const std::string& user, const std::string& password, bool* server_ok = nullptr) {
    ScramClient c{user, password, "fyko+d2lbbFgONRv9qkxdawL"};
    auto first = Start("SCRAM-SHA-256", c.First());
    if (first.done()) return first.outcome();
    auto second = Step(first.state(), c.Final(first.challenge()));
    if (second.done()) return second.outcome();
    if (server_ok) *server_ok = second.challenge() == c.expected_server_signature;
    auto third = Step(second.state(), "");
    REQUIRE(third.done());
    return third.outcome();
  }

  std::string Hash(int64_t id) {
    auto c = kite::directory::FindCredentialsById(*pool, id);
    REQUIRE(c.ok());
    REQUIRE(c->has_value());
    return (*c)->password_hash;
  }

  double Counter(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    double total = 0;
    for (const auto& family : metrics->registry().Collect()) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        bool match = true;
        for (const auto& [k, v] : labels) {
          bool found = false;
          for (const auto& l : metric.label) found |= l.name == k && l.value == v;
          match &= found;
        }
        if (match) total += metric.counter.value;
      }
    }
    return total;
  }
};

}  // namespace

TEST_CASE("CheckPassword accepts the right password and gives one answer to every refusal", "[auth][password]") {
  Env env;
  env.User("alice", "correct horse battery");
  auto ok = env.Check(env.Address("alice"), "correct horse battery");
  REQUIRE(ok.result() == v1::AUTH_RESULT_OK);
  CHECK(ok.identity().address() == env.Address("alice"));
  CHECK(ok.identity().display_name() == "User alice");
  CHECK(ok.identity().account_id() > 0);
  // The address is case-insensitive.
  CHECK(env.Check("ALICE@" + env.domain, "correct horse battery").result() == v1::AUTH_RESULT_OK);

  auto wrong = env.Check(env.Address("alice"), "wrong horse battery");
  CHECK(wrong.result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK_FALSE(wrong.has_identity());
  auto unknown = env.Check(env.Address("nobody"), "correct horse battery");
  CHECK(unknown.result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(unknown.message() == wrong.message());
}

TEST_CASE("A disabled account cannot log in with any mechanism", "[auth][password]") {
  Env env;
  int64_t id = env.User("bob", "bob's password 1");
  REQUIRE(env.pool->Transact([&](pqxx::work& tx) { tx.exec_params("UPDATE accounts SET enabled = false WHERE id = $1", id); }).ok());
  CHECK(env.Check(env.Address("bob"), "bob's password 1").result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Plain(env.Address("bob"), "bob's password 1").result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Scram(env.Address("bob"), "bob's password 1").result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
}

TEST_CASE("A locked-out account is refused even with the correct password", "[auth][throttle]") {
  Env env;  // lockout after 3 failures
  env.User("carol", "carol's password");
  for (int i = 0; i < 3; ++i) {
    CHECK(env.Check(env.Address("carol"), "guess " + std::to_string(i)).result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  }
  CHECK(env.Counter("kite_auth_lockouts_total") >= 1);
  auto locked = env.Check(env.Address("carol"), "carol's password");
  CHECK(locked.result() == v1::AUTH_RESULT_THROTTLED);
  CHECK(locked.retry_after_seconds() > 0);
  CHECK(locked.retry_after_seconds() <= 60);
  CHECK_FALSE(locked.has_identity());
  // Every mechanism honours it, from another client address too (the account is locked).
  v1::ClientInfo other = env.Client();
  other.set_remote_address("10.255.255.254");
  CHECK(env.Check(env.Address("carol"), "carol's password", other).result() == v1::AUTH_RESULT_THROTTLED);
  CHECK(env.Plain(env.Address("carol"), "carol's password").result() == v1::AUTH_RESULT_THROTTLED);
  CHECK(env.Scram(env.Address("carol"), "carol's password").result() == v1::AUTH_RESULT_THROTTLED);
  CHECK(env.Counter("kite_auth_attempts_total", {{"result", "throttled"}}) >= 4);
}

TEST_CASE("Failures from one client address across accounts lock that address out", "[auth][throttle]") {
  Env env;
  env.User("dave", "dave's password");
  for (int i = 0; i < 3; ++i) {
    CHECK(env.Check(env.Address("u" + std::to_string(i)), "spray").result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  }
  // dave had no failure, but the client address is locked.
  CHECK(env.Check(env.Address("dave"), "dave's password").result() == v1::AUTH_RESULT_THROTTLED);
  v1::ClientInfo other = env.Client();
  other.set_remote_address(env.ip + "9");  // another address is not affected
  CHECK(env.Check(env.Address("dave"), "dave's password", other).result() == v1::AUTH_RESULT_OK);
}

TEST_CASE("A success resets the account's failure count", "[auth][throttle]") {
  Env env;
  env.User("erin", "erin's password");
  v1::ClientInfo a = env.Client(), b = env.Client();
  b.set_remote_address(env.ip + "8");
  // 2 failures (from two addresses, so no address reaches 3), a success, 2 more: no lockout.
  CHECK(env.Check(env.Address("erin"), "x", a).result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Check(env.Address("erin"), "x", b).result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Check(env.Address("erin"), "erin's password", b).result() == v1::AUTH_RESULT_OK);
  CHECK(env.Check(env.Address("erin"), "x", b).result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Check(env.Address("erin"), "erin's password", b).result() == v1::AUTH_RESULT_OK);
}

TEST_CASE("Authentication without TLS is refused unless plaintext is allowed for loopback", "[auth][tls]") {
  SECTION("refused by default, even from loopback") {
    Env env;
    env.User("frank", "frank's password");
    v1::ClientInfo plain = env.Client(false);
    plain.set_remote_address("127.0.0.1");
    CHECK(env.Check(env.Address("frank"), "frank's password", plain).result() == v1::AUTH_RESULT_ENCRYPTION_REQUIRED);
    CHECK(env.Start("PLAIN", std::string("\0frank@", 7) + env.domain + std::string(1, '\0') + "frank's password", true, plain)
              .outcome()
              .result() == v1::AUTH_RESULT_ENCRYPTION_REQUIRED);
    CHECK(env.Start("SCRAM-SHA-256", "n,,n=frank,r=abc", true, plain).outcome().result() ==
          v1::AUTH_RESULT_ENCRYPTION_REQUIRED);
    v1::ListMechanismsRequest lr;
    *lr.mutable_client() = plain;
    v1::ListMechanismsResponse mechs;
    REQUIRE(env.auth->ListMechanisms(nullptr, &lr, &mechs).ok());
    CHECK(mechs.mechanisms_size() == 0);
  }
  SECTION("allowed from loopback only when configured") {
    Env env({.max_failures = 3, .window = std::chrono::seconds(60), .lockout = std::chrono::seconds(60)}, kFast, true);
    env.User("frank", "frank's password");
    v1::ClientInfo loop = env.Client(false);
    loop.set_remote_address("127.0.0.1");
    CHECK(env.Check(env.Address("frank"), "frank's password", loop).result() == v1::AUTH_RESULT_OK);
    v1::ClientInfo remote = env.Client(false);  // 10.x: not loopback
    CHECK(env.Check(env.Address("frank"), "frank's password", remote).result() == v1::AUTH_RESULT_ENCRYPTION_REQUIRED);
  }
}

TEST_CASE("ListMechanisms offers SCRAM-SHA-256, PLAIN and LOGIN on TLS connections", "[auth][sasl]") {
  Env env;
  v1::ListMechanismsRequest req;
  *req.mutable_client() = env.Client();
  v1::ListMechanismsResponse resp;
  REQUIRE(env.auth->ListMechanisms(nullptr, &req, &resp).ok());
  REQUIRE(resp.mechanisms_size() == 3);
  CHECK(resp.mechanisms(0) == "SCRAM-SHA-256");
  CHECK(resp.mechanisms(1) == "PLAIN");
  CHECK(resp.mechanisms(2) == "LOGIN");
}

TEST_CASE("PLAIN authenticates, refuses another authzid and malformed messages", "[auth][sasl][plain]") {
  Env env;
  env.User("gina", "gina's password");
  CHECK(env.Plain(env.Address("gina"), "gina's password").result() == v1::AUTH_RESULT_OK);
  CHECK(env.Plain(env.Address("gina"), "gina's password", env.Address("gina")).result() == v1::AUTH_RESULT_OK);
  CHECK(env.Plain(env.Address("gina"), "gina's password", env.Address("root")).result() ==
        v1::AUTH_RESULT_INVALID_CREDENTIALS);
  auto malformed = env.Start("PLAIN", "no separators");
  CHECK(malformed.done());
  CHECK(malformed.outcome().result() == v1::AUTH_RESULT_MALFORMED);
  // Without an initial response: an empty challenge, then the credentials.
  auto first = env.Start("PLAIN", "", false);
  REQUIRE_FALSE(first.done());
  auto second = env.Step(first.state(), std::string(1, '\0') + env.Address("gina") + std::string(1, '\0') + "gina's password");
  REQUIRE(second.done());
  CHECK(second.outcome().result() == v1::AUTH_RESULT_OK);
  CHECK(env.Start("CRAM-MD5", "").outcome().result() == v1::AUTH_RESULT_UNSUPPORTED_MECHANISM);
}

TEST_CASE("LOGIN asks for the username, then the password", "[auth][sasl][login]") {
  Env env;
  env.User("hank", "hank's password");
  auto first = env.Start("LOGIN", "", false);
  REQUIRE_FALSE(first.done());
  CHECK(first.challenge() == "Username:");
  auto second = env.Step(first.state(), env.Address("hank"));
  REQUIRE_FALSE(second.done());
  CHECK(second.challenge() == "Password:");
  auto third = env.Step(second.state(), "hank's password");
  REQUIRE(third.done());
  CHECK(third.outcome().result() == v1::AUTH_RESULT_OK);
  CHECK(third.outcome().identity().address() == env.Address("hank"));
  // With the username as initial response, and a wrong password.
  auto a = env.Start("LOGIN", env.Address("hank"));
  REQUIRE_FALSE(a.done());
  CHECK(a.challenge() == "Password:");
  CHECK(env.Step(a.state(), "nope").outcome().result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  // A user name longer than an address ends the exchange, as the first step or initial response.
  auto long_step = env.Step(first.state(), std::string(321, 'x'));
  CHECK(long_step.done());
  CHECK(long_step.outcome().result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  auto long_ir = env.Start("LOGIN", std::string(321, 'x'));
  CHECK(long_ir.done());
  CHECK(long_ir.outcome().result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
}

TEST_CASE("The test's SCRAM client and Kite's SCRAM arithmetic both reproduce RFC 7677's example", "[auth][scram]") {
  // RFC 7677 section 3: user "user", password "pencil".
  const std::string client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
  const std::string server_first =
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  const std::string client_final =
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  const std::string server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

  ScramClient client{"user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
  CHECK(client.First() == client_first);
  CHECK(client.Final(server_first) == client_final);
  CHECK(client.expected_server_signature == server_final);

  namespace ks = kite::password::scram;
  const std::string salt = UnB64("W22ZaJ0SNY7soEsUEjb6gQ==");
  ks::Secret secret = ks::Derive("pencil", salt, 4096);
  auto parsed_first = kite::auth::scram::ParseClientFirst(client_first);
  REQUIRE(parsed_first.ok());
  CHECK(parsed_first->username == "user");
  CHECK(parsed_first->gs2_header == "n,,");
  auto parsed_final = kite::auth::scram::ParseClientFinal(client_final);
  REQUIRE(parsed_final.ok());
  CHECK(parsed_final->channel_binding == "n,,");
  CHECK(kite::auth::scram::ServerFirst(parsed_final->nonce, salt, 4096) == server_first);
  std::string auth_message = parsed_first->bare + "," + server_first + "," + parsed_final->without_proof;
  CHECK(ks::VerifyProof(secret, auth_message, parsed_final->proof));
  CHECK("v=" + B64(std::string(ks::View(ks::ServerSignature(secret, auth_message)))) == server_final);
  CHECK(B64(std::string(ks::View(ks::ClientProof("pencil", salt, 4096, auth_message)))) ==
        "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  CHECK_FALSE(ks::VerifyProof(ks::Derive("pencil2", salt, 4096), auth_message, parsed_final->proof));
  // The stored secret round-trips through PostgreSQL's text format.
  auto reparsed = ks::Parse(ks::Format(secret));
  REQUIRE(reparsed.ok());
  CHECK(reparsed->iterations == 4096);
  CHECK(reparsed->salt == salt);
  CHECK(reparsed->stored_key == secret.stored_key);
  CHECK(reparsed->server_key == secret.server_key);
  CHECK(ks::Format(secret).rfind("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$", 0) == 0);
}

TEST_CASE("A SCRAM-SHA-256 exchange with an independent client authenticates both sides", "[auth][scram]") {
  Env env;
  int64_t id = env.User("ivan", "ivan's pencil");
  auto secret = kite::directory::FindCredentialsById(*env.pool, id);
  REQUIRE(secret.ok());
  CHECK((*secret)->scram_sha256.rfind("SCRAM-SHA-256$4096:", 0) == 0);

  bool server_ok = false;
  auto outcome = env.Scram(env.Address("ivan"), "ivan's pencil", &server_ok);
  CHECK(outcome.result() == v1::AUTH_RESULT_OK);
  CHECK(outcome.identity().account_id() == id);
  CHECK(outcome.identity().address() == env.Address("ivan"));
  CHECK(server_ok);

  SECTION("the client-first message may also come after an empty challenge, with y,,") {
    auto first = env.Start("SCRAM-SHA-256", "", false);
    REQUIRE_FALSE(first.done());
    CHECK(first.challenge().empty());
    ScramClient c{env.Address("ivan"), "ivan's pencil", "0123456789abcdef"};
    c.gs2 = "y,,";
    auto second = env.Step(first.state(), c.First());
    REQUIRE_FALSE(second.done());
    auto third = env.Step(second.state(), c.Final(second.challenge()));
    REQUIRE_FALSE(third.done());
    CHECK(third.challenge() == c.expected_server_signature);
    auto fourth = env.Step(third.state(), "");
    REQUIRE(fourth.done());
    CHECK(fourth.outcome().result() == v1::AUTH_RESULT_OK);
  }
  SECTION("a wrong password fails and counts as a failure") {
    CHECK(env.Scram(env.Address("ivan"), "ivan's pen") .result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
    CHECK(env.Counter("kite_auth_attempts_total", {{"result", "invalid"}}) == 1);
  }
  SECTION("an unknown user gets a normal-looking challenge and then fails") {
    ScramClient c{env.Address("nobody"), "x", "abcdefgh"};
    auto first = env.Start("SCRAM-SHA-256", c.First());
    REQUIRE_FALSE(first.done());
    auto a = Attributes(first.challenge());
    CHECK(a['i'] == "4096");
    CHECK(UnB64(a['s']).size() == 16);
    // The same fake salt each time, so probing twice tells nothing either.
    auto again = env.Start("SCRAM-SHA-256", c.First());
    CHECK(Attributes(again.challenge())['s'] == a['s']);
    auto second = env.Step(first.state(), c.Final(first.challenge()));
    REQUIRE(second.done());
    CHECK(second.outcome().result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  }
  SECTION("a tampered or transplanted state token is rejected") {
    ScramClient c{env.Address("ivan"), "ivan's pencil", "tamper-nonce"};
    auto first = env.Start("SCRAM-SHA-256", c.First());
    REQUIRE_FALSE(first.done());
    std::string final_message = c.Final(first.challenge());
    std::string forged = first.state();
    forged[forged.size() / 2] ^= 1;
    auto r = env.Step(forged, final_message);
    REQUIRE(r.done());
    CHECK(r.outcome().result() == v1::AUTH_RESULT_MALFORMED);
    // The token is bound to the client's address.
    v1::ClientInfo elsewhere = env.Client();
    elsewhere.set_remote_address("10.1.2.3");
    auto moved = env.Step(first.state(), final_message, elsewhere);
    REQUIRE(moved.done());
    CHECK(moved.outcome().result() == v1::AUTH_RESULT_MALFORMED);
    // A forged "stage 2" token cannot skip the proof.
    kite::auth::scram::State skip;
    skip.stage = 2;
    skip.account_id = id;
    skip.expires_unix = 4102444800;
    auto fake = env.Step(kite::auth::scram::Seal(skip, "not the key", env.ip), "");
    CHECK(fake.outcome().result() == v1::AUTH_RESULT_MALFORMED);
    // The genuine token still works once...
    auto ok = env.Step(first.state(), final_message);
    REQUIRE_FALSE(ok.done());
    CHECK(ok.challenge() == c.expected_server_signature);
    // ...and not twice (the nonce is single-use).
    auto replay = env.Step(first.state(), final_message);
    REQUIRE(replay.done());
    CHECK(replay.outcome().result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  }
  SECTION("a nonce or channel-binding mismatch is a protocol error") {
    ScramClient c{env.Address("ivan"), "ivan's pencil", "nonce-1"};
    auto first = env.Start("SCRAM-SHA-256", c.First());
    std::string fin = c.Final(first.challenge());
    std::string other_nonce = fin;
    other_nonce.replace(other_nonce.find("r=") + 2, 1, "X");
    CHECK(env.Step(first.state(), other_nonce).outcome().result() == v1::AUTH_RESULT_MALFORMED);
    std::string other_cb = fin;
    other_cb.replace(0, 6, "c=eSws");  // "y,," instead of "n,,"
    CHECK(env.Step(first.state(), other_cb).outcome().result() == v1::AUTH_RESULT_MALFORMED);
  }
}

TEST_CASE("SCRAM client messages are parsed strictly", "[auth][scram][parser]") {
  using kite::auth::scram::ParseClientFinal;
  using kite::auth::scram::ParseClientFirst;
  CHECK_FALSE(ParseClientFirst("p=tls-unique,,n=user,r=abc").ok());  // no -PLUS
  CHECK_FALSE(ParseClientFirst("n,,m=ext,n=user,r=abc").ok());        // mandatory extension
  CHECK_FALSE(ParseClientFirst("n,,n=us=er,r=abc").ok());             // bad escape
  CHECK_FALSE(ParseClientFirst("n,,r=abc,n=user").ok());
  CHECK_FALSE(ParseClientFirst("x,,n=user,r=abc").ok());
  CHECK_FALSE(ParseClientFirst("n,,n=user,r=").ok());
  CHECK_FALSE(ParseClientFirst(std::string("n,,n=us\0er,r=abc", 16)).ok());
  CHECK_FALSE(ParseClientFirst("n,,n=user,r=" + std::string(2000, 'a')).ok());
  auto escaped = ParseClientFirst("n,a=a=2Cb,n=a=2Cb=3Dc,r=abc,x=ext");
  REQUIRE(escaped.ok());
  CHECK(escaped->authzid == "a,b");
  CHECK(escaped->username == "a,b=c");
  CHECK(escaped->gs2_header == "n,a=a=2Cb,");
  CHECK_FALSE(ParseClientFinal("c=biws,r=abc").ok());             // no proof
  CHECK_FALSE(ParseClientFinal("c=biws,r=abc,p=AAAA").ok());      // proof too short
  CHECK_FALSE(ParseClientFinal("r=abc,c=biws,p=" + B64(std::string(32, 'x'))).ok());
  CHECK(ParseClientFinal("c=biws,r=abc,p=" + B64(std::string(32, 'x'))).ok());
}

TEST_CASE("An account without a SCRAM secret gets one at its next PLAIN login", "[auth][scram]") {
  Env env;
  int64_t id = env.User("jane", "jane's password");
  REQUIRE(env.pool->Transact([&](pqxx::work& tx) { tx.exec_params("UPDATE accounts SET scram_sha256 = NULL WHERE id = $1", id); }).ok());
  CHECK(env.Scram(env.Address("jane"), "jane's password").result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Plain(env.Address("jane"), "jane's password").result() == v1::AUTH_RESULT_OK);
  CHECK(env.Scram(env.Address("jane"), "jane's password").result() == v1::AUTH_RESULT_OK);
}

TEST_CASE("A hash made with old argon2id parameters is replaced at the next login", "[auth][password]") {
  Env env;  // the service uses kFast
  int64_t id = env.User("kim", "kim's password", kOther);
  CHECK(env.Hash(id).rfind("$argon2id$v=19$m=512,t=2,p=1$", 0) == 0);
  CHECK(env.Check(env.Address("kim"), "wrong").result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Hash(id).rfind("$argon2id$v=19$m=512,t=2,p=1$", 0) == 0);  // not on a failure
  CHECK(env.Check(env.Address("kim"), "kim's password").result() == v1::AUTH_RESULT_OK);
  CHECK(env.Hash(id).rfind("$argon2id$v=19$m=256,t=1,p=1$", 0) == 0);
  CHECK(env.Check(env.Address("kim"), "kim's password").result() == v1::AUTH_RESULT_OK);
}

TEST_CASE("App passwords log in like the password until revoked, but never with SCRAM", "[auth][app-password]") {
  Env env({.max_failures = 20, .window = std::chrono::seconds(60), .lockout = std::chrono::seconds(60)});
  int64_t id = env.User("lena", "lena's password");
  auto phone = kite::directory::CreateAppPassword(*env.pool, id, "phone", kFast);
  REQUIRE(phone.ok());
  CHECK(phone->size() == 19);  // xxxx-xxxx-xxxx-xxxx
  CHECK(kite::directory::CreateAppPassword(*env.pool, id, "phone", kFast).status().code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(kite::directory::CreateAppPassword(*env.pool, id, "", kFast).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(kite::directory::CreateAppPassword(*env.pool, 0, "x", kFast).status().code() == absl::StatusCode::kNotFound);
  auto laptop = kite::directory::CreateAppPassword(*env.pool, id, "laptop", kFast);
  REQUIRE(laptop.ok());
  CHECK(*laptop != *phone);

  auto ok = env.Check(env.Address("lena"), *phone);
  CHECK(ok.result() == v1::AUTH_RESULT_OK);
  CHECK(ok.identity().account_id() == id);
  CHECK(env.Plain(env.Address("lena"), *phone).result() == v1::AUTH_RESULT_OK);
  // Typed without dashes and in capitals.
  std::string typed;
  for (char c : *phone) {
    if (c != '-') typed += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  CHECK(env.Check(env.Address("lena"), typed).result() == v1::AUTH_RESULT_OK);
  CHECK(env.Scram(env.Address("lena"), *phone).result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  // Another account does not accept it.
  env.User("mona", "mona's password");
  CHECK(env.Check(env.Address("mona"), *phone).result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);

  auto list = kite::directory::ListAppPasswords(*env.pool, id);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].name == "laptop");
  CHECK((*list)[0].last_used_at.empty());
  CHECK((*list)[1].name == "phone");
  CHECK_FALSE((*list)[1].last_used_at.empty());
  CHECK((*list)[1].scopes.size() == 4);

  REQUIRE(kite::directory::RevokeAppPassword(*env.pool, id, "phone").ok());
  CHECK(env.Check(env.Address("lena"), *phone).result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Check(env.Address("lena"), *laptop).result() == v1::AUTH_RESULT_OK);
  CHECK(kite::directory::RevokeAppPassword(*env.pool, id, "phone").code() == absl::StatusCode::kNotFound);
  // The account password is unaffected throughout.
  CHECK(env.Check(env.Address("lena"), "lena's password").result() == v1::AUTH_RESULT_OK);
}

TEST_CASE("App password scopes limit the services it opens", "[auth][app-password]") {
  Env env;
  int64_t id = env.User("nina", "nina's password");
  auto pw = kite::directory::CreateAppPassword(*env.pool, id, "calendar", kFast);
  REQUIRE(pw.ok());
  REQUIRE(env.pool->Transact([&](pqxx::work& tx) {
    tx.exec_params("UPDATE app_passwords SET scopes = '{caldav}' WHERE account_id = $1", id);
  }).ok());
  v1::ClientInfo caldav = env.Client();
  caldav.set_service("caldav");
  CHECK(env.Check(env.Address("nina"), *pw, caldav).result() == v1::AUTH_RESULT_OK);
  CHECK(env.Check(env.Address("nina"), *pw).result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);  // imap
}

TEST_CASE("SetPassword refuses empty passwords and unknown accounts, and replaces both secrets", "[auth][password]") {
  Env env;
  int64_t id = env.User("olga", "first password");
  CHECK(kite::directory::SetPassword(*env.pool, id, "", kFast).code() == absl::StatusCode::kInvalidArgument);
  CHECK(kite::directory::SetPassword(*env.pool, id, std::string(2000, 'x'), kFast).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(kite::directory::SetPassword(*env.pool, 0, "whatever", kFast).code() == absl::StatusCode::kNotFound);
  REQUIRE(kite::directory::SetPassword(*env.pool, id, "second password", kFast).ok());
  CHECK(env.Check(env.Address("olga"), "first password").result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Check(env.Address("olga"), "second password").result() == v1::AUTH_RESULT_OK);
  CHECK(env.Scram(env.Address("olga"), "first password").result() == v1::AUTH_RESULT_INVALID_CREDENTIALS);
  CHECK(env.Scram(env.Address("olga"), "second password").result() == v1::AUTH_RESULT_OK);
}

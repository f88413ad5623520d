// CaresResolver against a real dnsmasq on loopback started by the test (never the system
// resolver).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "fixtures/dnsmasq.h"
#include "lib/dns/cares_resolver.h"

namespace kite::dns {
namespace {

using kite::testing::Dnsmasq;

std::unique_ptr<CaresResolver> ResolverFor(
    std::vector<std::string> servers,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(500), int tries = 1) {
  ResolverOptions o;
  o.servers = std::move(servers);
  o.timeout = timeout;
  o.tries = tries;
  o.deadline = std::chrono::seconds(5);
  auto r = CaresResolver::Create(std::move(o));
  REQUIRE(r.ok());
  return *std::move(r);
}

const std::vector<std::string> kRecords = {
    R"(txt-record=mail.test,"v=spf1 ip4:192.0.2.0/24 -all")",
    R"(txt-record=mail.test,"hello, world")",
    R"(txt-record=split.test,"v=spf1 ","ip4:192.0.2.1 ","-all")",
    "mx-host=mail.test,mx2.mail.test,20",
    "mx-host=mail.test,mx1.mail.test,10",
    "host-record=mx1.mail.test,127.0.0.11,::11",
    "host-record=mx2.mail.test,127.0.0.12",
    "address=/v4only.test/127.0.0.13",
    "ptr-record=20.0.0.127.in-addr.arpa,host20.mail.test",
};

TEST_CASE("TXT records come back whole, split strings concatenated", "[dns]") {
  Dnsmasq dns(kRecords);
  auto r = ResolverFor({dns.server()});
  auto txt = r->Txt("mail.test");
  REQUIRE(txt.ok());
  REQUIRE(txt->size() == 2);
  CHECK(std::find(txt->begin(), txt->end(), "v=spf1 ip4:192.0.2.0/24 -all") != txt->end());
  CHECK(std::find(txt->begin(), txt->end(), "hello, world") != txt->end());
  auto split = r->Txt("split.test.");
  REQUIRE(split.ok());
  REQUIRE(split->size() == 1);
  CHECK((*split)[0] == "v=spf1 ip4:192.0.2.1 -all");
}

TEST_CASE("MX records are sorted by preference", "[dns]") {
  Dnsmasq dns(kRecords);
  auto r = ResolverFor({dns.server()});
  auto mx = r->Mx("mail.test");
  REQUIRE(mx.ok());
  REQUIRE(mx->size() == 2);
  CHECK((*mx)[0] == MxRecord{10, "mx1.mail.test"});
  CHECK((*mx)[1] == MxRecord{20, "mx2.mail.test"});
}

TEST_CASE("A, AAAA and PTR lookups", "[dns]") {
  Dnsmasq dns(kRecords);
  auto r = ResolverFor({dns.server()});
  auto a = r->A("mx1.mail.test");
  REQUIRE(a.ok());
  CHECK(*a == std::vector<std::string>{"127.0.0.11"});
  auto aaaa = r->Aaaa("mx1.mail.test");
  REQUIRE(aaaa.ok());
  CHECK(*aaaa == std::vector<std::string>{"::11"});
  auto ptr = r->Ptr("127.0.0.11");
  REQUIRE(ptr.ok());
  CHECK(*ptr == std::vector<std::string>{"mx1.mail.test"});
  auto ptr2 = r->Ptr("127.0.0.20");
  REQUIRE(ptr2.ok());
  CHECK(*ptr2 == std::vector<std::string>{"host20.mail.test"});
  auto v4 = r->A("v4only.test");
  REQUIRE(v4.ok());
  CHECK(*v4 == std::vector<std::string>{"127.0.0.13"});
}

TEST_CASE("NXDOMAIN and NODATA are NotFound and told apart", "[dns]") {
  Dnsmasq dns(kRecords);
  auto r = ResolverFor({dns.server()});
  auto nx = r->Txt("nonexistent.test");
  REQUIRE(!nx.ok());
  CHECK(absl::IsNotFound(nx.status()));
  CHECK(IsNxDomain(nx.status()));
  CHECK(!IsNoData(nx.status()));
  auto nodata = r->Aaaa("mx2.mail.test");  // has an A record only
  REQUIRE(!nodata.ok());
  CHECK(IsNoData(nodata.status()));
  CHECK(!IsNxDomain(nodata.status()));
  CHECK(IsVoid(nodata.status()));
  auto nomx = r->Mx("mx1.mail.test");
  REQUIRE(!nomx.ok());
  CHECK(IsNoData(nomx.status()));
}

TEST_CASE("A refused query (name outside the test zone) is Unavailable", "[dns]") {
  Dnsmasq dns(kRecords);
  auto r = ResolverFor({dns.server()});
  auto refused = r->A("outside.example");
  REQUIRE(!refused.ok());
  CHECK(absl::IsUnavailable(refused.status()));
}

TEST_CASE("A server nobody listens on gives Unavailable within the bounds", "[dns]") {
  int port = Dnsmasq::FreePort();
  auto r = ResolverFor({"127.0.0.1:" + std::to_string(port)}, std::chrono::milliseconds(200), 2);
  auto txt = r->Txt("mail.test");
  REQUIRE(!txt.ok());
  CHECK(absl::IsUnavailable(txt.status()));
  CHECK(!IsVoid(txt.status()));
}

TEST_CASE("The overall deadline bounds a call whatever the retry settings", "[dns]") {
  // A UDP socket that swallows queries and never answers.
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ResolverOptions o;
  o.servers = {"127.0.0.1:" + std::to_string(ntohs(a.sin_port))};
  o.timeout = std::chrono::milliseconds(5000);
  o.tries = 5;
  o.deadline = std::chrono::milliseconds(300);
  auto r = CaresResolver::Create(o);
  REQUIRE(r.ok());
  auto txt = (*r)->Txt("mail.test");
  close(fd);
  REQUIRE(!txt.ok());
  CHECK(absl::IsUnavailable(txt.status()));
}

TEST_CASE("The second server is used when the first does not answer", "[dns]") {
  Dnsmasq dns(kRecords);
  int dead = Dnsmasq::FreePort();
  auto r = ResolverFor({"127.0.0.1:" + std::to_string(dead), dns.server()},
                       std::chrono::milliseconds(200), 2);
  auto mx = r->Mx("mail.test");
  REQUIRE(mx.ok());
  CHECK(mx->size() == 2);
}

TEST_CASE("An empty server list refuses every query", "[dns]") {
  auto r = ResolverFor({});
  auto txt = r->Txt("mail.test");
  REQUIRE(!txt.ok());
  CHECK(absl::IsFailedPrecondition(txt.status()));
  CHECK(absl::IsFailedPrecondition(r->A("mail.test").status()));
  CHECK(absl::IsFailedPrecondition(r->Ptr("127.0.0.1").status()));
}

TEST_CASE("Bad server entries and bad names are rejected", "[dns]") {
  CHECK(absl::IsInvalidArgument(CaresResolver::Create({.servers = {"dns.example"}}).status()));
  CHECK(absl::IsInvalidArgument(CaresResolver::Create({.servers = {"127.0.0.1:99999"}}).status()));
  CHECK(CaresResolver::Create({.servers = {"[::1]:5353", "127.0.0.1", "::1"}}).ok());
  auto r = ResolverFor({"127.0.0.1:9"});
  CHECK(absl::IsInvalidArgument(r->Txt("").status()));
  CHECK(absl::IsInvalidArgument(r->Txt("bad name.test").status()));
  CHECK(absl::IsInvalidArgument(r->Txt(std::string(300, 'a')).status()));
  CHECK(absl::IsInvalidArgument(r->Ptr("not-an-ip").status()));
}

TEST_CASE("Calls from several threads run in parallel on one resolver", "[dns]") {
  Dnsmasq dns(kRecords);
  auto r = ResolverFor({dns.server()});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (r->Mx("mail.test").ok() && r->Txt("mail.test").ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 160);
}

}  // namespace
}  // namespace kite::dns

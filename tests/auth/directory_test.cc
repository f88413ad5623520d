// The directory against a real PostgreSQL: domains, accounts, aliases and catch-alls, lists,
// shared mailboxes and grants, resources; recipient resolution, sender checks, shared
// rights and free/busy visibility, through lib/directory and through kite-auth's
// Directory gRPC service called in-process.
#include "lib/directory/directory.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "auth/directory_service.h"
#include "fixtures/test_env.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace {

namespace dir = kite::directory;
namespace dv1 = kite::directory::v1;
using dir::RecipientKind;

struct Env {
  std::unique_ptr<kite::store::Pool> pool;
  int64_t alice = 0;
  int64_t bob = 0;
  int64_t carol = 0;  // other domain
};

Env Setup() {
  Env e;
  auto pool =
      kite::store::Pool::Create({.url = kite::testing::FreshDatabase("directory"), .pool_size = 2});
  REQUIRE(pool.ok());
  e.pool = std::move(*pool);
  REQUIRE(kite::store::Migrate(*e.pool).ok());
  REQUIRE(dir::CreateDomain(*e.pool, "example.test").ok());
  REQUIRE(dir::CreateDomain(*e.pool, "other.test").ok());
  e.alice = dir::CreateAccount(*e.pool, "alice@example.test", "Alice", "!", 0).value();
  e.bob = dir::CreateAccount(*e.pool, "bob@example.test", "Bob", "!", 0).value();
  e.carol = dir::CreateAccount(*e.pool, "carol@other.test", "Carol", "!", 0).value();
  return e;
}

dir::Resolution Resolve(Env& e, std::string_view address) {
  auto r = dir::Resolve(*e.pool, address);
  REQUIRE(r.ok());
  return *r;
}

dv1::ResolveRecipientResponse Rpc(kite::auth::DirectoryService& svc, const std::string& address) {
  dv1::ResolveRecipientRequest req;
  req.set_address(address);
  dv1::ResolveRecipientResponse resp;
  REQUIRE(svc.ResolveRecipient(nullptr, &req, &resp).ok());
  return resp;
}

dv1::SenderCheckResponse Sender(kite::auth::DirectoryService& svc, int64_t account,
                                const std::string& from) {
  dv1::SenderCheckRequest req;
  req.set_account_id(account);
  req.set_from_address(from);
  dv1::SenderCheckResponse resp;
  REQUIRE(svc.CheckSender(nullptr, &req, &resp).ok());
  return resp;
}

}  // namespace

TEST_CASE("Address syntax: malformed addresses and domains are refused",
          "[directory][integration]") {
  CHECK(dir::NormalizeAddress("Alice@Example.TEST").value() == "alice@example.test");
  for (const char* bad :
       {"", "alice", "@example.test", "alice@", "al ice@example.test", "alice..x@example.test",
        ".alice@example.test", "alice@exa_mple.test", "alice@-example.test", "alice@example..test",
        "a+b@example.test", "alice@@example.test"}) {
    INFO(bad);
    CHECK(dir::NormalizeAddress(bad).status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(dir::NormalizeAddress("a+b@remote.example", /*allow_plus=*/true).ok());
  CHECK(dir::NormalizeDomain("bad domain").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Domains: add, list, duplicate, malformed, remove refused while accounts exist",
          "[directory][integration]") {
  Env e = Setup();
  auto dup = dir::CreateDomain(*e.pool, "EXAMPLE.test");
  CHECK(dup.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(dup.status().message() == "domain example.test already exists");
  CHECK(dir::CreateDomain(*e.pool, "not a domain").status().code() ==
        absl::StatusCode::kInvalidArgument);

  auto domains = dir::ListDomains(*e.pool);
  REQUIRE(domains.ok());
  REQUIRE(domains->size() == 2);
  CHECK((*domains)[0].name == "example.test");
  CHECK((*domains)[0].accounts == 2);

  auto refused = dir::RemoveDomain(*e.pool, "example.test");
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(refused.message()).find("still has 2 accounts") != std::string::npos);
  CHECK(dir::RemoveDomain(*e.pool, "nowhere.test").code() == absl::StatusCode::kNotFound);

  // Aliases and lists go with the domain; accounts must be removed first.
  REQUIRE(dir::CreateDomain(*e.pool, "gone.test").ok());
  REQUIRE(dir::AddAlias(*e.pool, "info@gone.test", "alice@example.test").ok());
  REQUIRE(dir::CreateList(*e.pool, "team@gone.test", dir::PostingPolicy::kAnyone).ok());
  REQUIRE(dir::AddListMember(*e.pool, "team@gone.test", "bob@example.test").ok());
  REQUIRE(dir::CreateList(*e.pool, "all@example.test", dir::PostingPolicy::kAnyone).ok());
  REQUIRE(dir::AddListMember(*e.pool, "all@example.test", "team@gone.test").ok());
  REQUIRE(dir::RemoveDomain(*e.pool, "gone.test").ok());
  CHECK(Resolve(e, "info@gone.test").kind == RecipientKind::kRemote);
  CHECK(dir::ShowList(*e.pool, "all@example.test")->members.empty());
  // The freed address can be used again.
  REQUIRE(dir::CreateDomain(*e.pool, "gone.test").ok());
  CHECK(dir::CreateList(*e.pool, "team@gone.test", dir::PostingPolicy::kAnyone).ok());
}

TEST_CASE("Accounts: unknown domain, duplicate, show, disable/enable, quota, remove",
          "[directory][integration]") {
  Env e = Setup();
  auto unknown = dir::CreateAccount(*e.pool, "x@nowhere.test", "", "!", 0);
  CHECK(unknown.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(unknown.status().message()).find("domain nowhere.test does not exist") !=
        std::string::npos);
  auto dup = dir::CreateAccount(*e.pool, "ALICE@example.test", "", "!", 0);
  CHECK(dup.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(std::string(dup.status().message()).find("alice@example.test is already in use") !=
        std::string::npos);
  CHECK(dir::CreateAccount(*e.pool, "a b@example.test", "", "!", 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(dir::CreateAccount(*e.pool, "a+b@example.test", "", "!", 0).status().code() ==
        absl::StatusCode::kInvalidArgument);

  auto show = dir::ShowAccount(*e.pool, "Alice@Example.test");
  REQUIRE(show.ok());
  CHECK(show->account.id == e.alice);
  CHECK(show->kind == dir::AccountKind::kUser);
  CHECK(dir::ShowAccount(*e.pool, "nobody@example.test").status().code() ==
        absl::StatusCode::kNotFound);

  REQUIRE(dir::SetAccountEnabled(*e.pool, "alice@example.test", false).ok());
  CHECK(Resolve(e, "alice@example.test").kind == RecipientKind::kDisabled);
  REQUIRE(dir::SetAccountEnabled(*e.pool, "alice@example.test", true).ok());
  CHECK(Resolve(e, "alice@example.test").kind == RecipientKind::kAccount);
  CHECK(dir::SetAccountEnabled(*e.pool, "nobody@example.test", false).code() ==
        absl::StatusCode::kNotFound);

  REQUIRE(dir::SetQuota(*e.pool, "alice@example.test", 5LL << 30).ok());
  auto q = dir::GetQuota(*e.pool, "alice@example.test");
  REQUIRE(q.ok());
  CHECK(q->limit_bytes == (5LL << 30));
  CHECK(q->used_bytes == 0);
  CHECK(dir::SetQuota(*e.pool, "alice@example.test", -1).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(dir::GetQuota(*e.pool, "nobody@example.test").status().code() ==
        absl::StatusCode::kNotFound);

  // Removing an account takes its aliases and memberships with it.
  REQUIRE(dir::AddAlias(*e.pool, "b@example.test", "bob@example.test").ok());
  REQUIRE(dir::CreateList(*e.pool, "team@example.test", dir::PostingPolicy::kAnyone).ok());
  REQUIRE(dir::AddListMember(*e.pool, "team@example.test", "bob@example.test").ok());
  REQUIRE(dir::RemoveAccount(*e.pool, "bob@example.test").ok());
  CHECK(Resolve(e, "bob@example.test").kind == RecipientKind::kUnknownLocal);
  CHECK(Resolve(e, "b@example.test").kind == RecipientKind::kUnknownLocal);
  CHECK(dir::ShowList(*e.pool, "team@example.test")->members.empty());
  CHECK(dir::RemoveAccount(*e.pool, "bob@example.test").code() == absl::StatusCode::kNotFound);
}

TEST_CASE("Aliases: local and external targets, duplicates, one namespace",
          "[directory][integration]") {
  Env e = Setup();
  REQUIRE(dir::AddAlias(*e.pool, "Postmaster@example.test", "alice@example.test").ok());
  REQUIRE(dir::AddAlias(*e.pool, "fwd@example.test", "someone+tag@remote.example").ok());
  CHECK(dir::AddAlias(*e.pool, "x@nowhere.test", "alice@example.test").code() ==
        absl::StatusCode::kNotFound);
  CHECK(dir::AddAlias(*e.pool, "x@example.test", "ghost@example.test").code() ==
        absl::StatusCode::kNotFound);
  CHECK(dir::AddAlias(*e.pool, "x y@example.test", "alice@example.test").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(dir::AddAlias(*e.pool, "x@example.test", "not-an-address").code() ==
        absl::StatusCode::kInvalidArgument);
  // Duplicate address anywhere: account, alias, list, shared mailbox, resource.
  CHECK(dir::AddAlias(*e.pool, "bob@example.test", "alice@example.test").code() ==
        absl::StatusCode::kAlreadyExists);
  auto second = dir::AddAlias(*e.pool, "postmaster@example.test", "bob@example.test");
  CHECK(second.code() == absl::StatusCode::kAlreadyExists);
  CHECK(std::string(second.message()).find("use a list") != std::string::npos);
  CHECK(dir::CreateList(*e.pool, "postmaster@example.test", dir::PostingPolicy::kAnyone)
            .status()
            .code() == absl::StatusCode::kAlreadyExists);
  CHECK(dir::CreateSharedMailbox(*e.pool, "postmaster@example.test", "").status().code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(dir::CreateAccount(*e.pool, "postmaster@example.test", "", "!", 0).status().code() ==
        absl::StatusCode::kAlreadyExists);

  auto pm = Resolve(e, "postmaster+x@example.test");
  CHECK(pm.kind == RecipientKind::kAlias);
  CHECK(pm.canonical == "postmaster@example.test");
  CHECK(pm.detail == "x");
  CHECK(pm.account_ids == std::vector<int64_t>{e.alice});
  CHECK(pm.forward_to.empty());
  auto fwd = Resolve(e, "fwd@example.test");
  CHECK(fwd.kind == RecipientKind::kAlias);
  CHECK(fwd.account_ids.empty());
  CHECK(fwd.forward_to == std::vector<std::string>{"someone+tag@remote.example"});

  auto list = dir::ListAliases(*e.pool, "example.test");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].address == "fwd@example.test");
  CHECK((*list)[1].target == "alice@example.test");
  CHECK((*list)[1].local_target);
  CHECK(dir::ListAliases(*e.pool, "nowhere.test").status().code() == absl::StatusCode::kNotFound);

  CHECK(dir::RemoveAlias(*e.pool, "postmaster@example.test", "bob@example.test").code() ==
        absl::StatusCode::kNotFound);
  REQUIRE(dir::RemoveAlias(*e.pool, "postmaster@example.test", "alice@example.test").ok());
  CHECK(Resolve(e, "postmaster@example.test").kind == RecipientKind::kUnknownLocal);
  REQUIRE(dir::RemoveAlias(*e.pool, "fwd@example.test", "").ok());

  // An alias of a disabled account is disabled.
  REQUIRE(dir::AddAlias(*e.pool, "b@example.test", "bob@example.test").ok());
  REQUIRE(dir::SetAccountEnabled(*e.pool, "bob@example.test", false).ok());
  CHECK(Resolve(e, "b@example.test").kind == RecipientKind::kDisabled);
}

TEST_CASE("Catch-all: off by default, applied only when nothing else matches",
          "[directory][integration]") {
  Env e = Setup();
  CHECK(Resolve(e, "random@example.test").kind == RecipientKind::kUnknownLocal);
  CHECK(dir::AddAlias(*e.pool, "@example.test", "ghost@example.test").code() ==
        absl::StatusCode::kNotFound);
  CHECK(dir::AddAlias(*e.pool, "@nowhere.test", "alice@example.test").code() ==
        absl::StatusCode::kNotFound);
  REQUIRE(dir::AddAlias(*e.pool, "@example.test", "alice@example.test").ok());
  REQUIRE(dir::AddAlias(*e.pool, "info@example.test", "bob@example.test").ok());

  auto any = Resolve(e, "random+x@example.test");
  CHECK(any.kind == RecipientKind::kAlias);
  CHECK(any.catch_all);
  CHECK(any.canonical == "random@example.test");
  CHECK(any.account_ids == std::vector<int64_t>{e.alice});
  // Existing addresses win over the catch-all.
  CHECK(Resolve(e, "bob@example.test").kind == RecipientKind::kAccount);
  auto info = Resolve(e, "info@example.test");
  CHECK(info.account_ids == std::vector<int64_t>{e.bob});
  CHECK_FALSE(info.catch_all);
  // Other domains are unaffected.
  CHECK(Resolve(e, "random@other.test").kind == RecipientKind::kUnknownLocal);

  auto aliases = dir::ListAliases(*e.pool, "");
  REQUIRE(aliases.ok());
  CHECK(std::any_of(aliases->begin(), aliases->end(),
                    [](const dir::Alias& a) { return a.address == "@example.test"; }));

  // A catch-all into a disabled account takes nothing.
  REQUIRE(dir::SetAccountEnabled(*e.pool, "alice@example.test", false).ok());
  CHECK(Resolve(e, "random@example.test").kind == RecipientKind::kUnknownLocal);
  REQUIRE(dir::SetAccountEnabled(*e.pool, "alice@example.test", true).ok());

  // An external catch-all forwards.
  REQUIRE(dir::SetCatchAll(*e.pool, "other.test", "sink@remote.example").ok());
  auto ext = Resolve(e, "whoever@other.test");
  CHECK(ext.kind == RecipientKind::kAlias);
  CHECK(ext.forward_to == std::vector<std::string>{"sink@remote.example"});

  REQUIRE(dir::RemoveAlias(*e.pool, "@example.test", "").ok());
  CHECK(Resolve(e, "random@example.test").kind == RecipientKind::kUnknownLocal);
  CHECK(dir::RemoveAlias(*e.pool, "@example.test", "").code() == absl::StatusCode::kNotFound);
  // Removing the target turns the catch-all off instead of forwarding into a hole.
  REQUIRE(dir::SetCatchAll(*e.pool, "example.test", "bob@example.test").ok());
  REQUIRE(dir::RemoveAccount(*e.pool, "bob@example.test").ok());
  CHECK(Resolve(e, "random@example.test").kind == RecipientKind::kUnknownLocal);
}

TEST_CASE("Lists: members local and external, nesting, posting policies, expansion",
          "[directory][integration]") {
  Env e = Setup();
  REQUIRE(dir::CreateList(*e.pool, "team@example.test", dir::PostingPolicy::kMembers, "Team").ok());
  REQUIRE(dir::CreateList(*e.pool, "all@example.test", dir::PostingPolicy::kAnyone).ok());
  CHECK(dir::CreateList(*e.pool, "x@nowhere.test", dir::PostingPolicy::kAnyone).status().code() ==
        absl::StatusCode::kNotFound);
  REQUIRE(dir::AddListMember(*e.pool, "team@example.test", "alice@example.test").ok());
  REQUIRE(dir::AddListMember(*e.pool, "team@example.test", "Partner@Remote.example").ok());
  CHECK(dir::AddListMember(*e.pool, "team@example.test", "alice@example.test").code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(dir::AddListMember(*e.pool, "team@example.test", "ghost@example.test").code() ==
        absl::StatusCode::kNotFound);
  CHECK(dir::AddListMember(*e.pool, "nolist@example.test", "alice@example.test").code() ==
        absl::StatusCode::kNotFound);
  CHECK(dir::AddListMember(*e.pool, "team@example.test", "bad address").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(dir::AddListMember(*e.pool, "team@example.test", "team@example.test").code() ==
        absl::StatusCode::kInvalidArgument);
  // Nested: all -> team, bob; and a loop back (team -> all).
  REQUIRE(dir::AddListMember(*e.pool, "all@example.test", "team@example.test").ok());
  REQUIRE(dir::AddListMember(*e.pool, "all@example.test", "bob@example.test").ok());
  REQUIRE(dir::AddListMember(*e.pool, "team@example.test", "all@example.test").ok());

  auto r = Resolve(e, "all@example.test");
  CHECK(r.kind == RecipientKind::kList);  // expansion is delivery's
  CHECK(r.account_ids.empty());
  CHECK(Resolve(e, "team+x@example.test").kind == RecipientKind::kList);

  auto x = dir::ExpandList(*e.pool, "all@example.test");
  REQUIRE(x.ok());
  CHECK(x->account_ids == std::vector<int64_t>{e.alice, e.bob});
  CHECK(x->remote == std::vector<std::string>{"partner@remote.example"});

  auto show = dir::ShowList(*e.pool, "team@example.test");
  REQUIRE(show.ok());
  CHECK(show->display_name == "Team");
  CHECK(show->policy == dir::PostingPolicy::kMembers);
  CHECK(show->members.size() == 3);

  // Posting: members only.
  CHECK(dir::MayPost(*e.pool, "team@example.test", "alice+x@example.test")->allowed);
  CHECK(dir::MayPost(*e.pool, "team@example.test", "partner@remote.example")->allowed);
  CHECK_FALSE(dir::MayPost(*e.pool, "team@example.test", "carol@other.test")->allowed);
  CHECK_FALSE(dir::MayPost(*e.pool, "team@example.test", "")->allowed);
  CHECK(dir::MayPost(*e.pool, "all@example.test", "anyone@anywhere.example")->allowed);
  CHECK(dir::MayPost(*e.pool, "nolist@example.test", "a@b.example").status().code() ==
        absl::StatusCode::kNotFound);
  // Listed senders.
  REQUIRE(dir::SetListPolicy(*e.pool, "team@example.test", dir::PostingPolicy::kSenders).ok());
  CHECK_FALSE(dir::MayPost(*e.pool, "team@example.test", "alice@example.test")->allowed);
  REQUIRE(dir::AddListSender(*e.pool, "team@example.test", "carol@other.test").ok());
  CHECK(dir::AddListSender(*e.pool, "team@example.test", "carol@other.test").code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(dir::MayPost(*e.pool, "team@example.test", "Carol@other.test")->allowed);
  CHECK(dir::MayPost(*e.pool, "team@example.test", "carol@other.test")->policy ==
        dir::PostingPolicy::kSenders);
  REQUIRE(dir::RemoveListSender(*e.pool, "team@example.test", "carol@other.test").ok());
  CHECK_FALSE(dir::MayPost(*e.pool, "team@example.test", "carol@other.test")->allowed);
  CHECK(dir::ParsePostingPolicy("everyone").status().code() == absl::StatusCode::kInvalidArgument);

  REQUIRE(dir::RemoveListMember(*e.pool, "team@example.test", "partner@remote.example").ok());
  CHECK(dir::RemoveListMember(*e.pool, "team@example.test", "partner@remote.example").code() ==
        absl::StatusCode::kNotFound);
  auto lists = dir::ListLists(*e.pool, "example.test");
  REQUIRE(lists.ok());
  CHECK(lists->size() == 2);
  REQUIRE(dir::RemoveList(*e.pool, "team@example.test").ok());
  CHECK(Resolve(e, "team@example.test").kind == RecipientKind::kUnknownLocal);
  CHECK(dir::ShowList(*e.pool, "all@example.test")->members.size() ==
        1);  // the nested membership went too
}

TEST_CASE("Shared mailboxes: grants, refusals, rights, send-as vs send-on-behalf",
          "[directory][integration]") {
  Env e = Setup();
  auto sales = dir::CreateSharedMailbox(*e.pool, "sales@example.test", "Sales");
  REQUIRE(sales.ok());
  auto r = Resolve(e, "sales@example.test");
  CHECK(r.kind == RecipientKind::kSharedMailbox);
  CHECK(r.account_ids == std::vector<int64_t>{*sales});
  CHECK(dir::ShowAccount(*e.pool, "sales@example.test")->kind == dir::AccountKind::kShared);

  dir::Rights read{.read = true};
  auto ghost = dir::GrantShared(*e.pool, "sales@example.test", "ghost@example.test", read);
  CHECK(ghost.code() == absl::StatusCode::kNotFound);
  CHECK(ghost.message() == "no such user: ghost@example.test");
  CHECK(dir::GrantShared(*e.pool, "nothing@example.test", "alice@example.test", read).code() ==
        absl::StatusCode::kNotFound);
  CHECK(dir::GrantShared(*e.pool, "bob@example.test", "alice@example.test", read).code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(
      dir::GrantShared(*e.pool, "sales@example.test", "alice@example.test", dir::Rights{}).code() ==
      absl::StatusCode::kInvalidArgument);

  REQUIRE(dir::GrantShared(*e.pool, "sales@example.test", "alice@example.test", read).ok());
  REQUIRE(dir::GrantShared(*e.pool, "sales@example.test", "alice@example.test",
                           {.send_on_behalf = true})
              .ok());
  REQUIRE(
      dir::GrantShared(*e.pool, "sales@example.test", "bob@example.test", {.send_as = true}).ok());
  auto ar = dir::GetRights(*e.pool, e.alice, "sales@example.test");
  REQUIRE(ar.ok());
  CHECK(ar->read);
  CHECK_FALSE(ar->write);
  CHECK(ar->send_on_behalf);
  CHECK_FALSE(ar->send_as);
  CHECK_FALSE(dir::GetRights(*e.pool, e.carol, "sales@example.test")->any());

  // Alice: on behalf (Sender header); Bob: send-as (no header); Carol: nothing.
  auto a = dir::CheckSender(*e.pool, e.alice, "sales@example.test");
  REQUIRE(a.ok());
  CHECK(a->allowed);
  CHECK(a->add_sender_header);
  CHECK(a->sender_address == "alice@example.test");
  auto b = dir::CheckSender(*e.pool, e.bob, "Sales@example.test");
  CHECK(b->allowed);
  CHECK_FALSE(b->add_sender_header);
  CHECK_FALSE(dir::CheckSender(*e.pool, e.carol, "sales@example.test")->allowed);
  // Both granted: send-as wins.
  REQUIRE(dir::GrantShared(*e.pool, "sales@example.test", "alice@example.test", {.send_as = true})
              .ok());
  auto both = dir::CheckSender(*e.pool, e.alice, "sales@example.test");
  CHECK(both->allowed);
  CHECK_FALSE(both->add_sender_header);
  CHECK(both->sender_address.empty());
  // Revoking send-as falls back to on-behalf; revoking everything removes the grant.
  REQUIRE(dir::RevokeShared(*e.pool, "sales@example.test", "alice@example.test", {.send_as = true})
              .ok());
  CHECK(dir::CheckSender(*e.pool, e.alice, "sales@example.test")->add_sender_header);
  REQUIRE(dir::RevokeShared(*e.pool, "sales@example.test", "alice@example.test",
                            {.read = true, .send_on_behalf = true})
              .ok());
  CHECK(dir::ShowAccount(*e.pool, "sales@example.test")->granted_to_others.size() == 1);
  CHECK(dir::RevokeShared(*e.pool, "sales@example.test", "alice@example.test", read).code() ==
        absl::StatusCode::kNotFound);
  // Write implies read.
  REQUIRE(
      dir::GrantShared(*e.pool, "sales@example.test", "carol@other.test", {.write = true}).ok());
  CHECK(dir::GetRights(*e.pool, e.carol, "sales@example.test")->read);
}

TEST_CASE("Shared access: a grantee's list of shared mailboxes and the owner's id",
          "[directory][integration]") {
  Env e = Setup();
  auto team = dir::CreateSharedMailbox(*e.pool, "team@example.test", "Team").value();
  auto desk = dir::CreateSharedMailbox(*e.pool, "desk@example.test", "").value();
  REQUIRE(dir::GrantShared(*e.pool, "team@example.test", "alice@example.test", {.read = true}).ok());
  REQUIRE(dir::GrantShared(*e.pool, "desk@example.test", "alice@example.test", {.write = true}).ok());
  REQUIRE(dir::GrantShared(*e.pool, "team@example.test", "bob@example.test", {.send_as = true}).ok());

  auto alice = dir::ListSharedAccess(*e.pool, e.alice);
  REQUIRE(alice.ok());
  REQUIRE(alice->size() == 2);
  CHECK((*alice)[0].address == "desk@example.test");  // by address
  CHECK((*alice)[0].owner_account_id == desk);
  CHECK((*alice)[0].rights.read);  // write implies read
  CHECK((*alice)[0].rights.write);
  CHECK((*alice)[1].address == "team@example.test");
  CHECK((*alice)[1].owner_account_id == team);
  CHECK((*alice)[1].rights.read);
  CHECK_FALSE((*alice)[1].rights.write);
  auto bob = dir::ListSharedAccess(*e.pool, e.bob);
  REQUIRE(bob->size() == 1);
  CHECK_FALSE(bob->front().rights.read);
  CHECK(bob->front().rights.send_as);
  CHECK(dir::ListSharedAccess(*e.pool, e.carol)->empty());

  auto a = dir::GetSharedAccess(*e.pool, e.alice, "Team+tag@Example.test");
  REQUIRE(a.ok());
  CHECK(a->owner_account_id == team);
  CHECK(a->address == "team@example.test");
  CHECK(a->rights.read);
  // No grant and no such address look the same.
  auto none = dir::GetSharedAccess(*e.pool, e.carol, "team@example.test");
  REQUIRE(none.ok());
  CHECK(none->owner_account_id == 0);
  CHECK_FALSE(none->rights.any());
  auto ghost = dir::GetSharedAccess(*e.pool, e.alice, "ghost@example.test");
  REQUIRE(ghost.ok());
  CHECK(ghost->owner_account_id == 0);
  CHECK(dir::GetSharedAccess(*e.pool, e.alice, "no-at-sign").status().code() ==
        absl::StatusCode::kInvalidArgument);

  // Revoked: gone from the list at once. A disabled grantee holds nothing.
  REQUIRE(dir::RevokeShared(*e.pool, "team@example.test", "alice@example.test", {.read = true}).ok());
  CHECK(dir::ListSharedAccess(*e.pool, e.alice)->size() == 1);
  CHECK(dir::GetSharedAccess(*e.pool, e.alice, "team@example.test")->owner_account_id == 0);
  REQUIRE(dir::SetAccountEnabled(*e.pool, "alice@example.test", false).ok());
  CHECK(dir::ListSharedAccess(*e.pool, e.alice)->empty());
  CHECK_FALSE(dir::GetSharedAccess(*e.pool, e.alice, "desk@example.test")->rights.any());
}

TEST_CASE("CheckSender: own address, sub-address, aliases, others refused",
          "[directory][integration]") {
  Env e = Setup();
  REQUIRE(dir::AddAlias(*e.pool, "a@example.test", "alice@example.test").ok());
  CHECK(dir::CheckSender(*e.pool, e.alice, "Alice@Example.test")->allowed);
  CHECK(dir::CheckSender(*e.pool, e.alice, "alice+news@example.test")->allowed);
  CHECK(dir::CheckSender(*e.pool, e.alice, "a@example.test")->allowed);
  CHECK_FALSE(dir::CheckSender(*e.pool, e.bob, "a@example.test")->allowed);
  CHECK_FALSE(dir::CheckSender(*e.pool, e.alice, "bob@example.test")->allowed);
  CHECK_FALSE(dir::CheckSender(*e.pool, e.alice, "alice@remote.example")->allowed);
  CHECK(dir::CheckSender(*e.pool, e.alice, "junk").status().code() ==
        absl::StatusCode::kInvalidArgument);
  REQUIRE(dir::SetAccountEnabled(*e.pool, "alice@example.test", false).ok());
  CHECK_FALSE(dir::CheckSender(*e.pool, e.alice, "alice@example.test")->allowed);
}

TEST_CASE("Resources: policy stored and shown, refusals, resolution", "[directory][integration]") {
  Env e = Setup();
  REQUIRE(dir::CreateList(*e.pool, "drivers@example.test", dir::PostingPolicy::kAnyone).ok());
  REQUIRE(dir::AddListMember(*e.pool, "drivers@example.test", "bob@example.test").ok());
  dir::ResourcePolicy room;
  room.kind = dir::ResourceKind::kRoom;
  room.capacity = 12;
  room.max_duration_seconds = 4 * 3600;
  room.advance_seconds = 30 * 86400;
  room.hours = dir::ParseWorkingHours("08:00-18:00").value();
  room.timezone = "Africa/Nairobi";
  room.auto_accept = false;
  room.delegate = "alice@example.test";
  auto id = dir::CreateResource(*e.pool, "room1@example.test", "Room 1", room);
  REQUIRE(id.ok());
  auto shown = dir::ShowResource(*e.pool, "room1@example.test");
  REQUIRE(shown.ok());
  CHECK(shown->account.display_name == "Room 1");
  CHECK(shown->policy.capacity == 12);
  CHECK(shown->policy.max_duration_seconds == 4 * 3600);
  CHECK(shown->policy.advance_seconds == 30 * 86400);
  REQUIRE(shown->policy.hours.has_value());
  CHECK(shown->policy.hours->days == 0x1f);
  CHECK(shown->policy.hours->start_minute == 8 * 60);
  CHECK(shown->policy.hours->end_minute == 18 * 60);
  CHECK(shown->policy.timezone == "Africa/Nairobi");
  CHECK_FALSE(shown->policy.auto_accept);
  CHECK(shown->policy.delegate == "alice@example.test");
  CHECK(shown->policy.bookers_all);
  CHECK(Resolve(e, "room1@example.test").kind == RecipientKind::kResource);
  CHECK(Resolve(e, "room1@example.test").account_ids == std::vector<int64_t>{*id});

  dir::ResourcePolicy van;
  van.kind = dir::ResourceKind::kVehicle;
  van.bookers_all = false;
  van.bookers = {"drivers@example.test", "carol@other.test"};
  REQUIRE(dir::CreateResource(*e.pool, "van@example.test", "", van).ok());
  CHECK(dir::ShowResource(*e.pool, "van@example.test")->policy.bookers ==
        std::vector<std::string>{"carol@other.test", "drivers@example.test"});

  // Refusals.
  dir::ResourcePolicy bad = room;
  CHECK(dir::CreateResource(*e.pool, "room1@example.test", "", bad).status().code() ==
        absl::StatusCode::kAlreadyExists);
  bad.delegate = "";
  CHECK(dir::CreateResource(*e.pool, "r2@example.test", "", bad).status().code() ==
        absl::StatusCode::kInvalidArgument);
  bad.delegate = "ghost@example.test";
  CHECK(dir::CreateResource(*e.pool, "r2@example.test", "", bad).status().code() ==
        absl::StatusCode::kNotFound);
  bad = room;
  bad.timezone = "Mars/Olympus";
  CHECK(dir::CreateResource(*e.pool, "r2@example.test", "", bad).status().code() ==
        absl::StatusCode::kInvalidArgument);
  bad = van;
  bad.bookers = {"ghost@example.test"};
  CHECK(dir::CreateResource(*e.pool, "r2@example.test", "", bad).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(dir::CreateResource(*e.pool, "r2@nowhere.test", "", van).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(dir::ParseWorkingHours("18:00-08:00").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(dir::ParseWorkingHours("8-18").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(dir::ParseWorkingHours("08:00-12:00", "mon,wed-fri")->days == 0x1d);
  CHECK(dir::ParseResourceKind("boat").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(dir::ShowResource(*e.pool, "alice@example.test").status().code() ==
        absl::StatusCode::kFailedPrecondition);

  // The delegate of a moderated resource cannot be removed from under it.
  CHECK(dir::RemoveAccount(*e.pool, "alice@example.test").code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Free/busy visibility: same domain, grants, resources and their bookers",
          "[directory][integration]") {
  Env e = Setup();
  CHECK(*dir::FreeBusyVisible(*e.pool, e.alice, "bob@example.test"));
  CHECK(*dir::FreeBusyVisible(*e.pool, e.alice, "alice@example.test"));
  CHECK_FALSE(*dir::FreeBusyVisible(*e.pool, e.carol, "bob@example.test"));
  CHECK_FALSE(*dir::FreeBusyVisible(*e.pool, e.alice, "ghost@example.test"));
  REQUIRE(dir::AddAlias(*e.pool, "b@example.test", "bob@example.test").ok());
  CHECK(*dir::FreeBusyVisible(*e.pool, e.alice, "b@example.test"));

  dir::ResourcePolicy open;
  auto open_id = dir::CreateResource(*e.pool, "projector@example.test", "", open);
  REQUIRE(open_id.ok());
  CHECK(*dir::FreeBusyVisible(*e.pool, e.carol,
                              "projector@example.test"));  // unrestricted: everyone local

  REQUIRE(dir::CreateList(*e.pool, "drivers@example.test", dir::PostingPolicy::kAnyone).ok());
  REQUIRE(dir::CreateList(*e.pool, "night@example.test", dir::PostingPolicy::kAnyone).ok());
  REQUIRE(dir::AddListMember(*e.pool, "drivers@example.test", "night@example.test").ok());
  REQUIRE(dir::AddListMember(*e.pool, "night@example.test", "bob@example.test").ok());
  dir::ResourcePolicy van;
  van.kind = dir::ResourceKind::kVehicle;
  van.bookers_all = false;
  van.bookers = {"drivers@example.test"};
  REQUIRE(dir::CreateResource(*e.pool, "van@example.test", "", van).ok());
  CHECK(*dir::FreeBusyVisible(*e.pool, e.bob, "van@example.test"));  // through a nested list
  CHECK_FALSE(*dir::FreeBusyVisible(*e.pool, e.alice, "van@example.test"));
  van.bookers = {"alice@example.test"};
  REQUIRE(dir::CreateResource(*e.pool, "car@example.test", "", van).ok());
  CHECK(*dir::FreeBusyVisible(*e.pool, e.alice, "car@example.test"));
  CHECK_FALSE(*dir::FreeBusyVisible(*e.pool, e.bob, "car@example.test"));

  // A read grant opens another domain's calendar.
  REQUIRE(dir::CreateSharedMailbox(*e.pool, "desk@example.test", "").ok());
  CHECK_FALSE(*dir::FreeBusyVisible(*e.pool, e.carol, "desk@example.test"));
  REQUIRE(dir::GrantShared(*e.pool, "desk@example.test", "carol@other.test", {.read = true}).ok());
  CHECK(*dir::FreeBusyVisible(*e.pool, e.carol, "desk@example.test"));
}

TEST_CASE("Directory gRPC service answers the daemons' questions",
          "[directory][grpc][integration]") {
  Env e = Setup();
  kite::auth::DirectoryService svc(*e.pool);
  REQUIRE(dir::AddAlias(*e.pool, "a@example.test", "alice@example.test").ok());
  REQUIRE(dir::AddAlias(*e.pool, "ext@example.test", "far@remote.example").ok());
  REQUIRE(dir::CreateList(*e.pool, "team@example.test", dir::PostingPolicy::kMembers).ok());
  REQUIRE(dir::AddListMember(*e.pool, "team@example.test", "alice@example.test").ok());
  auto shared = dir::CreateSharedMailbox(*e.pool, "sales@example.test", "").value();
  dir::ResourcePolicy room;
  auto res = dir::CreateResource(*e.pool, "room@example.test", "", room).value();
  REQUIRE(dir::SetAccountEnabled(*e.pool, "bob@example.test", false).ok());

  auto acct = Rpc(svc, "Alice+Tag@example.test");
  CHECK(acct.kind() == dv1::RECIPIENT_KIND_ACCOUNT);
  CHECK(acct.canonical() == "alice@example.test");
  CHECK(acct.detail() == "tag");
  REQUIRE(acct.account_ids_size() == 1);
  CHECK(acct.account_ids(0) == e.alice);
  auto alias = Rpc(svc, "a@example.test");
  CHECK(alias.kind() == dv1::RECIPIENT_KIND_ALIAS);
  CHECK(alias.account_ids(0) == e.alice);
  auto ext = Rpc(svc, "ext@example.test");
  CHECK(ext.kind() == dv1::RECIPIENT_KIND_ALIAS);
  CHECK(ext.account_ids_size() == 0);
  REQUIRE(ext.forward_to_size() == 1);
  CHECK(ext.forward_to(0) == "far@remote.example");
  CHECK(Rpc(svc, "team@example.test").kind() == dv1::RECIPIENT_KIND_LIST);
  auto sh = Rpc(svc, "sales@example.test");
  CHECK(sh.kind() == dv1::RECIPIENT_KIND_SHARED_MAILBOX);
  CHECK(sh.account_ids(0) == shared);
  auto rr = Rpc(svc, "room@example.test");
  CHECK(rr.kind() == dv1::RECIPIENT_KIND_RESOURCE);
  CHECK(rr.account_ids(0) == res);
  CHECK(Rpc(svc, "nobody@example.test").kind() == dv1::RECIPIENT_KIND_UNKNOWN_LOCAL);
  CHECK(Rpc(svc, "someone@remote.example").kind() == dv1::RECIPIENT_KIND_REMOTE);
  CHECK(Rpc(svc, "bob@example.test").kind() == dv1::RECIPIENT_KIND_DISABLED);
  REQUIRE(dir::SetCatchAll(*e.pool, "example.test", "alice@example.test").ok());
  auto ca = Rpc(svc, "whatever@example.test");
  CHECK(ca.kind() == dv1::RECIPIENT_KIND_ALIAS);
  CHECK(ca.catch_all());
  CHECK(ca.account_ids(0) == e.alice);
  {
    dv1::ResolveRecipientRequest req;
    req.set_address("no-at-sign");
    dv1::ResolveRecipientResponse resp;
    CHECK(svc.ResolveRecipient(nullptr, &req, &resp).error_code() ==
          grpc::StatusCode::INVALID_ARGUMENT);
  }

  // CheckSender.
  CHECK(Sender(svc, e.alice, "alice@example.test").allowed());
  CHECK(Sender(svc, e.alice, "a@example.test").allowed());
  CHECK_FALSE(Sender(svc, e.carol, "alice@example.test").allowed());
  CHECK_FALSE(Sender(svc, e.alice, "garbage").allowed());
  CHECK_FALSE(Sender(svc, 999999, "alice@example.test").allowed());
  REQUIRE(dir::GrantShared(*e.pool, "sales@example.test", "alice@example.test",
                           {.send_on_behalf = true})
              .ok());
  auto obo = Sender(svc, e.alice, "sales@example.test");
  CHECK(obo.allowed());
  CHECK(obo.add_sender_header());
  CHECK(obo.sender_address() == "alice@example.test");
  REQUIRE(dir::GrantShared(*e.pool, "sales@example.test", "alice@example.test",
                           {.read = true, .send_as = true})
              .ok());
  auto as = Sender(svc, e.alice, "sales@example.test");
  CHECK(as.allowed());
  CHECK_FALSE(as.add_sender_header());

  // SharedRights.
  {
    dv1::SharedRightsRequest req;
    req.set_account_id(e.alice);
    req.set_shared_address("sales@example.test");
    dv1::SharedRightsResponse resp;
    REQUIRE(svc.SharedRights(nullptr, &req, &resp).ok());
    std::vector<int> rights(resp.rights().begin(), resp.rights().end());
    CHECK(rights == std::vector<int>{dv1::MAILBOX_RIGHT_READ, dv1::MAILBOX_RIGHT_SEND_AS,
                                     dv1::MAILBOX_RIGHT_SEND_ON_BEHALF});
    CHECK(resp.owner_account_id() == shared);
    CHECK(resp.owner_address() == "sales@example.test");
    req.set_account_id(e.carol);
    dv1::SharedRightsResponse none;
    REQUIRE(svc.SharedRights(nullptr, &req, &none).ok());
    CHECK(none.rights_size() == 0);
    CHECK(none.owner_account_id() == 0);
    req.set_shared_address("not an address");
    REQUIRE(svc.SharedRights(nullptr, &req, &none).ok());
    CHECK(none.rights_size() == 0);
  }

  // ListSharedMailboxes.
  {
    dv1::ListSharedMailboxesRequest req;
    req.set_account_id(e.alice);
    dv1::ListSharedMailboxesResponse resp;
    REQUIRE(svc.ListSharedMailboxes(nullptr, &req, &resp).ok());
    REQUIRE(resp.mailboxes_size() == 1);
    CHECK(resp.mailboxes(0).address() == "sales@example.test");
    CHECK(resp.mailboxes(0).owner_account_id() == shared);
    std::vector<int> rights(resp.mailboxes(0).rights().begin(), resp.mailboxes(0).rights().end());
    CHECK(rights == std::vector<int>{dv1::MAILBOX_RIGHT_READ, dv1::MAILBOX_RIGHT_SEND_AS,
                                     dv1::MAILBOX_RIGHT_SEND_ON_BEHALF});
    req.set_account_id(e.carol);
    dv1::ListSharedMailboxesResponse none;
    REQUIRE(svc.ListSharedMailboxes(nullptr, &req, &none).ok());
    CHECK(none.mailboxes_size() == 0);
  }

  // FreeBusyVisibility.
  {
    dv1::FreeBusyVisibilityRequest req;
    req.set_viewer_account_id(e.alice);
    req.set_target_address("room@example.test");
    dv1::FreeBusyVisibilityResponse resp;
    REQUIRE(svc.FreeBusyVisibility(nullptr, &req, &resp).ok());
    CHECK(resp.allowed());
    req.set_viewer_account_id(e.carol);
    req.set_target_address("alice@example.test");
    REQUIRE(svc.FreeBusyVisibility(nullptr, &req, &resp).ok());
    CHECK_FALSE(resp.allowed());
  }

  // CheckListPosting.
  {
    dv1::ListPostingRequest req;
    req.set_list_address("team@example.test");
    req.set_sender_address("alice@example.test");
    dv1::ListPostingResponse resp;
    REQUIRE(svc.CheckListPosting(nullptr, &req, &resp).ok());
    CHECK(resp.allowed());
    CHECK(resp.policy() == "members");
    req.set_sender_address("carol@other.test");
    REQUIRE(svc.CheckListPosting(nullptr, &req, &resp).ok());
    CHECK_FALSE(resp.allowed());
    req.set_list_address("alice@example.test");
    CHECK(svc.CheckListPosting(nullptr, &req, &resp).error_code() == grpc::StatusCode::NOT_FOUND);
  }

  // ListDomains.
  dv1::ListDomainsRequest req;
  dv1::ListDomainsResponse resp;
  REQUIRE(svc.ListDomains(nullptr, &req, &resp).ok());
  CHECK(resp.domains_size() == 2);
}

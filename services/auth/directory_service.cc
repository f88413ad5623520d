#include "auth/directory_service.h"

#include "lib/directory/directory.h"
#include "lib/log/log.h"
#include "lib/rpc/rpc.h"

namespace kite::auth {

namespace dv1 = kite::directory::v1;

namespace {

// A store failure is logged here (the caller only sees the code); bad input is not.
grpc::Status Failure(const absl::Status& s) {
  if (s.code() != absl::StatusCode::kInvalidArgument && s.code() != absl::StatusCode::kNotFound) {
    log::Error("directory.store_error").Kv("error", s.message());
  }
  return rpc::ToGrpc(s);
}

dv1::RecipientKind WireKind(directory::RecipientKind kind) {
  switch (kind) {
    case directory::RecipientKind::kAccount:
      return dv1::RECIPIENT_KIND_ACCOUNT;
    case directory::RecipientKind::kAlias:
      return dv1::RECIPIENT_KIND_ALIAS;
    case directory::RecipientKind::kList:
      return dv1::RECIPIENT_KIND_LIST;
    case directory::RecipientKind::kSharedMailbox:
      return dv1::RECIPIENT_KIND_SHARED_MAILBOX;
    case directory::RecipientKind::kResource:
      return dv1::RECIPIENT_KIND_RESOURCE;
    case directory::RecipientKind::kUnknownLocal:
      return dv1::RECIPIENT_KIND_UNKNOWN_LOCAL;
    case directory::RecipientKind::kRemote:
      return dv1::RECIPIENT_KIND_REMOTE;
    case directory::RecipientKind::kDisabled:
      return dv1::RECIPIENT_KIND_DISABLED;
  }
  return dv1::RECIPIENT_KIND_UNSPECIFIED;
}

void AddRights(const directory::Rights& r, google::protobuf::RepeatedField<int>* out) {
  if (r.read) out->Add(dv1::MAILBOX_RIGHT_READ);
  if (r.write) out->Add(dv1::MAILBOX_RIGHT_WRITE);
  if (r.send_as) out->Add(dv1::MAILBOX_RIGHT_SEND_AS);
  if (r.send_on_behalf) out->Add(dv1::MAILBOX_RIGHT_SEND_ON_BEHALF);
}

}  // namespace

grpc::Status DirectoryService::ResolveRecipient(grpc::ServerContext*,
                                                const dv1::ResolveRecipientRequest* req,
                                                dv1::ResolveRecipientResponse* resp) {
  auto r = directory::Resolve(pool_, req->address());
  if (!r.ok()) return Failure(r.status());
  resp->set_kind(WireKind(r->kind));
  resp->set_canonical(r->canonical);
  resp->set_detail(r->detail);
  resp->set_catch_all(r->catch_all);
  for (int64_t id : r->account_ids) resp->add_account_ids(id);
  for (const auto& f : r->forward_to) resp->add_forward_to(f);
  return grpc::Status::OK;
}

grpc::Status DirectoryService::CheckSender(grpc::ServerContext*, const dv1::SenderCheckRequest* req,
                                           dv1::SenderCheckResponse* resp) {
  auto d = directory::CheckSender(pool_, req->account_id(), req->from_address());
  if (!d.ok()) {
    resp->set_allowed(false);
    // A From that is not an address, or an unknown account, is a "no", not an error.
    if (d.status().code() == absl::StatusCode::kInvalidArgument ||
        d.status().code() == absl::StatusCode::kNotFound) {
      return grpc::Status::OK;
    }
    return Failure(d.status());
  }
  resp->set_allowed(d->allowed);
  resp->set_add_sender_header(d->add_sender_header);
  resp->set_sender_address(d->sender_address);
  return grpc::Status::OK;
}

grpc::Status DirectoryService::SharedRights(grpc::ServerContext*,
                                            const dv1::SharedRightsRequest* req,
                                            dv1::SharedRightsResponse* resp) {
  auto r = directory::GetSharedAccess(pool_, req->account_id(), req->shared_address());
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kInvalidArgument)
      return grpc::Status::OK;  // no rights
    return Failure(r.status());
  }
  AddRights(r->rights, resp->mutable_rights());
  if (r->rights.any()) {
    resp->set_owner_account_id(r->owner_account_id);
    resp->set_owner_address(r->address);
  }
  return grpc::Status::OK;
}

grpc::Status DirectoryService::ListSharedMailboxes(grpc::ServerContext*,
                                                   const dv1::ListSharedMailboxesRequest* req,
                                                   dv1::ListSharedMailboxesResponse* resp) {
  auto list = directory::ListSharedAccess(pool_, req->account_id());
  if (!list.ok()) return Failure(list.status());
  for (const auto& a : *list) {
    if (!a.rights.any()) continue;
    auto* m = resp->add_mailboxes();
    m->set_address(a.address);
    m->set_owner_account_id(a.owner_account_id);
    AddRights(a.rights, m->mutable_rights());
  }
  return grpc::Status::OK;
}

grpc::Status DirectoryService::FreeBusyVisibility(grpc::ServerContext*,
                                                  const dv1::FreeBusyVisibilityRequest* req,
                                                  dv1::FreeBusyVisibilityResponse* resp) {
  auto v = directory::FreeBusyVisible(pool_, req->viewer_account_id(), req->target_address());
  if (!v.ok()) {
    resp->set_allowed(false);
    if (v.status().code() == absl::StatusCode::kInvalidArgument) return grpc::Status::OK;
    return Failure(v.status());
  }
  resp->set_allowed(*v);
  return grpc::Status::OK;
}

grpc::Status DirectoryService::ListDomains(grpc::ServerContext*, const dv1::ListDomainsRequest*,
                                           dv1::ListDomainsResponse* resp) {
  auto domains = directory::ListDomains(pool_);
  if (!domains.ok()) return Failure(domains.status());
  for (const auto& d : *domains) resp->add_domains()->set_name(d.name);
  return grpc::Status::OK;
}

grpc::Status DirectoryService::CheckListPosting(grpc::ServerContext*,
                                                const dv1::ListPostingRequest* req,
                                                dv1::ListPostingResponse* resp) {
  auto d = directory::MayPost(pool_, req->list_address(), req->sender_address());
  if (!d.ok()) return Failure(d.status());  // NOT_FOUND: not a list
  resp->set_allowed(d->allowed);
  resp->set_policy(directory::PostingPolicyName(d->policy));
  return grpc::Status::OK;
}

}  // namespace kite::auth

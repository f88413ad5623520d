#include "auth/directory_service.h"

#include "lib/directory/directory.h"
#include "lib/log/log.h"
#include "lib/rpc/rpc.h"

namespace kite::auth {

namespace dv1 = kite::directory::v1;

grpc::Status DirectoryService::ResolveRecipient(grpc::ServerContext*, const dv1::ResolveRecipientRequest* req,
                                                dv1::ResolveRecipientResponse* resp) {
  auto r = directory::Resolve(pool_, req->address());
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kInvalidArgument) return rpc::ToGrpc(r.status());
    log::Error("directory.store_error").Kv("error", r.status().message());
    return rpc::ToGrpc(r.status());
  }
  resp->set_canonical(r->canonical);
  resp->set_detail(r->detail);
  switch (r->kind) {
    case directory::RecipientKind::kAccount:
      resp->set_kind(dv1::RECIPIENT_KIND_ACCOUNT);
      resp->add_account_ids(r->account_id);
      break;
    case directory::RecipientKind::kDisabled:
      resp->set_kind(dv1::RECIPIENT_KIND_DISABLED);
      break;
    case directory::RecipientKind::kUnknownLocal:
      resp->set_kind(dv1::RECIPIENT_KIND_UNKNOWN_LOCAL);
      break;
    case directory::RecipientKind::kRemote:
      resp->set_kind(dv1::RECIPIENT_KIND_REMOTE);
      break;
  }
  return grpc::Status::OK;
}

grpc::Status DirectoryService::CheckSender(grpc::ServerContext*, const dv1::SenderCheckRequest* req,
                                           dv1::SenderCheckResponse* resp) {
  // Until aliases and grants exist: a user may send as their own address (and its
  // sub-addresses) only.
  auto r = directory::Resolve(pool_, req->from_address());
  if (!r.ok()) {
    resp->set_allowed(false);
    return r.status().code() == absl::StatusCode::kInvalidArgument ? grpc::Status::OK : rpc::ToGrpc(r.status());
  }
  resp->set_allowed(r->kind == directory::RecipientKind::kAccount && r->account_id == req->account_id());
  return grpc::Status::OK;
}

grpc::Status DirectoryService::SharedRights(grpc::ServerContext*, const dv1::SharedRightsRequest*,
                                            dv1::SharedRightsResponse*) {
  return grpc::Status::OK;  // no shared mailboxes exist yet: no grants, no rights
}

grpc::Status DirectoryService::ListDomains(grpc::ServerContext*, const dv1::ListDomainsRequest*,
                                           dv1::ListDomainsResponse* resp) {
  auto domains = directory::ListDomains(pool_);
  if (!domains.ok()) return rpc::ToGrpc(domains.status());
  for (const auto& d : *domains) resp->add_domains()->set_name(d.name);
  return grpc::Status::OK;
}

}  // namespace kite::auth

// kite-auth's kite.directory.v1.Directory service: recipient resolution, sender rights,
// shared mailbox rights and the shared mailboxes a user may open, free/busy visibility, list
// posting policy. Thin: the answers come
// from lib/directory; this maps them to the wire. A malformed address from a client is an
// answer (not allowed / INVALID_ARGUMENT), never a crash; store failures are UNAVAILABLE etc.
// Untrusted input: addresses from SMTP/IMAP clients, passed through by the protocol daemons
// (syntax-checked there; here they only travel as query parameters).
#pragma once

#include "kite/directory/v1/directory.grpc.pb.h"
#include "lib/store/pool.h"

namespace kite::auth {

class DirectoryService final : public kite::directory::v1::Directory::Service {
 public:
  explicit DirectoryService(store::Pool& pool) : pool_(pool) {}
  grpc::Status ResolveRecipient(grpc::ServerContext*,
                                const kite::directory::v1::ResolveRecipientRequest*,
                                kite::directory::v1::ResolveRecipientResponse*) override;
  grpc::Status CheckSender(grpc::ServerContext*, const kite::directory::v1::SenderCheckRequest*,
                           kite::directory::v1::SenderCheckResponse*) override;
  grpc::Status SharedRights(grpc::ServerContext*, const kite::directory::v1::SharedRightsRequest*,
                            kite::directory::v1::SharedRightsResponse*) override;
  grpc::Status ListSharedMailboxes(grpc::ServerContext*,
                                   const kite::directory::v1::ListSharedMailboxesRequest*,
                                   kite::directory::v1::ListSharedMailboxesResponse*) override;
  grpc::Status FreeBusyVisibility(grpc::ServerContext*,
                                  const kite::directory::v1::FreeBusyVisibilityRequest*,
                                  kite::directory::v1::FreeBusyVisibilityResponse*) override;
  grpc::Status ListDomains(grpc::ServerContext*, const kite::directory::v1::ListDomainsRequest*,
                           kite::directory::v1::ListDomainsResponse*) override;
  grpc::Status CheckListPosting(grpc::ServerContext*,
                                const kite::directory::v1::ListPostingRequest*,
                                kite::directory::v1::ListPostingResponse*) override;

 private:
  store::Pool& pool_;
};

}  // namespace kite::auth

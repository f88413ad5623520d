// kite-auth's kite.directory.v1.Directory service: recipient resolution, sender rights,
// shared mailbox rights, free/busy visibility.
// Untrusted input: addresses from SMTP/IMAP clients, passed through by the protocol daemons
// (syntax-checked there; here they only travel as query parameters).
#pragma once

#include "kite/directory/v1/directory.grpc.pb.h"
#include "lib/store/pool.h"

namespace kite::auth {

class DirectoryService final : public kite::directory::v1::Directory::Service {
 public:
  explicit DirectoryService(store::Pool& pool) : pool_(pool) {}
  grpc::Status ResolveRecipient(grpc::ServerContext*, const kite::directory::v1::ResolveRecipientRequest*,
                                kite::directory::v1::ResolveRecipientResponse*) override;
  grpc::Status CheckSender(grpc::ServerContext*, const kite::directory::v1::SenderCheckRequest*,
                           kite::directory::v1::SenderCheckResponse*) override;
  grpc::Status SharedRights(grpc::ServerContext*, const kite::directory::v1::SharedRightsRequest*,
                            kite::directory::v1::SharedRightsResponse*) override;
  grpc::Status ListDomains(grpc::ServerContext*, const kite::directory::v1::ListDomainsRequest*,
                           kite::directory::v1::ListDomainsResponse*) override;

 private:
  store::Pool& pool_;
};

}  // namespace kite::auth

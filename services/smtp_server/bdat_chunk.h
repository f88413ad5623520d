// Reading one RFC 3030 BDAT chunk off the connection for the SMTP session.
//
// The chunk's octets follow the BDAT command whatever the server thinks of it, so they are
// always read, in pieces of at most kBdatPiece octets each with its own deadline, and either
// fed to the transaction's smtp::BdatReader or dropped (a refused chunk, a message already
// over the size limit). Memory never grows by a size the client announced.
#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>

#include "absl/status/status.h"
#include "lib/net/connection.h"
#include "lib/smtp/bdat_reader.h"

namespace kite::smtp_server {

inline constexpr size_t kBdatPiece = 256 << 10;

// Reads exactly `size` octets; into `reader` when not null, else dropped. The status is the
// connection's (kDeadlineExceeded, kUnavailable, ...): the session must then close.
boost::asio::awaitable<absl::Status> ReadBdatChunk(net::Connection& conn, uint64_t size, smtp::BdatReader* reader,
                                                   std::chrono::milliseconds piece_timeout);

}  // namespace kite::smtp_server

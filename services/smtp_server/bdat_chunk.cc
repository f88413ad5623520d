#include "smtp_server/bdat_chunk.h"

#include <algorithm>

namespace kite::smtp_server {

boost::asio::awaitable<absl::Status> ReadBdatChunk(net::Connection& conn, uint64_t size,
                                                   smtp::BdatReader* reader,
                                                   std::chrono::milliseconds piece_timeout) {
  uint64_t left = size;
  while (left > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, kBdatPiece));
    auto piece = co_await conn.ReadExact(n, piece_timeout);
    if (!piece.ok()) co_return piece.status();
    if (reader != nullptr) {
      reader->Feed(*piece);
      // Over the limit: the reader keeps only counting; stop handing it data.
      if (reader->too_big()) reader = nullptr;
    }
    left -= n;
  }
  co_return absl::OkStatus();
}

}  // namespace kite::smtp_server

// SEARCH, SORT and THREAD (RFC 3501 6.4.4, RFC 4731, RFC 5182, RFC 5256, RFC 7162 3.1.5).
#include "imap/session.h"

namespace kite::imap {

boost::asio::awaitable<void> Session::CmdSearch(const Command& cmd) {
  result_ = "NO [CANNOT] " + cmd.name + " is not available yet";
  co_return;
}

}  // namespace kite::imap

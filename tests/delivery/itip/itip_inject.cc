// itip_inject — test-only stand-in for kite-delivery's iMIP step, for tests/e2e/imip_test.py
// while the delivery engine does not call it yet. Does exactly what the engine does for one
// (spool id, recipient): parse the message, FindItip, RecordItipTx in a transaction, then one
// ItipForwarder pass to kite-caldav. Prints "parts=N recorded=M forwarded=K".
//
//   itip_inject POSTGRES_URL CALDAV_ADDRESS SPOOL_ID ACCOUNT_ID RECIPIENT SENDER < message
#include <iostream>
#include <iterator>
#include <string>

#include "delivery/itip.h"
#include "delivery/itip_outbox.h"
#include "lib/mime/message.h"
#include "lib/rpc/rpc.h"
#include "lib/store/pool.h"

int main(int argc, char** argv) {
  if (argc != 7) {
    std::cerr << "usage: itip_inject POSTGRES_URL CALDAV_ADDRESS SPOOL_ID ACCOUNT_ID RECIPIENT SENDER < message\n";
    return 2;
  }
  std::string raw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  int64_t spool_id = std::stoll(argv[3]);
  int64_t account_id = std::stoll(argv[4]);
  auto pool = kite::store::Pool::Create({.url = argv[1], .pool_size = 2});
  if (!pool.ok()) {
    std::cerr << pool.status() << "\n";
    return 1;
  }
  kite::mime::Message msg = kite::mime::Parse(raw);
  std::vector<kite::delivery::ItipPart> parts = kite::delivery::FindItip(raw, msg);
  auto recorded = (*pool)->Transact([&](pqxx::work& tx) {
    return kite::delivery::RecordItipTx(tx, account_id, spool_id, argv[5], argv[6], parts);
  });
  if (!recorded.ok()) {
    std::cerr << recorded.status() << "\n";
    return 1;
  }
  prometheus::Registry registry;
  kite::delivery::ItipForwarder forwarder(**pool, kite::rpc::MakeChannel(argv[2], {}), {}, registry);
  auto forwarded = forwarder.RunOnce();
  if (!forwarded.ok()) {
    std::cerr << forwarded.status() << "\n";
    return 1;
  }
  std::cout << "parts=" << parts.size() << " recorded=" << *recorded << " forwarded=" << *forwarded << "\n";
  return 0;
}

// kite-caldav's kite.scheduling.v1.Scheduling service: iTIP objects (RFC 5546) that arrived
// by mail (iMIP, RFC 6047) and were handed over by kite-delivery.
//
// What DeliverItip does, in one PostgreSQL transaction per call:
//  - Exactly once: (account, spool id, recipient, part) is recorded in itip_received
//    (migration 0011); a repeated call answers DUPLICATE and changes nothing.
//  - The object is parsed with libical; not iCalendar, no component with a UID, a METHOD
//    that is not the request's, more than 1 MiB, not UTF-8: INVALID.
//  - Every method is stored in the recipient's scheduling inbox (RFC 6638 2.2: a calendar of
//    kind 'inbox', created with uri 'inbox' when missing) as its own object, uri
//    imip-<spool id>-<part>-<hash of recipient>.ics; a newer message for the same UID
//    replaces the older one there (the inbox holds one object per UID); an older SEQUENCE
//    than the one stored is IGNORED (stale).
//  - REPLY also sets the replying ATTENDEE's PARTSTAT in the organiser's copy (an object with
//    that UID in the recipient's regular calendars), for the master or the instance the
//    reply names — only when the envelope sender is that attendee's mailto address
//    (otherwise IGNORED and nothing stored).
//  - CANCEL also marks the recipient's own copy STATUS:CANCELLED (the whole event, or one
//    instance: its override is cancelled, or an EXDATE added) — only when the envelope
//    sender is the copy's ORGANIZER (otherwise IGNORED and nothing stored).
//  - REQUEST, ADD, REFRESH, COUNTER, DECLINECOUNTER: inbox only; the client processes them.
//  - Every object change bumps its calendar's sync_token and appends a calendar_changes row
//    in the same transaction (RFC 6578 sync-collection).
//  - After an APPLIED commit, set_on_change's callback runs with the recipient's account (the
//    free/busy cache of that account is dropped).
//  - A store failure is an RPC error (UNAVAILABLE, ...), so kite-delivery retries.
//
// SECURITY: the caller (kite-delivery) is trusted for the account id and the envelope
// sender; the iCalendar bytes are untrusted mail content: bounded, parsed by libical, never
// logged. Anyone can forge an envelope sender: the sender rule only stops the trivial
// spoofing of another attendee's reply or of the organiser's cancellation.
#ifndef KITE_SERVICES_CALDAV_SCHEDULING_SERVICE_H_
#define KITE_SERVICES_CALDAV_SCHEDULING_SERVICE_H_

#include <cstdint>
#include <functional>

#include "kite/scheduling/v1/scheduling.grpc.pb.h"
#include "lib/store/pool.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace kite::caldav {

class SchedulingService final : public kite::scheduling::v1::Scheduling::Service {
 public:
  SchedulingService(store::Pool& pool, prometheus::Registry& registry);
  grpc::Status DeliverItip(grpc::ServerContext* context, const kite::scheduling::v1::DeliverItipRequest* request,
                           kite::scheduling::v1::DeliverItipResponse* response) override;

  // Called after the commit of every APPLIED object with the recipient's account (its
  // calendars changed: kite-caldav drops kite-freebusy's cached answers for it). Set before
  // the service is registered.
  void set_on_change(std::function<void(int64_t account)> f) { on_change_ = std::move(f); }

 private:
  std::function<void(int64_t)> on_change_;
  store::Pool& pool_;
  prometheus::Family<prometheus::Counter>& family_;
};

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_SCHEDULING_SERVICE_H_

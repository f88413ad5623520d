// Implicit scheduling (RFC 6638 3.2) for kite-caldav: the SchedulingHook the CalDAV handlers
// call inside the transaction that writes a calendar object.
//
// As ORGANIZER (the calendar's owner is the object's ORGANIZER, SCHEDULE-AGENT SERVER):
//  - REQUEST (RFC 5546 3.2.2, the whole object) to added attendees, and to the remaining
//    ones when the change is significant to them (itip_build.h SignificantFingerprint);
//    CANCEL to removed attendees, and to everyone on DELETE or STATUS:CANCELLED.
//  - A local person gets the message in their scheduling inbox and their own copy in their
//    default calendar (created with PARTSTAT NEEDS-ACTION; on updates their PARTSTAT is kept
//    unless the change is significant, then the organiser's view is taken). A CANCEL marks
//    their copy STATUS:CANCELLED.
//  - A local resource decides at once (resource_policy.h): auto -> ACCEPTED and booked in its
//    calendar, or DECLINED with the reason (X-KITE-BOOKING parameter on its ATTENDEE and a
//    REPLY with a COMMENT in the organiser's inbox) and nothing booked; moderated -> booked
//    STATUS:TENTATIVE, PARTSTAT NEEDS-ACTION for the organiser, the delegate notified (the
//    REQUEST in their inbox and a mail). Its calendar row is locked while deciding (first
//    come, first served). The decision is written into the organiser's object.
//  - Anyone else gets an iMIP mail (RFC 6047) spooled with lib/queue in the same transaction
//    (source "internal", from the organiser); the relay's reconciler sends it.
//  - SCHEDULE-STATUS on every ATTENDEE written to: 1.2 delivered, 1.1 sent by mail, 3.7
//    invalid calendar user, 3.8 no authority (resource), 5.3 too many attendees.
// As ATTENDEE (the owner is an ATTENDEE, not the organiser): a REPLY (RFC 5546 3.2.3) when
// the owner's PARTSTAT changed, and REPLY DECLINED when the owner deletes the event. A local
// organiser's copy gets the PARTSTAT (itip.h ApplyReply) and the REPLY lands in their inbox;
// a remote organiser gets an iMIP REPLY. A resource's delegate writing the resource's
// calendar (ctx.actor != ctx.owner) answers for the resource the same way.
// Outbox POST of a VFREEBUSY REQUEST (RFC 6638 5): a CALDAV:schedule-response with each
// local attendee's busy periods (only periods and FBTYPE, never anything of the events),
// for attendees the owner may see (lib/directory FreeBusyVisible rules).
//
// Errors: what libpqxx throws propagates (the caller runs inside Pool::Transact, which maps
// it and retries serialisation failures); anything else is an absl::Status.
// SECURITY: the calendar object is the client's (untrusted, already bounded and parsed by
// calendar::Ingest); the addresses in it decide whom we write to, so an attendee PUT may
// only change the owner's own PARTSTAT in the organiser's copy (ApplyReply with the owner's
// address), and mail headers are built by imip.h (no header injection).
#ifndef KITE_SERVICES_CALDAV_SCHEDULER_H_
#define KITE_SERVICES_CALDAV_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "caldav/scheduling_hook.h"
#include "lib/queue/queue.h"
#include "lib/store/pool.h"

namespace kite::caldav {

struct SchedulerOptions {
  std::function<int64_t()> now;              // UTC seconds; empty: the system clock
  int64_t horizon = 366 * 86400;             // how far ahead resource bookings are checked
  size_t max_attendees = 500;                // scheduling messages per write; beyond: 5.3
  int64_t max_freebusy_range = 370 * 86400;  // outbox VFREEBUSY request span
};

// What the hook did besides changing `next`, for the caller to finish after the commit.
struct ScheduleEffects {
  std::vector<int64_t> accounts;  // whose calendars or inboxes were written (free/busy caches)
  struct Spooled {
    int64_t spool_id = 0;
    std::vector<queue::Recipient> recipients;
  };
  std::vector<Spooled> spooled;  // iMIP and notification mail, committed with the write
};

class Scheduler final : public SchedulingHook {
 public:
  explicit Scheduler(store::Pool& pool, SchedulerOptions options = {});

  // The effects of the hook calls made on THIS thread since the last call (a thread-local
  // record: a CalDAV request runs its transaction on one thread). Call it before the
  // transaction to drop leftovers of a request that rolled back, and after the commit:
  // invalidate free/busy of `accounts`, queue::Enqueue each spooled message (otherwise the
  // relay's and delivery's reconcilers send it within their reconcile interval).
  static ScheduleEffects TakeEffects();

  absl::Status BeforePut(pqxx::work& tx, const ScheduleContext& ctx,
                         const calendar::Object* previous, calendar::Object& next) override;
  absl::Status BeforeDelete(pqxx::work& tx, const ScheduleContext& ctx,
                            const calendar::Object& previous) override;
  absl::StatusOr<std::string> OutboxPost(const ScheduleContext& ctx,
                                         const calendar::Object& request) override;

 private:
  int64_t Now() const;

  store::Pool& pool_;
  SchedulerOptions options_;
};

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_SCHEDULER_H_

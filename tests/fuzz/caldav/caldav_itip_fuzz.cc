// libFuzzer target: kite-caldav's iTIP object handling (services/caldav/itip.h) on untrusted
// iCalendar from mail: ParseItip for every method, then the parsed REPLY and CANCEL applied to
// a fixed organiser copy and to the input itself parsed as a stored copy, and serialised.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "caldav/itip.h"

namespace {

const char kCopy[] =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//fuzz//EN\r\nBEGIN:VEVENT\r\nUID:u@test\r\n"
    "DTSTAMP:20261120T090000Z\r\nDTSTART:20261201T090000Z\r\nRRULE:FREQ=WEEKLY\r\nSEQUENCE:1\r\n"
    "ORGANIZER:mailto:o@test\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:a@test\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:u@test\r\nRECURRENCE-ID:20261208T090000Z\r\nDTSTAMP:20261120T090000Z\r\n"
    "DTSTART:20261208T100000Z\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:a@test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (text.size() > 64 * 1024) return 0;
  for (const char* method : {"REQUEST", "REPLY", "CANCEL", "COUNTER"}) {
    auto parsed = kite::caldav::ParseItip(text, method);
    if (!parsed.ok()) continue;
    if (parsed->uid.empty() || parsed->master == nullptr) abort();
    std::string sender = parsed->organizer.empty() ? "a@test" : parsed->organizer;
    (void)kite::caldav::RepliesAsSender(*parsed, sender);
    for (int round = 0; round < 2; ++round) {
      kite::caldav::Ical copy = round == 0 ? kite::caldav::ParseCalendar(kCopy) : kite::caldav::ParseCalendar(text);
      if (!copy) continue;
      (void)kite::caldav::ApplyReply(*parsed, sender, copy.get());
      (void)kite::caldav::ApplyCancel(*parsed, copy.get());
      (void)kite::caldav::Serialize(copy.get());
    }
  }
  return 0;
}

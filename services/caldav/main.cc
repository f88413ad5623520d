// kite-caldav — CalDAV, scheduling, resources and autoconfig (RFC 4791, 6638) — partly implemented
//
// STATUS: serves kite.scheduling.v1.Scheduling (iMIP objects handed over by kite-delivery
// into the scheduling inbox; REPLY and CANCEL applied to the recipient's copies), the gRPC
// health service and Prometheus /metrics; the CalDAV HTTP protocol is not implemented yet
// (see the open issue for kite-caldav).
#include "caldav/scheduling_service.h"
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"

namespace {

struct State {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::caldav::SchedulingService> scheduling;
};

}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-caldav",
      .section = "caldav",
      .summary = "CalDAV, scheduling, resources and autoconfig (RFC 4791, 6638) — scheduling inbox only so far",
      .details =
          "STATUS: kite.scheduling.v1.Scheduling over gRPC (iMIP from kite-delivery), health and metrics;\n"
          "no CalDAV HTTP yet.\n"
          "SECURITY: iCalendar from mail is untrusted: bounded (1 MiB), parsed with libical, never logged;\n"
          "a REPLY or CANCEL changes a stored event only when the envelope sender is the attendee or\n"
          "organiser it speaks for.\n"
          "STANDARDS: RFC 5546 (iTIP), RFC 6047 (iMIP), RFC 6638 (scheduling inbox), RFC 6578 (sync tokens).",
  };
  static State state;
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime& rt) -> absl::Status {
    rt.OnExit([] { State done = std::move(state); });
    auto pool = kite::daemon::OpenPostgres(rt.config());
    if (!pool.ok()) return pool.status();
    state.pool = std::move(*pool);
    state.scheduling = std::make_unique<kite::caldav::SchedulingService>(*state.pool, rt.metrics().registry());
    rt.AddService(state.scheduling.get());
    return absl::OkStatus();
  });
}

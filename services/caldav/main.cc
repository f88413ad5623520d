// kite-caldav — CalDAV, scheduling, resources and autoconfig (RFC 4791, 6638) — not implemented yet
//
// SKELETON: this daemon serves the gRPC health service and Prometheus /metrics and shuts
// down gracefully; its protocol is not implemented yet (see the open issue for kite-caldav).
#include "lib/daemon/daemon.h"

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-caldav",
      .section = "caldav",
      .summary = "CalDAV, scheduling, resources and autoconfig (RFC 4791, 6638) — not implemented yet",
      .details = "STATUS: skeleton (health and metrics only).",
  };
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime&) { return absl::OkStatus(); });
}

// kite-freebusy — availability of users and resources over gRPC — not implemented yet
//
// SKELETON: this daemon serves the gRPC health service and Prometheus /metrics and shuts
// down gracefully; its protocol is not implemented yet (see the open issue for kite-freebusy).
#include "lib/daemon/daemon.h"

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-freebusy",
      .section = "freebusy",
      .summary = "availability of users and resources over gRPC — not implemented yet",
      .details = "STATUS: skeleton (health and metrics only).",
  };
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime&) { return absl::OkStatus(); });
}

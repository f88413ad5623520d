// kite-submission — authenticated mail submission on 587/465 (RFC 6409) — not implemented yet
//
// SKELETON: this daemon serves the gRPC health service and Prometheus /metrics and shuts
// down gracefully; its protocol is not implemented yet (see the open issue for kite-submission).
#include "lib/daemon/daemon.h"

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-submission",
      .section = "submission",
      .summary = "authenticated mail submission on 587/465 (RFC 6409) — not implemented yet",
      .details = "STATUS: skeleton (health and metrics only).",
  };
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime&) { return absl::OkStatus(); });
}

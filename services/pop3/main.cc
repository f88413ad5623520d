// kite-pop3 — POP3 download-and-delete access (RFC 1939) — not implemented yet
//
// SKELETON: this daemon serves the gRPC health service and Prometheus /metrics and shuts
// down gracefully; its protocol is not implemented yet (see the open issue for kite-pop3).
#include "lib/daemon/daemon.h"

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-pop3",
      .section = "pop3",
      .summary = "POP3 download-and-delete access (RFC 1939) — not implemented yet",
      .details = "STATUS: skeleton (health and metrics only).",
  };
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime&) { return absl::OkStatus(); });
}

// kite-caldav's WebDAV/CalDAV request handling: one authenticated HTTP request in, one
// response out, synchronously against PostgreSQL (the caller runs it on the worker pool).
//
// URL space (RFC 4918, 4791, 6638, 6764):
//   /.well-known/caldav                      301 to /dav/
//   /dav/                                    root (current-user-principal)
//   /dav/principals/<address>/               principal (RFC 3744, 5397, 6638 properties)
//   /dav/calendars/<address>/                calendar home (calendars, inbox, outbox, plain collections)
//   /dav/calendars/<address>/<calendar>/     calendar collection; <uri>.ics below it
//   /dav/calendars/<address>/<path...>       plain WebDAV collections and files (dav_resources)
// A home is created with a default calendar "calendar" on the owner's first access.
//
// Authorisation on every request (see Access): the owner; delegates through account_grants
// (may_write: read-write on all calendars, may change calendars; may_read: read); calendar
// shares (calendar_shares, accounts or lists): read, read-write (objects only) or freebusy
// (free-busy-query only). A grantee uses the owner's URLs; the grantee's own principal does
// not list shared calendars (clients add the owner's home by URL). Anything else of another
// account answers 403 (existence is not hidden: addresses are not secret inside an
// organisation). Principals are readable by every authenticated user.
#ifndef KITE_SERVICES_CALDAV_DAV_HANDLER_H_
#define KITE_SERVICES_CALDAV_DAV_HANDLER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "caldav/http.h"
#include "caldav/scheduling_hook.h"
#include "lib/store/pool.h"

namespace kite::caldav {

struct Identity {
  int64_t account_id = 0;
  std::string address;  // canonical, lowercase
  std::string display_name;
};

struct HandlerOptions {
  size_t max_resource_size = 1 << 20;
  std::string sync_prefix = "http://kite.example/sync/";
};

class DavHandler {
 public:
  DavHandler(store::Pool& pool, HandlerOptions options) : pool_(pool), options_(std::move(options)) {}
  void set_hook(SchedulingHook* hook) { hook_ = hook; }
  void set_on_change(std::function<void(int64_t account)> f) { on_change_ = std::move(f); }
  // Called on the request's thread at the start of every transaction attempt, and once
  // after a commit (after on_change): the scheduler's per-thread effects are dropped before
  // and finished after (free/busy invalidation of other accounts, enqueueing iMIP mail).
  void set_before_attempt(std::function<void()> f) { before_attempt_ = std::move(f); }
  void set_after_commit(std::function<void()> f) { after_commit_ = std::move(f); }

  // Never throws; store failures answer 503.
  http::Response Handle(const http::Request& request, const Identity& who);

 private:
  store::Pool& pool_;
  HandlerOptions options_;
  SchedulingHook* hook_ = nullptr;
  std::function<void(int64_t)> on_change_;
  std::function<void()> before_attempt_;
  std::function<void()> after_commit_;
};

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_DAV_HANDLER_H_

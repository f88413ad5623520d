// Every configuration key of every Kite daemon, with defaults that work for the local
// launcher (loopback, the launcher's ports). docs/configuration.md is written from this
// table: keep them together.
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "lib/config/config.h"

namespace kite::config {
namespace {

absl::Status OneOf(std::string_view v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed) {
    if (v == a) return absl::OkStatus();
  }
  std::string list;
  for (auto a : allowed) absl::StrAppend(&list, list.empty() ? "" : ", ", AV(a));
  return absl::InvalidArgumentError(absl::StrCat("must be one of ", list));
}

absl::Status Positive(std::string_view v) {
  if (v.empty() || v[0] == '0' || v[0] == '-') {
    return absl::InvalidArgumentError("must be greater than zero");
  }
  return absl::OkStatus();
}

absl::Status Percent(std::string_view v) {
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9' || n > 100) return absl::InvalidArgumentError("must be a whole number from 0 to 100");
    n = n * 10 + (c - '0');
  }
  if (v.empty() || n > 100) return absl::InvalidArgumentError("must be a whole number from 0 to 100");
  return absl::OkStatus();
}

absl::Status NonNegative(std::string_view v) {
  if (v.empty() || v[0] == '-') return absl::InvalidArgumentError("must be 0 or more");
  return absl::OkStatus();
}

// The ports of one daemon (its gRPC (admin + health) and metrics listeners) and its own
// credentials for PostgreSQL and Redis (least privilege: a role and an ACL user per daemon,
// docs/operations.md "Database roles and Redis users"; lib/daemon/backends.h uses them).
void AddDaemon(Schema& s, const std::string& section, int grpc_port, int metrics_port) {
  s.Add({section, "grpc_listen", Type::kHostPort, absl::StrCat("127.0.0.1:", grpc_port),
         "gRPC listener: the daemon's API (if any) and the standard gRPC health service"});
  s.Add({section, "metrics_listen", Type::kHostPort, absl::StrCat("127.0.0.1:", metrics_port),
         "HTTP listener for Prometheus /metrics"});
  s.Add({section, "postgres_url", Type::kSecret, "",
         absl::StrCat("libpq URL this daemon connects with, normally as its own role kite_", section,
                      " (kitectl db roles); empty: global.postgres_url")});
  s.Add({section, "redis_user", Type::kString, "",
         absl::StrCat("Redis ACL user of this daemon (e.g. kite-", section, "); empty: global.redis_user")});
  s.Add({section, "redis_password", Type::kSecret, "", "Redis password of redis_user; empty: global.redis_password"});
}

Schema Build() {
  Schema s;
  // global: shared by every daemon.
  s.Add({"global", "hostname", Type::kString, "mail.example.test",
         "This host's public name: SMTP greeting and Received headers. Never looked up in DNS."});
  s.Add({"global", "postgres_url", Type::kSecret, "postgresql://kite@127.0.0.1:5432/kite",
         "libpq connection URL of the PostgreSQL primary (the one durable store), as the owner of Kite's tables: kitectl uses it (migrate, db roles); daemons use it unless their section sets postgres_url"});
  s.Add({"global", "postgres_pool_size", Type::kInt, "8", "PostgreSQL connections per daemon", Positive});
  s.Add({"global", "redis", Type::kHostPort, "127.0.0.1:6379", "Redis address (queue streams, notifications, throttles)"});
  s.Add({"global", "redis_user", Type::kString, "",
         "Redis ACL user (Redis 6+: AUTH user password); empty: Redis's default user (AUTH password). kitectl's own; the default of every daemon section"});
  s.Add({"global", "redis_password", Type::kSecret, "", "Redis AUTH password of global.redis_user (empty: none); the default of every daemon section"});
  s.Add({"global", "auth_address", Type::kHostPort, "127.0.0.1:7000", "kite-auth gRPC address"});
  s.Add({"global", "caldav_address", Type::kHostPort, "127.0.0.1:7006",
         "kite-caldav gRPC address (kite-delivery hands calendar invitations received by mail to it)"});
  s.Add({"global", "freebusy_address", Type::kHostPort, "127.0.0.1:7007",
         "kite-freebusy gRPC address (kite-caldav asks it for availability and tells it about calendar changes)"});
  s.Add({"global", "tls_cert", Type::kString, "", "PEM certificate chain for the client ports (TLS is required: every client port needs it)"});
  s.Add({"global", "tls_key", Type::kString, "", "PEM private key for tls_cert"});
  s.Add({"global", "grpc_tls_cert", Type::kString, "", "Certificate for gRPC between daemons (empty: plaintext gRPC, for loopback and service meshes)"});
  s.Add({"global", "grpc_tls_key", Type::kString, "", "Key for grpc_tls_cert"});
  s.Add({"global", "grpc_tls_ca", Type::kString, "", "CA bundle that signs the daemons' gRPC certificates"});
  s.Add({"global", "log_level", Type::kString, "info", "debug, info, warn or error",
         [](std::string_view v) { return OneOf(v, {"debug", "info", "warn", "error"}); }});
  s.Add({"global", "log_format", Type::kString, "json", "json (one object per line) or text",
         [](std::string_view v) { return OneOf(v, {"json", "text"}); }});
  s.Add({"global", "dns_servers", Type::kList, "",
         "DNS servers (ip or ip:port, comma separated) for MX/SPF/DKIM lookups. Empty: no DNS at all; /etc/resolv.conf is never read."});
  s.Add({"global", "proxy_trusted", Type::kList, "",
         "Addresses (CIDR) of load balancers allowed to send a PROXY protocol header. Empty: PROXY disabled."});
  s.Add({"global", "shutdown_grace", Type::kDuration, "20s", "How long SIGTERM waits for sessions to finish"});
  s.Add({"global", "allow_plaintext_auth_loopback", Type::kBool, "false",
         "Allow password authentication without TLS from 127.0.0.0/8 and ::1 (development only)"});

  AddDaemon(s, "auth", 7000, 9100);
  s.Add({"auth", "argon2_memory_kib", Type::kInt, "65536", "argon2id memory cost (KiB) for new hashes", Positive});
  s.Add({"auth", "argon2_iterations", Type::kInt, "3", "argon2id time cost", Positive});
  s.Add({"auth", "argon2_parallelism", Type::kInt, "1", "argon2id lanes", Positive});
  s.Add({"auth", "max_failures", Type::kInt, "10", "Failed logins per account or client address before lockout", Positive});
  s.Add({"auth", "failure_window", Type::kDuration, "15m", "Window in which failures are counted"});
  s.Add({"auth", "lockout", Type::kDuration, "15m", "How long a lockout lasts"});
  s.Add({"auth", "failure_delay", Type::kDuration, "2s", "Every failed login is answered only after this delay"});

  AddDaemon(s, "mta", 7001, 9101);
  s.Add({"mta", "smtp_listen", Type::kHostPort, "127.0.0.1:2525", "Inbound SMTP (production: 0.0.0.0:25)"});
  s.Add({"mta", "max_message_size", Type::kSize, "50M", "Largest message accepted (SIZE, 552 beyond)"});
  s.Add({"mta", "max_recipients", Type::kInt, "100", "Recipients per message (452 beyond)", Positive});
  s.Add({"mta", "max_connections", Type::kInt, "1000", "Concurrent SMTP sessions per replica", Positive});
  s.Add({"mta", "max_errors", Type::kInt, "10", "Protocol errors per session before 421 and close", Positive});
  s.Add({"mta", "command_timeout", Type::kDuration, "5m", "Wait for the next command"});
  s.Add({"mta", "data_timeout", Type::kDuration, "10m", "Wait for more message data"});
  s.Add({"mta", "greylist", Type::kBool, "false",
         "Greylisting (Redis): the first message of a (client /24 or /64, sender, recipient) triplet gets 451 4.7.1 at RCPT; Redis down: accepted"});
  s.Add({"mta", "greylist_delay", Type::kDuration, "5m", "A greylisted triplet passes when retried after this long"});
  s.Add({"mta", "greylist_retry_window", Type::kDuration, "1d", "... and before this much more time has passed (else it starts over)"});
  s.Add({"mta", "greylist_remember", Type::kDuration, "35d", "A triplet that passed passes at once for this long after its last use"});
  s.Add({"mta", "dnsbl_zones", Type::kList, "",
         "DNS blocklist zones (RFC 5782, comma separated) queried through global.dns_servers; a listed client gets 554 5.7.1 at RCPT; DNS errors: accepted. Empty: off"});
  s.Add({"mta", "trusted_networks", Type::kList, "",
         "Client networks (CIDR, comma separated) exempt from greylisting and DNS blocklists (no relay permission)"});
  // Mail authentication of inbound mail (smtp_server/inbound_checks.h).
  s.Add({"mta", "spf", Type::kBool, "true", "Check SPF (RFC 7208) and report it in Authentication-Results"});
  s.Add({"mta", "dkim_verify", Type::kBool, "true", "Verify DKIM signatures (RFC 6376, 8463) and report them in Authentication-Results"});
  s.Add({"mta", "dmarc", Type::kBool, "true",
         "Evaluate DMARC (RFC 7489) on the header From domain; SPF and DKIM are then evaluated even if their keys are off"});
  s.Add({"mta", "dmarc_enforcement", Type::kString, "full",
         "full: DMARC p=reject failures get 550 5.7.1 at DATA and quarantine ones go to Junk; quarantine: both go to Junk; none: only reported",
         [](std::string_view v) { return OneOf(v, {"full", "quarantine", "none"}); }});
  s.Add({"mta", "public_suffix_list", Type::kString, "/usr/share/publicsuffix/public_suffix_list.dat",
         "Public Suffix List for DMARC organisational domains (Debian package publicsuffix); read once at start"});
  s.Add({"mta", "dns_timeout", Type::kDuration, "2s", "Per-try timeout of SPF, DKIM and DMARC DNS queries (global.dns_servers)"});
  s.Add({"mta", "spf_max_dns_lookups", Type::kInt, "10", "SPF mechanisms that query DNS per check (RFC 7208 4.6.4: 10)", Positive});
  s.Add({"mta", "spf_max_void_lookups", Type::kInt, "2", "SPF lookups answered NXDOMAIN or empty per check (RFC 7208 4.6.4: 2)", Positive});
  s.Add({"mta", "dkim_max_signatures", Type::kInt, "8", "DKIM signatures verified per message; later ones are reported neutral", Positive});
  s.Add({"mta", "inbound_enabled", Type::kBool, "true",
         "Accept inbound SMTP on smtp_listen (false: a relay-only replica)"});
  s.Add({"mta", "relay_enabled", Type::kBool, "true",
         "Run the outbound relay (consumer of kite:outbound; false: an inbound-only replica)"});
  s.Add({"mta", "relay_port", Type::kInt, "25", "TCP port of remote mail exchangers (tests use a high port)", Positive});
  s.Add({"mta", "relay_smarthost", Type::kString, "",
         "host:port that receives all outbound mail instead of the MX hosts (empty: deliver by MX)"});
  s.Add({"mta", "relay_smarthost_user", Type::kString, "", "AUTH PLAIN user for the smarthost (empty: no AUTH); sent only over TLS"});
  s.Add({"mta", "relay_smarthost_password", Type::kSecret, "", "AUTH PLAIN password for the smarthost"});
  s.Add({"mta", "relay_smarthost_verify", Type::kBool, "false",
         "Verify the smarthost's TLS certificate for its host name against relay_tls_ca"});
  s.Add({"mta", "relay_tls_ca", Type::kString, "",
         "PEM trust anchors for verified outbound TLS: smarthost, MTA-STS policy fetches and enforced MX hosts (empty: the system store)"});
  s.Add({"mta", "relay_mta_sts", Type::kBool, "true",
         "Honour MTA-STS (RFC 8461): fetch and cache policies; in enforce mode deliver only to listed MX hosts over verified TLS"});
  s.Add({"mta", "relay_mta_sts_port", Type::kInt, "443", "HTTPS port of mta-sts.<domain> policy hosts (tests use a high port)", Positive});
  s.Add({"mta", "relay_max_parallel", Type::kInt, "20", "Outbound SMTP transactions in flight per replica", Positive});
  s.Add({"mta", "relay_per_domain", Type::kInt, "4", "Of which at most this many to one destination domain", Positive});
  s.Add({"mta", "relay_connect_timeout", Type::kDuration, "30s", "TCP connect to a remote MX"});
  s.Add({"mta", "relay_command_timeout", Type::kDuration, "5m", "Wait for a remote reply to a command (RFC 5321 4.5.3.2)"});
  s.Add({"mta", "relay_data_timeout", Type::kDuration, "10m", "Send the message and wait for the reply to its final dot"});
  s.Add({"mta", "relay_backoff", Type::kList, "5m,10m,20m,40m,1h,2h,4h",
         "Waits between attempts after a temporary failure; the last one repeats"});
  s.Add({"mta", "relay_reuse_idle", Type::kDuration, "2s",
         "Keep an outbound session open this long for the next message to the same domain (0s: QUIT at once)"});
  s.Add({"mta", "relay_lifetime", Type::kDuration, "5d", "How long a message is retried before it bounces"});
  s.Add({"mta", "relay_delay_warning", Type::kDuration, "4h",
         "Send one delay warning (RFC 3464 Action: delayed) after this; 0s: never"});
  s.Add({"mta", "relay_claim_idle", Type::kDuration, "10m", "Take over outbound entries another replica left pending this long"});
  s.Add({"mta", "relay_reconcile_interval", Type::kDuration, "30s",
         "How often due outbound spool rows (retries, entries lost with Redis) are put back on kite:outbound"});
  s.Add({"mta", "relay_consumer_name", Type::kString, "", "Consumer name in the outbound group (empty: host name and pid)"});

  AddDaemon(s, "submission", 7002, 9102);
  s.Add({"submission", "starttls_listen", Type::kHostPort, "127.0.0.1:2587", "Submission with STARTTLS (production: 0.0.0.0:587)"});
  s.Add({"submission", "tls_listen", Type::kHostPort, "127.0.0.1:2465", "Submission over implicit TLS (production: 0.0.0.0:465)"});
  s.Add({"submission", "max_message_size", Type::kSize, "50M", "Largest message accepted (SIZE, 552 beyond)"});
  s.Add({"submission", "max_recipients", Type::kInt, "100", "Recipients per message (452 beyond)", Positive});
  s.Add({"submission", "max_connections", Type::kInt, "1000", "Concurrent submission sessions per listener per replica", Positive});
  s.Add({"submission", "max_errors", Type::kInt, "10", "Protocol errors (failed AUTH included) per session before 421 and close", Positive});
  s.Add({"submission", "command_timeout", Type::kDuration, "5m", "Wait for the next command"});
  s.Add({"submission", "data_timeout", Type::kDuration, "10m", "Wait for more message data"});
  s.Add({"submission", "messages_per_hour", Type::kInt, "0",
         "Messages one authenticated user may send per sliding hour (450 4.7.1 at MAIL beyond; Redis down: allowed). 0: unlimited", NonNegative});
  s.Add({"submission", "recipients_per_hour", Type::kInt, "0",
         "Recipients (RCPT commands) one authenticated user may send to per sliding hour (452 4.5.3 beyond). 0: unlimited", NonNegative});
  s.Add({"submission", "dkim_key_cache", Type::kDuration, "3m", "How long DKIM signing keys read from PostgreSQL are kept in memory (a new or disabled key takes effect within this)"});

  AddDaemon(s, "delivery", 7003, 9103);
  s.Add({"delivery", "consumers", Type::kInt, "4", "Concurrent deliveries per replica", Positive});
  s.Add({"delivery", "claim_idle", Type::kDuration, "60s", "Claim queue entries a crashed consumer left unacknowledged this long"});
  s.Add({"delivery", "reconcile_interval", Type::kDuration, "30s", "How often the spool is checked for due entries missing from Redis"});
  s.Add({"delivery", "consumer_name", Type::kString, "", "Consumer name in the Redis group (empty: host name and pid)"});
  s.Add({"delivery", "quota_warning_percent", Type::kInt, "80",
         "Deliver one warning to the user when mailbox usage first crosses this percentage of the quota (0: never)",
         Percent});
  s.Add({"delivery", "quota_full_bounce", Type::kBool, "false",
         "At the quota limit bounce at once (5.2.2) instead of deferring (4.2.2) until delivery.lifetime runs out"});
  s.Add({"delivery", "quota_retry", Type::kDuration, "15m", "Retry interval for a recipient whose mailbox is full"});
  s.Add({"delivery", "lifetime", Type::kDuration, "5d",
         "How long a message waits for a full mailbox before it bounces to the sender"});
  s.Add({"delivery", "fileinto_autocreate", Type::kBool, "true",
         "Sieve fileinto creates a missing folder even without :create (false: file into INBOX instead)"});
  s.Add({"delivery", "itip_retry_initial", Type::kDuration, "10s",
         "First retry of an iMIP hand-over to kite-caldav that failed (kite-caldav unreachable); doubles each time"});
  s.Add({"delivery", "itip_retry_max", Type::kDuration, "1h", "Longest wait between retries of an iMIP hand-over"});
  s.Add({"delivery", "itip_lifetime", Type::kDuration, "5d",
         "An iMIP hand-over kite-caldav has not accepted after this long is dropped (logged as itip.expired)"});
  // ManageSieve (RFC 5804) and Sieve script storage (services/delivery/managesieve.h).
  s.Add({"delivery", "managesieve_listen", Type::kHostPort, "127.0.0.1:4190",
         "ManageSieve with STARTTLS, for users' Sieve scripts (production: 0.0.0.0:4190)"});
  s.Add({"delivery", "managesieve_max_connections", Type::kInt, "1000", "Concurrent ManageSieve sessions per replica", Positive});
  s.Add({"delivery", "managesieve_login_timeout", Type::kDuration, "60s", "ManageSieve: close idle sessions before authentication"});
  s.Add({"delivery", "managesieve_idle_timeout", Type::kDuration, "10m", "ManageSieve: close idle authenticated sessions"});
  s.Add({"delivery", "managesieve_max_errors", Type::kInt, "10",
         "ManageSieve: protocol errors (failed logins included) per session before BYE and close", Positive});
  s.Add({"delivery", "sieve_max_scripts", Type::kInt, "32",
         "Sieve scripts per account (ManageSieve and kitectl; each at most 64 KiB)", Positive});

  AddDaemon(s, "imap", 7004, 9104);
  s.Add({"imap", "starttls_listen", Type::kHostPort, "127.0.0.1:2143", "IMAP with STARTTLS (production: 0.0.0.0:143)"});
  s.Add({"imap", "tls_listen", Type::kHostPort, "127.0.0.1:2993", "IMAP over implicit TLS (production: 0.0.0.0:993)"});
  s.Add({"imap", "max_connections", Type::kInt, "10000", "Concurrent IMAP sessions per replica", Positive});
  s.Add({"imap", "idle_timeout", Type::kDuration, "30m", "Autologout for idle authenticated sessions (RFC 3501: at least 30m)"});
  s.Add({"imap", "login_timeout", Type::kDuration, "60s", "Autologout before authentication"});
  s.Add({"imap", "max_literal", Type::kSize, "50M", "Largest literal (APPEND) accepted"});
  s.Add({"imap", "snapshot_cache_entries", Type::kInt, "200000",
         "Message entries of recently selected mailboxes kept in memory per replica (about 100 bytes each), so a "
         "SELECT reads only what changed since. 0: none kept", NonNegative});
  s.Add({"imap", "durable_flag_changes", Type::kBool, "true",
         "true: a STORE (or a FETCH that sets \\Seen) is answered once its change is flushed to PostgreSQL's WAL. "
         "false: flag changes commit with synchronous_commit = off, as Dovecot's mail_fsync = optimized treats them: "
         "a crash of the PostgreSQL server may lose the flag changes of its last moments (up to 3 x wal_writer_delay, "
         "0.6 s by default; never a message, an expunge or any other change) and give their MODSEQs again to later "
         "changes, so a CONDSTORE/QRESYNC client that saw one may miss a change until it resynchronises"});

  AddDaemon(s, "pop3", 7005, 9105);
  s.Add({"pop3", "stls_listen", Type::kHostPort, "127.0.0.1:2110", "POP3 with STLS (production: 0.0.0.0:110)"});
  s.Add({"pop3", "tls_listen", Type::kHostPort, "127.0.0.1:2995", "POP3 over implicit TLS (production: 0.0.0.0:995)"});
  s.Add({"pop3", "max_connections", Type::kInt, "1000", "Concurrent POP3 sessions per listener per replica", Positive});
  s.Add({"pop3", "idle_timeout", Type::kDuration, "10m", "Autologout for idle authenticated sessions (RFC 1939: at least 10m)"});
  s.Add({"pop3", "login_timeout", Type::kDuration, "60s", "Autologout before authentication"});
  s.Add({"pop3", "max_errors", Type::kInt, "10", "Bad commands (failed logins included) per session before -ERR and close", Positive});

  AddDaemon(s, "caldav", 7006, 9106);
  s.Add({"caldav", "http_listen", Type::kHostPort, "127.0.0.1:8080", "CalDAV over HTTP (behind a TLS proxy, or loopback)"});
  s.Add({"caldav", "https_listen", Type::kHostPort, "127.0.0.1:8443", "CalDAV over HTTPS"});
  s.Add({"caldav", "max_connections", Type::kInt, "1000", "Concurrent CalDAV HTTP connections per listener per replica", Positive});
  s.Add({"caldav", "max_resource_size", Type::kSize, "1M",
         "Largest calendar object or request body (CALDAV:max-resource-size; 413 beyond)"});
  s.Add({"caldav", "idle_timeout", Type::kDuration, "60s", "Close a keep-alive connection idle this long between requests"});
  s.Add({"caldav", "request_timeout", Type::kDuration, "30s", "Time a client has to send one whole request"});
  s.Add({"caldav", "allow_plaintext_loopback", Type::kBool, "false",
         "Accept HTTP Basic passwords over plain HTTP from 127.0.0.0/8 and ::1 (development and the launcher only)"});
  s.Add({"caldav", "sync_token_prefix", Type::kString, "http://kite.example/sync/",
         "Prefix of RFC 6578 sync tokens (a URI; the change counter follows)"});

  AddDaemon(s, "freebusy", 7007, 9107);
  // kite-freebusy (services/freebusy/freebusy_service.h, docs/freebusy.md).
  s.Add({"freebusy", "cache_ttl", Type::kDuration, "1h",
         "Cached free/busy answers in Redis expire after this (a safety net: every calendar change invalidates them)"});
  s.Add({"freebusy", "redis_timeout", Type::kDuration, "250ms",
         "Longest wait for the Redis cache per call; slower or down: the answer is computed uncached"});
  s.Add({"freebusy", "max_range", Type::kDuration, "366d", "Longest range one free/busy or find-a-time call may ask for"});
  s.Add({"freebusy", "max_targets", Type::kInt, "100", "Targets (people, resources) per free/busy or find-a-time call", Positive});
  s.Add({"freebusy", "max_objects", Type::kInt, "10000",
         "Calendar objects read per target and call (more: the rest is left out and counted in kite_freebusy_truncated_total)",
         Positive});
  s.Add({"freebusy", "external_days", Type::kInt, "60",
         "Days from today the external free/busy URL (/freebusy/<token>.ifb) covers when the request names no range",
         Positive});
  // caldav, client setup (services/caldav/client_setup.h): what autoconfig, Autodiscover and the
  // free/busy URL tell clients, i.e. the ports as seen from outside (load balancer, NAT).
  s.Add({"caldav", "public_imap_port", Type::kInt, "993", "IMAP implicit-TLS port clients are told (autoconfig, Autodiscover)", Positive});
  s.Add({"caldav", "public_imap_starttls_port", Type::kInt, "143", "IMAP STARTTLS port clients are told", Positive});
  s.Add({"caldav", "public_pop3_port", Type::kInt, "995", "POP3 implicit-TLS port clients are told", Positive});
  s.Add({"caldav", "public_pop3_starttls_port", Type::kInt, "110", "POP3 STLS port clients are told", Positive});
  s.Add({"caldav", "public_submission_port", Type::kInt, "465", "Submission implicit-TLS port clients are told", Positive});
  s.Add({"caldav", "public_submission_starttls_port", Type::kInt, "587", "Submission STARTTLS port clients are told", Positive});
  s.Add({"caldav", "public_https_port", Type::kInt, "8443",
         "HTTPS port of kite-caldav clients are told (CalDAV URL in autoconfig, the external free/busy URL)", Positive});
  s.Add({"caldav", "mta_sts_mode", Type::kString, "testing",
         "MTA-STS policy mode served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461): enforce, testing or none",
         [](std::string_view v) { return OneOf(v, {"enforce", "testing", "none"}); }});
  s.Add({"caldav", "mta_sts_mx", Type::kList, "",
         "MX host patterns of the MTA-STS policy (e.g. mail.example.com, *.example.net); empty: global.hostname"});
  s.Add({"caldav", "mta_sts_max_age", Type::kDuration, "7d", "max_age of the MTA-STS policy (RFC 8461 3.2: at most 31557600 s)"});
  return s;
}

}  // namespace

const Schema& KiteSchema() {
  static const Schema* schema = new Schema(Build());
  return *schema;
}

}  // namespace kite::config

#include "lib/dns/resolver.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::dns {
namespace {
constexpr char kRcodeUrl[] = "kite.dns/rcode";
}

absl::Status NxDomainError(std::string_view name) {
  absl::Status s = absl::NotFoundError(absl::StrCat("NXDOMAIN: ", AV(name)));
  s.SetPayload(kRcodeUrl, absl::Cord("NXDOMAIN"));
  return s;
}

absl::Status NoDataError(std::string_view name) {
  absl::Status s = absl::NotFoundError(absl::StrCat("no data: ", AV(name)));
  s.SetPayload(kRcodeUrl, absl::Cord("NODATA"));
  return s;
}

bool IsNxDomain(const absl::Status& s) {
  if (!absl::IsNotFound(s)) return false;
  auto p = s.GetPayload(kRcodeUrl);
  return p.has_value() && *p == "NXDOMAIN";
}

bool IsNoData(const absl::Status& s) {
  if (!absl::IsNotFound(s)) return false;
  auto p = s.GetPayload(kRcodeUrl);
  return p.has_value() && *p == "NODATA";
}

}  // namespace kite::dns

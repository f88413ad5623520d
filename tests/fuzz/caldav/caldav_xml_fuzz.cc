// libFuzzer target: kite-caldav's WebDAV XML module (services/caldav/dav_xml.cc, libxml2) on
// untrusted request bodies: every parser (PROPFIND, PROPPATCH, MKCALENDAR, extended MKCOL,
// REPORT), and the writer's escaping of what came out.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "caldav/dav_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace dav = kite::caldav::dav;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto pf = dav::ParsePropfind(in); pf.ok()) {
    for (const auto& p : pf->props) (void)dav::Element(p.ns, p.name, dav::Escape(p.text));
  }
  if (auto pu = dav::ParsePropertyUpdate(in); pu.ok()) {
    for (const auto& op : pu->ops) (void)dav::EmptyElement(op.prop.ns, op.prop.name);
  }
  (void)dav::ParseMkcol(in, true);
  (void)dav::ParseMkcol(in, false);
  if (auto r = dav::ParseReport(in); r.ok()) {
    for (const auto& h : r->hrefs) (void)dav::Escape(h);
  }
  return 0;
}

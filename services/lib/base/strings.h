// Bridges between std::string_view and absl::string_view.
//
// Debian's Abseil (20220623) is built with ABSL_OPTION_USE_STD_STRING_VIEW 0: its
// absl::string_view is a distinct type, so std::string_view does not convert to it
// (StrCat, SimpleAtoi, Status constructors) and Status::message() is not a std one.
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace kite {

inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace kite

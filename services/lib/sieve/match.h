// Sieve comparators (i;octet, i;ascii-casemap, RFC 4790) and match types (:is, :contains,
// :matches with "*", "?" and backslash escapes; RFC 5228 2.7).
#ifndef KITE_SERVICES_LIB_SIEVE_MATCH_H_
#define KITE_SERVICES_LIB_SIEVE_MATCH_H_

#include <string_view>

#include "lib/sieve/sieve.h"

namespace kite::sieve {

bool Matches(std::string_view value, std::string_view key, MatchType match, Comparator comparator);

}  // namespace kite::sieve

#endif  // KITE_SERVICES_LIB_SIEVE_MATCH_H_

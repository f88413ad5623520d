// url.h — PostgreSQL connection strings made safe to print.
//
// Promises: RedactUrl never returns a password, whether the input is a libpq URL
// (postgresql://user:secret@host/db?password=secret) or a key=value conninfo string
// (host=h password=secret); it does not validate the input and never fails. Input is
// operator configuration, not network input.
#ifndef KITE_SERVICES_LIB_STORE_URL_H_
#define KITE_SERVICES_LIB_STORE_URL_H_

#include <string>
#include <string_view>

namespace kite::store {

// The URL with every password replaced by "***", for logs and error messages.
std::string RedactUrl(std::string_view url);

// "host:port" of the server a conninfo/URL names (libpq defaults applied: localhost:5432),
// for error messages. Never includes credentials. Empty if the string does not parse.
std::string ServerAddress(std::string_view url);

}  // namespace kite::store

#endif  // KITE_SERVICES_LIB_STORE_URL_H_

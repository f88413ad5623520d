# Dependencies and helpers shared by every target. Included from the top-level CMakeLists.txt.

if(KITE_TLS_BACKEND STREQUAL "BoringSSL")
  # Debian's android-libboringssl-dev: headers under /usr/include/android, libraries beside an rpath.
  set(KITE_BORINGSSL_LIBDIR /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android)
  if(NOT EXISTS ${KITE_BORINGSSL_LIBDIR}/libssl.so)
    message(FATAL_ERROR "BoringSSL not found in ${KITE_BORINGSSL_LIBDIR}: apt-get install android-libboringssl-dev")
  endif()
  add_library(kite_ssl INTERFACE)
  target_include_directories(kite_ssl SYSTEM INTERFACE /usr/include/android)
  target_link_libraries(kite_ssl INTERFACE ${KITE_BORINGSSL_LIBDIR}/libssl.so ${KITE_BORINGSSL_LIBDIR}/libcrypto.so)
  target_link_options(kite_ssl INTERFACE -Wl,-rpath,${KITE_BORINGSSL_LIBDIR})
  target_compile_definitions(kite_ssl INTERFACE KITE_BORINGSSL=1)
else()
  find_package(OpenSSL REQUIRED)
  add_library(kite_ssl INTERFACE)
  target_link_libraries(kite_ssl INTERFACE OpenSSL::SSL OpenSSL::Crypto)
endif()

find_package(Boost 1.74 REQUIRED)
find_package(absl CONFIG REQUIRED)

if(KITE_BUILD_SCOPE STREQUAL "all")
  find_package(Protobuf REQUIRED)
  find_package(gRPC CONFIG REQUIRED)
  find_package(prometheus-cpp CONFIG REQUIRED)
  find_package(yaml-cpp REQUIRED)
  pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
  pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
  pkg_check_modules(ARGON2 REQUIRED IMPORTED_TARGET libargon2)
  pkg_check_modules(GMIME REQUIRED IMPORTED_TARGET gmime-3.0)
  pkg_check_modules(ICAL REQUIRED IMPORTED_TARGET libical)
  pkg_check_modules(XML2 REQUIRED IMPORTED_TARGET libxml-2.0)
  pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
  find_package(ZLIB REQUIRED)
endif()

# kite_library(NAME SOURCES... [DEPS ...]) — a shared library module without main.
function(kite_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/services)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# kite_test(NAME SOURCES... DEPS ... [FIXTURES pg|redis|pg_redis] [LABELS ...]) — a Catch2 test binary.
# Tests that need a real PostgreSQL or Redis name the fixture; the fixture's setup test starts
# the server on a free port and writes its address under ${KITE_TEST_ENV_DIR}.
function(kite_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;FIXTURES;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/services ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} Catch2::Catch2WithMain)
  # test_env.h finds tests/fixtures/*.sh here (__FILE__ is relative when ccache uses base_dir).
  target_compile_definitions(${name} PRIVATE KITE_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  # One variable only: catch_discover_tests cannot pass a list of environment entries.
  set(props ENVIRONMENT "KITE_TEST_ENV_DIR=${KITE_TEST_ENV_DIR}")
  if(ARG_FIXTURES)
    list(APPEND props FIXTURES_REQUIRED "${ARG_FIXTURES}")
  endif()
  if(ARG_LABELS)
    list(APPEND props LABELS "${ARG_LABELS}")
  endif()
  catch_discover_tests(${name} PROPERTIES ${props})
endfunction()

# kite_fuzzer(NAME SOURCE DEPS ...) — a libFuzzer target, built only with KITE_FUZZ.
function(kite_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  if(NOT KITE_FUZZ)
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/services)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
endfunction()

set(KITE_TEST_ENV_DIR ${CMAKE_BINARY_DIR}/test-env)

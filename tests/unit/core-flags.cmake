# SPDX-License-Identifier: GPL-2.0
# The core's C++ flags for the CMake builds (tests/unit, tests/unit/arm64,
# tests/tsan), read from src/core/flags.mk, their one definition (shared
# with Kbuild and scripts/fuzz.sh). include() it after project(), before
# the first target, with TOP set to the repository. It sets
#   CMAKE_CXX_STANDARD, CMAKE_CXX_EXTENSIONS   from WC_CXX_STD, for every
#                                               target (core and tests)
#   WC_CXX_RUNTIME, WC_CXX_SEMANTICS, WC_CXX_WARNINGS   lists of flags
#   WC_CORE_CXX_FLAGS   the core library's: runtime, semantics, warnings
#                       as errors
#   WC_TEST_CXX_FLAGS   the test code's: the core's semantics, -Wall
#                       -Wextra as errors
# Each build adds its own sanitizers and -g -O1.
set(WC_FLAGS_MK ${TOP}/src/core/flags.mk)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${WC_FLAGS_MK})
file(STRINGS ${WC_FLAGS_MK} _wc_lines REGEX "^WC_CXX_[A-Z_]+[ \t]*:=")
foreach(_wc_line IN LISTS _wc_lines)
  string(REGEX MATCH "^(WC_CXX_[A-Z_]+)[ \t]*:=[ \t]*(.*)$" _wc_m "${_wc_line}")
  separate_arguments(${CMAKE_MATCH_1} UNIX_COMMAND "${CMAKE_MATCH_2}")
endforeach()
foreach(_wc_group WC_CXX_STD WC_CXX_RUNTIME WC_CXX_SEMANTICS WC_CXX_WARNINGS)
  if(NOT ${_wc_group})
    message(FATAL_ERROR "${WC_FLAGS_MK}: no ${_wc_group}")
  endif()
endforeach()

if(NOT WC_CXX_STD MATCHES "^-std=(gnu|c)\\+\\+([0-9]+)$")
  message(FATAL_ERROR "${WC_FLAGS_MK}: WC_CXX_STD is not -std=gnu++NN or -std=c++NN")
endif()
set(CMAKE_CXX_STANDARD ${CMAKE_MATCH_2})
set(CMAKE_CXX_STANDARD_REQUIRED ON)
if(CMAKE_MATCH_1 STREQUAL "gnu")
  set(CMAKE_CXX_EXTENSIONS ON)
else()
  set(CMAKE_CXX_EXTENSIONS OFF)
endif()

set(WC_CORE_CXX_FLAGS ${WC_CXX_RUNTIME} ${WC_CXX_SEMANTICS} ${WC_CXX_WARNINGS} -Werror)
set(WC_TEST_CXX_FLAGS ${WC_CXX_SEMANTICS} -Wall -Wextra -Werror)

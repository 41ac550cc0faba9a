# STATION_SANITIZE=ON builds every target with AddressSanitizer and
# UndefinedBehaviorSanitizer; the test script runs the whole suite in such a
# build as well as in the optimised one. UBSan findings abort the process so a
# test cannot pass over undefined behaviour.
option(STATION_SANITIZE "Build with ASan + UBSan" OFF)
# STATION_TSAN=ON builds every target with ThreadSanitizer; the test script runs the
# tests that exercise threads in such a build (see deploy/test.sh and tests/tsan.supp).
# TSan cannot be combined with ASan.
option(STATION_TSAN "Build with ThreadSanitizer" OFF)
# STATION_FUZZ=ON builds the libFuzzer targets of tests/fuzz (clang only: configure a
# build folder of its own with CC=clang CXX=clang++). Every target is then compiled with
# the fuzzer's coverage instrumentation and ASan + UBSan, so that the code under test
# gives the fuzzer its coverage; the fuzz targets link libFuzzer's main.
option(STATION_FUZZ "Build the libFuzzer targets (clang; implies ASan + UBSan)" OFF)

if(STATION_TSAN AND (STATION_SANITIZE OR STATION_FUZZ))
    message(FATAL_ERROR "STATION_TSAN cannot be combined with STATION_SANITIZE or STATION_FUZZ "
                        "(ThreadSanitizer and AddressSanitizer exclude each other)")
endif()
if(STATION_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "STATION_FUZZ needs clang (libFuzzer): configure a build folder of its "
                        "own with CC=clang CXX=clang++ (the compiler here is "
                        "${CMAKE_CXX_COMPILER_ID})")
endif()

if(STATION_SANITIZE OR STATION_FUZZ)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()
if(STATION_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(STATION_TSAN)
    add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
    add_link_options(-fsanitize=thread)
endif()

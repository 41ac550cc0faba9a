# station_set_warnings(<target>): the project's warning set, as errors.
# Every first-party target calls this; third-party headers come in as SYSTEM
# through their imported targets, so their warnings do not fail our build.
function(station_set_warnings target)
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
        -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused
        -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion
        -Wformat=2 -Wimplicit-fallthrough -Werror)
    # GCC 12 reports a false -Wrestrict inside libstdc++'s std::string operator+
    # at -O2/-O3 (GCC bug 105329); it is not about our code. (Clang, used by the fuzz
    # build, has no such warning and refuses the option.)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        target_compile_options(${target} PRIVATE -Wno-restrict)
    endif()
endfunction()

# STATION_SANITIZE=ON builds every target with AddressSanitizer and
# UndefinedBehaviorSanitizer; the test script runs the whole suite in such a
# build as well as in the optimised one. UBSan findings abort the process so a
# test cannot pass over undefined behaviour.
option(STATION_SANITIZE "Build with ASan + UBSan" OFF)
if(STATION_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()

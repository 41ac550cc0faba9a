# Fails if any source under DIRS (separated by '|') includes a header the functional
# core must not depend on: MQTT, HTTP/POCO, databases, threads or the wall clock.
string(REPLACE "|" ";" dirs "${DIRS}")
set(forbidden
    "mqtt" "MQTTAsync" "MQTTClient" "Poco/" "sqlite" "curl" "httplib" "boost/asio"
    "<thread>" "<mutex>" "<shared_mutex>" "<condition_variable>" "<future>" "<atomic>"
    "<semaphore>" "<stop_token>" "<pthread.h>" "<chrono>" "<ctime>" "<time.h>" "<sys/time.h>"
    "<sys/socket.h>" "<netinet/" "<unistd.h>")
set(found "")
set(count 0)
foreach(dir IN LISTS dirs)
    file(GLOB_RECURSE sources "${dir}/*.hpp" "${dir}/*.h" "${dir}/*.cpp" "${dir}/*.cc")
    foreach(source IN LISTS sources)
        math(EXPR count "${count} + 1")
        file(STRINGS "${source}" includes REGEX "^[ \t]*#[ \t]*include")
        foreach(line IN LISTS includes)
            foreach(bad IN LISTS forbidden)
                string(FIND "${line}" "${bad}" at)
                if(NOT at EQUAL -1)
                    string(APPEND found "\n  ${source}: ${line}")
                endif()
            endforeach()
        endforeach()
    endforeach()
endforeach()
if(count EQUAL 0)
    message(FATAL_ERROR "no sources found under ${DIRS}")
endif()
if(found)
    message(FATAL_ERROR "the core includes I/O, thread or clock headers:${found}")
endif()
message(STATUS "checked ${count} core sources: no forbidden includes")

-- GET with the token header, each request about the next station in turn (?station=):
-- wrk -s bench/wrk/get_stations.lua URL, with TOKEN and STATIONS (S1,S2,...) in the
-- environment (bench/stations_bench.py). URL may have a query of its own.
local stations = {}
for s in string.gmatch(os.getenv("STATIONS") or "", "[^,]+") do
    table.insert(stations, s)
end
local next_thread = 0

function setup(thread)
    thread:set("tid", next_thread)
    next_thread = next_thread + 1
end

function init(args)
    token = os.getenv("TOKEN")
    counter = tid or 0
    sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
end

function request()
    counter = counter + 1
    local path = wrk.path
    if #stations > 0 then
        path = path .. sep .. "station=" .. stations[(counter % #stations) + 1]
    end
    return wrk.format("GET", path, { ["token"] = token })
end

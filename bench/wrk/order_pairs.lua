-- Order creation as create-then-cancel pairs: each POST /client/index/order asks for one of
-- the user's cars (FIRST_CAR .. FIRST_CAR+CARS-1, a slice per wrk thread, used in turn);
-- its answer's order id is cancelled by the thread's next request. Every request is a
-- full round trip through the scheduler. Environment: TOKEN, FIRST_CAR, CARS; optional
-- STATIONS (S1,S2,...): each car's orders at one of them, the cars spread over all
-- (?station=; the cancel goes to its order's station), for an API serving several
-- (bench/stations_bench.py). A car stays at one station: at another its claim from the
-- last order would still stand for a while (409 car_claimed).
local threads = {}
local next_thread = 0

function setup(thread)
    thread:set("tid", next_thread)
    next_thread = next_thread + 1
    table.insert(threads, thread)
end

function init(args)
    token = os.getenv("TOKEN")
    first = tonumber(os.getenv("FIRST_CAR"))
    per_thread = math.floor(tonumber(os.getenv("CARS")) / tonumber(os.getenv("THREADS")))
    counter = 0
    pending = {}
    created, cancelled, refused = 0, 0, 0
    refusal = ""
    stations = {}
    for s in string.gmatch(os.getenv("STATIONS") or "", "[^,]+") do
        table.insert(stations, s)
    end
end

function request()
    local headers = { ["token"] = token, ["Content-Type"] = "application/json" }
    if #pending > 0 then
        local id = table.remove(pending, 1)
        return wrk.format("DELETE", "/client/index/order", headers, '{"id":"' .. id .. '"}')
    end
    counter = counter + 1
    local car = first + tid * per_thread + (counter % per_thread)
    local path = "/client/index/order"
    if #stations > 0 then
        path = path .. "?station=" .. stations[(car % #stations) + 1]
    end
    return wrk.format("POST", path, headers,
        '{"car_id":"' .. car .. '","mode":"F","apply_kwh":10}')
end

function response(status, headers, body)
    if body:find('"code":200', 1, true) then
        local id = body:match('"id":"(%d+)"')
        table.insert(pending, id)
        created = created + 1
    elseif body:find('"code":"0"', 1, true) then
        cancelled = cancelled + 1
    else
        refused = refused + 1
        refusal = status .. " " .. body
    end
end

function done(summary, latency, requests)
    for _, t in ipairs(threads) do
        io.write(string.format("thread %d: created %d, cancelled %d, refused %d\n", t:get("tid"),
            t:get("created"), t:get("cancelled"), t:get("refused")))
        if t:get("refusal") ~= "" then
            io.write("  last refusal: " .. t:get("refusal") .. "\n")
        end
    end
end

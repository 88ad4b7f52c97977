-- GET /v1/suppressions/{email} for random addresses: half seeded (200), half absent (404), the
-- same shapes as bench/lib/seed.ts. Both answers are successes; anything else is counted as bad.
--
-- Environment: BENCH_TOKEN, BENCH_SEEDED (how many addresses were seeded), BENCH_OUT.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  seeded = tonumber(os.getenv("BENCH_SEEDED"))
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
  math.randomseed(1000 + tid)
  issued, ok, bad, found, absent, first_us, last_us = 0, 0, 0, 0, 0, 0, 0
  statuses = {}
end

function request()
  issued = issued + 1
  -- [0, seeded) exists; [seeded, 2 * seeded) has the same shape and does not.
  local i = math.random(0, 2 * seeded - 1)
  return wrk.format("GET", string.format("/v1/suppressions/user%07d@domain%d.example.com", i, i % 97))
end

function response(status, headers, body)
  if status == 200 then
    ok, found = ok + 1, found + 1
  elseif status == 404 then
    ok, absent = ok + 1, absent + 1
  else
    bad = bad + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local parts = {}
  for _, t in ipairs(threads) do
    local st = {}
    for k, v in pairs(t:get("statuses") or {}) do st[#st + 1] = string.format('"%s":%d', k, v) end
    parts[#parts + 1] = string.format(
      '{"issued":%d,"ok":%d,"bad":%d,"found":%d,"absent":%d,"first_us":0,"last_us":0,"statuses":{%s}}',
      t:get("issued"), t:get("ok"), t:get("bad"), t:get("found"), t:get("absent"), table.concat(st, ","))
  end
  local e = summary.errors
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"threads":[%s],"wrk_duration_us":%d,"wrk_requests":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}',
    table.concat(parts, ","), summary.duration, summary.requests,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
  out:close()
end

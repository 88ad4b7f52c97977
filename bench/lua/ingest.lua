-- Replays pre-signed Resend deliveries (bench/lib/payloads.ts writes them), each exactly once.
-- Each wrk thread has its own Lua state and reads its own file, so no svix-id is sent twice.
-- When a thread's file runs out it stops; the bench times the run itself (first request to last
-- response, CLOCK_MONOTONIC through LuaJIT's ffi) because wrk's own duration always equals -d.
--
-- Environment: BENCH_POOL (file prefix), BENCH_PATH (URL path), BENCH_OUT (JSON result file).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC: comparable across threads
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("BENCH_PATH") or "/webhooks/resend"
  local file = assert(io.open(os.getenv("BENCH_POOL") .. "-" .. tid .. ".tsv", "r"))
  reqs = {}
  for line in file:lines() do
    local a = line:find("\t", 1, true)
    if a then
      local b = line:find("\t", a + 1, true)
      local c = line:find("\t", b + 1, true)
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["svix-id"] = line:sub(1, a - 1),
        ["svix-timestamp"] = line:sub(a + 1, b - 1),
        ["svix-signature"] = line:sub(b + 1, c - 1),
      }, line:sub(c + 1))
    end
  end
  file:close()
  idle = wrk.format("GET", "/healthz")
  -- wrk calls request() once on thread 0 before the run to check for pipelining, and never sends
  -- that request: answer it with the harmless one so no delivery is consumed unsent.
  verifying = tid == 0
  pool = #reqs
  issued, ok, bad, first_us, last_us, exhausted = 0, 0, 0, 0, 0, 0
  statuses = {}
  -- Loading a large pool takes seconds: tell the bench when this thread is ready to send.
  local marker = io.open(os.getenv("BENCH_OUT") .. ".started-" .. tid, "w")
  if marker then marker:close() end
end

function request()
  if verifying then
    verifying = false
    return idle
  end
  if issued >= pool then
    -- Out of deliveries: stop this thread (wrk still writes what we return, so make it harmless)
    -- and leave a marker so the bench can end wrk's sleep early instead of waiting for -d.
    if exhausted == 0 then
      exhausted = 1
      wrk.thread:stop()
      local marker = io.open(os.getenv("BENCH_OUT") .. ".exhausted-" .. tid, "w")
      if marker then marker:close() end
    end
    return idle
  end
  issued = issued + 1
  if first_us == 0 then first_us = now_us() end
  return reqs[issued]
end

function response(status, headers, body)
  last_us = now_us()
  if status >= 200 and status < 300 then
    ok = ok + 1
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
      '{"issued":%d,"ok":%d,"bad":%d,"first_us":%d,"last_us":%d,"exhausted":%d,"pool":%d,"statuses":{%s}}',
      t:get("issued"), t:get("ok"), t:get("bad"), t:get("first_us"), t:get("last_us"),
      t:get("exhausted"), t:get("pool"), table.concat(st, ","))
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

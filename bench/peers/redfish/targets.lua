-- wrk script for bench/redfish.py: one target (address, path, auth header) per thread.
--
--   SCALEUNIT_WRK_TARGETS=targets.tsv SCALEUNIT_WRK_OUT=out.json \
--     wrk -t16 -c16 -d5s -s targets.lua http://127.0.81.3:18443/
--
-- targets.tsv: one line per target, tab-separated: address, port, path, header name, header
-- value (name and value may be empty: no auth header). Thread i (from 0) gets target
-- i mod #targets: its connections go to that address (thread.addr) and send one pre-built
-- GET (with Host and the auth header) over and over. With as many threads as connections
-- (bench/redfish.py always runs -t N -c N), 16 threads over 16 targets is one connection per BMC.
--
-- done() writes the summary, latency percentiles (microseconds) and each thread's request
-- count as one JSON object to SCALEUNIT_WRK_OUT.

local targets = {}
local path = os.getenv("SCALEUNIT_WRK_TARGETS")
if path then
  for line in io.lines(path) do
    if line ~= "" then
      local f = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
      targets[#targets + 1] = {addr = f[1], port = f[2], path = f[3], hname = f[4], hvalue = f[5]}
    end
  end
end

local threads = {}

function setup(thread)
  local i = #threads
  threads[i + 1] = thread
  local t = targets[(i % #targets) + 1]
  thread.addr = wrk.lookup(t.addr, t.port)[1]
  thread:set("target_index", (i % #targets) + 1)
end

function init(args)
  local t = targets[target_index]
  local headers = {Host = t.addr .. ":" .. t.port}
  if t.hname ~= nil and t.hname ~= "" then headers[t.hname] = t.hvalue end
  req = wrk.format("GET", t.path, headers)
  sent = 0
end

function request()
  sent = sent + 1
  return req
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("SCALEUNIT_WRK_OUT"), "w"))
  local e = summary.errors
  local per_thread = {}
  for i, thread in ipairs(threads) do
    per_thread[i] = string.format("[%d, %d]", thread:get("target_index"), thread:get("sent"))
  end
  out:write(string.format(
    '{"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, ' ..
    '"p999": %d}, "threads": [%s]}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), table.concat(per_thread, ", ")))
  out:close()
end

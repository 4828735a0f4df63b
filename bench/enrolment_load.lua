-- wrk script: enrol distinct residents across many sessions, and cancel some of the enrolments
-- it made (2 enrolments : 1 cancellation). Arguments (after `--`):
--   token  prefix  residents  sessions  threads
-- Residents are "<prefix>-r<i>" (i = 1..residents), sessions "<prefix>-s<j>" (j = 1..sessions);
-- the runner (enrolment_load.py) prepares them. Every (resident, session) pair is used once.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  token, prefix = args[1], args[2]
  residents, sessions = tonumber(args[3]), tonumber(args[4])
  nthreads = tonumber(args[5])
  n, sent_enrol, sent_cancel = 0, 0, 0
  codes = {}
  pending = {}
  headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
end

function request()
  n = n + 1
  if n % 3 == 0 and #pending > 0 then
    sent_cancel = sent_cancel + 1
    return wrk.format("DELETE", "/v1/enrolments/" .. table.remove(pending, 1), headers)
  end
  -- pair number k, distinct across threads: session = k mod S (spread), resident = k div S
  local k = sent_enrol * nthreads + (tid - 1)
  sent_enrol = sent_enrol + 1
  local s = k % sessions + 1
  local r = math.floor(k / sessions) % residents + 1
  return wrk.format("POST", "/v1/sessions/" .. prefix .. "-s" .. s .. "/enrolments", headers,
    '{"resident_id":"' .. prefix .. "-r" .. r .. '"}')
end

function response(status, hdrs, body)
  codes[status] = (codes[status] or 0) + 1
  if status == 201 then
    local id = string.match(body, '"enrolment_id":"([^"]+)"')
    if id then table.insert(pending, id) end
  end
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    for k, v in pairs(c) do merged[k] = (merged[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, '"' .. k .. '":' .. v) end
  local secs = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.2f,"rps":%.1f,"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,' ..
    '"max_ms":%.2f,"socket_errors":%d,"non_2xx_3xx":%d,"codes":{%s}}\n',
    summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, table.concat(parts, ",")))
end

-- wrk script for POST /v1/events with contact events (inbound, which the rules do not
-- restrict: on PostgreSQL one statement with the lock, the lookups and both inserts): each
-- request records a new inbound call (the borrower called; no conduct decision) of a
-- pseudo-random borrower B00000001..B<BORROWERS>.
--   ARREARS_TOKEN=arr_… BORROWERS=1000000 wrk -t2 -c32 -d30s --latency -s bench/contact_events.lua URL
local n = tonumber(os.getenv("BORROWERS") or "1000000")
local token = os.getenv("ARREARS_TOKEN") or ""
local seq = 0
-- The thread number, set by setup() in each thread's own state (a global: a `local` here
-- would hide it, and every thread would send the same ids).
tid = 0
local threads = 0
local run = os.time()

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(tid * 7919 + run)
end

request = function()
  seq = seq + 1
  local b = math.random(1, n)
  local body = string.format(
    '{"event_id":"wrkc-%d-%d-%d","type":"contact","contact_id":"wrkc-%d-%d-%d",' ..
    '"borrower_id":"B%08d","channel":"call","direction":"inbound",' ..
    '"at":"2026-11-30T03:00:00Z","outcome":"right_party"}',
    run, tid, seq, run, tid, seq, b)
  return wrk.format("POST", "/v1/events", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

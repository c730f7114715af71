-- wrk script for POST /v1/events (issue 5 speed target): each request is a new payment event
-- (a unique event id per thread and request) on a pseudo-random loan L00000001..L<LOANS>.
--   ARREARS_TOKEN=arr_… LOANS=1000000 wrk -t2 -c32 -d30s --latency -s bench/events.lua URL
local loans = tonumber(os.getenv("LOANS") or os.getenv("BORROWERS") or "1000000")
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
  math.randomseed(tid * 104729 + run)
end

request = function()
  seq = seq + 1
  local l = math.random(1, loans)
  local body = string.format(
    '{"event_id":"wrk-%d-%d-%d","type":"payment","payment_id":"wrk-%d-%d-%d",' ..
    '"loan_id":"L%08d","received_at":"2026-11-30T03:00:00Z","amount_minor":100}',
    run, tid, seq, run, tid, seq, l)
  return wrk.format("POST", "/v1/events", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

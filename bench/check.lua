-- wrk script for POST /v1/contacts/check (issue 5 speed target):
--   ARREARS_TOKEN=arr_… BORROWERS=1000000 wrk -t2 -c32 -d30s --latency -s bench/check.lua http://127.0.0.1:8080
-- Each request asks about a pseudo-random borrower B00000001..B<BORROWERS> (generated ids),
-- an SMS at a fixed instant, so the answer depends on that borrower's own facts and history.
local n = tonumber(os.getenv("BORROWERS") or "1000000")
local token = os.getenv("ARREARS_TOKEN") or ""
local counter = 0
-- Set by setup() in each thread's own state (a global: a `local` would hide it).
seed = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init(args)
  math.randomseed(seed * 7919)
end

request = function()
  local b = math.random(1, n)
  local body = string.format(
    '{"borrower_id":"B%08d","channel":"call","at":"2026-11-30T03:00:00Z"}', b)
  return wrk.format("POST", "/v1/contacts/check", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

-- wrk script for POST /v1/contacts with outbound calls: the path that decides under the
-- borrower's row lock (BEGIN, the lock with the lookups, the borrower's facts, the conduct
-- decision, both inserts, COMMIT). Each request records a new outbound call of a
-- pseudo-random borrower to their own phone at 10:00 their time, from OUTBOUND (lines
-- `borrower_id,phone,at`, written by bench/check_bench.sh); the rules allow most (201) and
-- deny others (422 with the rule ids: a dispute, a cap, …), both after the full decision.
-- The count of each status is printed at the end.
--   ARREARS_TOKEN=arr_… OUTBOUND=file.csv wrk -t2 -c32 -d30s --latency -s bench/outbound_events.lua URL
local ids, phones, ats = {}, {}, {}
for line in io.lines(os.getenv("OUTBOUND") or "outbound.csv") do
  local id, phone, at = line:match("^([^,]*),([^,]*),([^,]*)$")
  if id then
    ids[#ids + 1], phones[#phones + 1], ats[#ats + 1] = id, phone, at
  end
end
local n = #ids
local token = os.getenv("ARREARS_TOKEN") or ""
local seq = 0
-- The thread number, set by setup() in each thread's own state (a global: a `local` here
-- would hide it, and every thread would send the same ids).
tid = 0
c201, c422, cother = 0, 0, 0
local threads = {}
local run = os.time()

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  math.randomseed(tid * 7919 + run)
end

request = function()
  seq = seq + 1
  local b = math.random(1, n)
  local body = string.format(
    '{"contact_id":"wrko-%d-%d-%d","borrower_id":"%s","channel":"call","target":"%s",' ..
    '"direction":"outbound","at":"%s","outcome":"no_answer"}',
    run, tid, seq, ids[b], phones[b], ats[b])
  return wrk.format("POST", "/v1/contacts", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

response = function(status, headers, body)
  if status == 201 then c201 = c201 + 1
  elseif status == 422 then c422 = c422 + 1
  else cother = cother + 1 end
end

function done(summary, latency, requests)
  local a, d, o = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("c201"); d = d + t:get("c422"); o = o + t:get("cother")
  end
  io.write(string.format("recorded (201): %d, denied (422): %d, other: %d\n", a, d, o))
end

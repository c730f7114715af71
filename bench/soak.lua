-- wrk script for the soak (bench/soak.sh): mixed API and page traffic over a demo store.
--   ARREARS_TOKEN=arr_… SESSION=cookie=value SAMPLE=ids.csv AGENT_LOAN=L… QUEUE=q AS_OF=D \
--   wrk -t2 -c16 -d600s -s bench/soak.lua http://127.0.0.1:PORT
-- SAMPLE holds "loan_id,borrower_id" lines; each request picks one at random. The mix, by
-- weight out of 100:
--   25 POST /v1/contacts/check       10 GET /v1/accounts/{loan}     8 GET /v1/loans/{loan}/promises
--    5 GET /v1/loans/{loan}/payment-plans   5 POST /v1/events (a new payment each time)
--    7 GET /v1/plan?limit=50          5 GET /v1/queues/{queue}?limit=50
--   10 GET /login (page)             10 GET / (the agent's desk, signed in)
--    5 GET /accounts/{agent's loan} (page, signed in)   5 GET /verify (page, no code)
--    5 GET /healthz
-- Every answer should be 2xx or 3xx: the routes are all within the token's scopes and the
-- agent's loans, and no rate limit applies (no login is tried, /verify is asked without a
-- code). done() prints the answers by status and "unexpected: N" for the others.
local token = os.getenv("ARREARS_TOKEN") or ""
local session = os.getenv("SESSION") or ""
local agent_loan = os.getenv("AGENT_LOAN") or "L0"
local queue = os.getenv("QUEUE") or "early"
local as_of = os.getenv("AS_OF") or "2026-11-28"
local sample = os.getenv("SAMPLE") or "sample.csv"

seed = 0
local threads = {}
local loans, borrowers = {}, {}
local counter = 0
statuses = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("seed", #threads)
end

function init(args)
  math.randomseed(seed * 7919)
  for line in io.lines(sample) do
    local l, b = line:match("^([^,]+),([^,]+)$")
    if l then
      table.insert(loans, l)
      table.insert(borrowers, b)
    end
  end
  statuses = {}
end

local api = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. token,
}
local page = { ["Cookie"] = session }

local function get_api(path)
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end

request = function()
  local i = math.random(1, #loans)
  local loan, borrower = loans[i], borrowers[i]
  local r = math.random(1, 100)
  if r <= 25 then
    local body = string.format(
      '{"borrower_id":"%s","channel":"call","at":"%sT15:00:00Z"}', borrower, as_of)
    return wrk.format("POST", "/v1/contacts/check", api, body)
  elseif r <= 35 then
    return get_api("/v1/accounts/" .. loan)
  elseif r <= 43 then
    return get_api("/v1/loans/" .. loan .. "/promises?as_of=" .. as_of)
  elseif r <= 48 then
    return get_api("/v1/loans/" .. loan .. "/payment-plans?as_of=" .. as_of)
  elseif r <= 53 then
    counter = counter + 1
    local id = string.format("SOAK-%d-%d-%d", seed, os.time(), counter)
    local body = string.format(
      '{"event_id":"%s","type":"payment","payment_id":"%s","loan_id":"%s","received_at":"%sT10:00:00Z","amount_minor":1}',
      id, id, loan, as_of)
    return wrk.format("POST", "/v1/events", api, body)
  elseif r <= 60 then
    return get_api("/v1/plan?as_of=" .. as_of .. "&limit=50")
  elseif r <= 65 then
    return get_api("/v1/queues/" .. queue .. "?as_of=" .. as_of .. "&limit=50")
  elseif r <= 75 then
    return wrk.format("GET", "/login")
  elseif r <= 85 then
    return wrk.format("GET", "/", page)
  elseif r <= 90 then
    return wrk.format("GET", "/accounts/" .. agent_loan, page)
  elseif r <= 95 then
    return wrk.format("GET", "/verify")
  else
    return wrk.format("GET", "/healthz")
  end
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do
      all[code] = (all[code] or 0) + n
    end
  end
  local unexpected = 0
  local codes = {}
  for code, n in pairs(all) do
    table.insert(codes, code)
    if code < 200 or code >= 400 then
      unexpected = unexpected + n
    end
  end
  table.sort(codes)
  for _, code in ipairs(codes) do
    io.write(string.format("status %d: %d\n", code, all[code]))
  end
  io.write(string.format("unexpected: %d\n", unexpected))
  io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end

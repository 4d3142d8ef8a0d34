-- wrk script for bench/load.sh: one fixed request per call, and a hard cap on how many requests
-- each wrk thread sends (the run also ends at wrk's -d duration, whichever comes first).
--
-- Environment (read once per thread):
--   BENCH_METHOD   GET or POST (default GET)
--   BENCH_BODY     request body for POST (application/x-www-form-urlencoded)
--   BENCH_AUTH     value of the Authorization header, if any
--   BENCH_MAX      maximum requests per wrk thread (default 1000000)

local req
local sent = 0
local max = tonumber(os.getenv("BENCH_MAX") or "") or 1000000

function init(args)
  local method = os.getenv("BENCH_METHOD") or "GET"
  local headers = {}
  local body = nil
  local auth = os.getenv("BENCH_AUTH")
  if auth and auth ~= "" then
    headers["Authorization"] = auth
  end
  if method == "POST" then
    body = os.getenv("BENCH_BODY") or ""
    headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
  -- wrk.format fills in Host and Content-Length; the path comes from the URL given to wrk.
  req = wrk.format(method, nil, headers, body)
end

function request()
  sent = sent + 1
  if sent > max then
    wrk.thread:stop()
  end
  return req
end

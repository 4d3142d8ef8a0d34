-- wrk script for bench/management.sh: POST /api/v1/user with a new, unique email on every call,
-- and a hard cap on how many requests each wrk thread sends.
--
-- Environment (read once per thread):
--   BENCH_AUTH     value of the Authorization header ("Bearer …")
--   BENCH_MAX      maximum requests per wrk thread (default 1000000)
--   BENCH_PREFIX   prefix of the generated emails (default "load"), unique per run

local sent = 0
local max, headers, prefix

function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end

function init(args)
  max = tonumber(os.getenv("BENCH_MAX") or "") or 1000000
  prefix = os.getenv("BENCH_PREFIX") or "load"
  headers = {
    ["Authorization"] = os.getenv("BENCH_AUTH") or "",
    ["Content-Type"] = "application/json",
  }
end

function request()
  sent = sent + 1
  if sent > max then
    wrk.thread:stop()
  end
  local body = string.format(
    '{"profile":{"given_name":"Load","family_name":"Test"},' ..
    '"identities":[{"type":"email","details":{"email":"%s-%s-%d@example.com"}}]}',
    prefix, tid, sent)
  return wrk.format("POST", nil, headers, body)
end

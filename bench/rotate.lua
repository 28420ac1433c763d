-- wrk script: rotate over shopper queries so no single answer dominates
--   wrk ... -s bench/rotate.lua URL -- bench/queries.txt
-- (one query a line, URL-encoded; k=8)
local queries = {}
local i = 0

init = function(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      queries[#queries + 1] = line
    end
  end
end

request = function()
  i = i + 1
  local q = queries[(i % #queries) + 1]
  return wrk.format("GET", wrk.path .. "?q=" .. q .. "&k=8")
end

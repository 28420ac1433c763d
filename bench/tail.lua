-- wrk script: a hot set and a long tail, so that cache misses go on for
-- the whole run (the LLM benchmark)
--   wrk ... -s bench/tail.lua URL -- HOT_FILE TAIL_FILE EVERY
-- HOT_FILE: queries rotated over (one a line, URL-encoded, k=8);
-- TAIL_FILE: "?q=...&k=..." query strings, each sent once, in order;
-- every EVERY-th request is the next line of TAIL_FILE.
local hot, tail = {}, {}
local every
local i, t = 0, 0

local function read(file, list)
  for line in io.lines(file) do
    if line ~= "" then
      list[#list + 1] = line
    end
  end
end

init = function(args)
  read(args[1], hot)
  read(args[2], tail)
  every = tonumber(args[3])
end

request = function()
  i = i + 1

  if i % every == 0 then
    t = t + 1
    return wrk.format("GET", wrk.path .. tail[(t - 1) % #tail + 1])
  end

  return wrk.format("GET", wrk.path .. "?q=" .. hot[(i % #hot) + 1] .. "&k=8")
end

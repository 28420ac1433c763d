-- wrk script: a query never asked before on every request, so each one
-- misses every cache.  The count is spelt in letters: digits that look
-- like a phone number are redacted into one and the same "[phone]".
-- BENCH_PREFIX (letters) keeps runs apart.
local prefix = os.getenv("BENCH_PREFIX") or "run"
local i = 0

local function letters(n)
  local s = ""
  repeat
    s = string.char(97 + n % 26) .. s
    n = math.floor(n / 26)
  until n == 0
  return s
end

request = function()
  i = i + 1
  return wrk.format("GET", wrk.path .. "?q=running+shoes+" .. prefix .. "+"
                    .. letters(i) .. "&k=8")
end

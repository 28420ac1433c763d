-- wrk script: rotate over shopper queries so no single answer dominates
local queries = {
  "running+shoes", "running+shoes+under+100", "trail+running+shoes",
  "lightweight+laptop", "gaming+laptop", "noise+cancelling+headphones",
  "wireless+earbuds", "cast+iron+skillet", "nonstick+frying+pan",
  "chef+knife", "espresso+machine", "coffee+grinder", "yoga+mat",
  "camping+tent", "hiking+backpack", "waterproof+jacket",
  "building+blocks", "board+game", "smart+watch", "4k+monitor",
  "mechanical+keyboard", "office+chair", "water+bottle", "blender",
  "air+fryer", "cordless+vacuum", "desk+lamp", "winter+boots",
  "cotton+t-shirt", "sunglasses", "bluetooth+speaker", "phone+case"
}
local i = 0

request = function()
  i = i + 1
  local q = queries[(i % #queries) + 1]
  return wrk.format("GET", wrk.path .. "?q=" .. q .. "&k=8")
end

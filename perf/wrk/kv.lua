-- ringwire's KV over HTTP: GET or PUT /kv/key:<12 digits> for random keys of a preloaded set
-- (the names redis-benchmark -r draws, so both read the same keys).
-- Arguments: method (GET or PUT, default GET), number of keys (10000), PUT value size (64),
-- requests per write, i.e. pipelining depth (1).
-- The random requests are built once at init and request() cycles through them, so wrk spends
-- its CPU on the sockets rather than on building strings in Lua.
init = function(args)
  local method = args[1] or "GET"
  local keys = tonumber(args[2]) or 10000
  local size = tonumber(args[3]) or 64
  local depth = tonumber(args[4]) or 1
  local body = nil
  if method == "PUT" then
    body = string.rep("v", size)
  end
  math.randomseed(os.time())
  batches = {}
  for b = 1, math.max(1024, math.floor(65536 / depth)) do
    local r = {}
    for i = 1, depth do
      r[i] = wrk.format(method, string.format("/kv/key:%012d", math.random(0, keys - 1)), nil, body)
    end
    batches[b] = table.concat(r)
  end
  next_batch = 0
end

request = function()
  next_batch = next_batch % #batches + 1
  return batches[next_batch]
end

-- POST /echo with a 4 KiB body (size from the first script argument).
init = function(args)
  local size = tonumber(args[1]) or 4096
  wrk.method = "POST"
  wrk.body = string.rep("x", size)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

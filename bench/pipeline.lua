-- HTTP/1.1 pipelining for wrk: every "request" is DEPTH GET requests written
-- back to back on one connection; wrk counts each response separately.
--
-- usage: wrk -s bench/pipeline.lua http://127.0.0.1:PORT/1k.bin -- [DEPTH] [PATH]
--   DEPTH defaults to 16, PATH to the path of the URL given to wrk.

local req

init = function(args)
   local depth = tonumber(args[1]) or 16
   local path = args[2]            -- nil => wrk.path (taken from the URL)
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, path)
   end
   req = table.concat(r)
end

request = function()
   return req
end

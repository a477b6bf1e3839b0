-- wrk script: replays the pre-signed requests gen.js wrote (REQUESTS_FILE), one per request, in order.
-- Each wrk thread reads the file from its own offset; at the end it starts over (those are duplicates:
-- generate more requests than a run sends).
local f
function init(args)
  f = assert(io.open(os.getenv("REQUESTS_FILE"), "rb"))
end
function request()
  local len = f:read("*l")
  if not len then
    f:seek("set", 0)
    len = f:read("*l")
  end
  return f:read(tonumber(len))
end

-- wrk script: POST one line of a file per request, each line "<session cookie>\t<form body>".
-- Arguments after `--`: the file and the number of wrk threads. Thread k takes lines k,
-- k+n, k+2n...: no two requests share a line until the file runs out (then it wraps), so
-- every sign-in carries a guest cart token of its own.
local next_offset = 0

function setup(thread)
   thread:set("offset", next_offset)
   next_offset = next_offset + 1
end

local lines = {}
local position, stride

function init(args)
   for line in io.lines(args[1]) do
      local cookie, body = line:match("^([^\t]*)\t(.*)$")
      lines[#lines + 1] = {cookie = cookie, body = body}
   end
   stride = tonumber(args[2])
   position = offset
end

function request()
   local entry = lines[position % #lines + 1]
   position = position + stride
   return wrk.format("POST", nil, {
      ["Cookie"] = "session=" .. entry.cookie,
      ["Content-Type"] = "application/x-www-form-urlencoded",
   }, entry.body)
end

"""The ``redis`` store's Lua scripts: what must happen at once happens in one script.

Redis runs a script without interleaving any other command, so a record and its index
entries appear (or go) together, a step is stored only under a run that exists, and
counters move together. Each comment says what the script expects in KEYS and ARGV.
"""

# KEYS[1] the record (must not exist); KEYS[2..] sorted sets that index it. ARGV[1] the
# number of hash fields (0: the record is a string, ARGV[2]), then the string or the
# field/value pairs, then one score/member pair per sorted set.
INSERT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = tonumber(ARGV[1])
local at = 3
if n == 0 then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * n))
  at = 2 + 2 * n
end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[at], ARGV[at + 1])
  at = at + 2
end
return 1
"""

# KEYS[1] the run, KEYS[2] its steps, KEYS[3..] sorted sets holding it; when ARGV[2] (its
# task id) is given, the last two are its task's set and the set of task ids.
DELETE_RUN = """
local n = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
local last = #KEYS
if ARGV[2] ~= '' then last = last - 1 end
for i = 3, last do redis.call('ZREM', KEYS[i], ARGV[1]) end
if ARGV[2] ~= '' and redis.call('ZCARD', KEYS[last]) == 0 then
  redis.call('ZREM', KEYS[#KEYS], ARGV[2])
end
return n
"""

# KEYS[1] the run, KEYS[2] its steps; ARGV[1] seq, ARGV[2] the step. Returns nil for no
# such run, 1 when stored, or the step already stored at that seq.
APPEND_STEP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then return 1 end
return redis.call('HGET', KEYS[2], ARGV[1])
"""

# KEYS: ARGV[1] scope hashes, then lesson hashes (unknown ones are skipped); ARGV[2] 1 or
# 0 for passed. Types are checked first so that a bad key changes nothing.
COUNT = """
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t ~= 'hash' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. t)
  end
end
local scopes = tonumber(ARGV[1])
local passed = tonumber(ARGV[2])
for i = 1, #KEYS do
  if i <= scopes then
    redis.call('HINCRBY', KEYS[i], 'runs', 1)
    redis.call('HINCRBY', KEYS[i], 'passed', passed)
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'uses', 1)
    redis.call('HINCRBY', KEYS[i], 'helped', passed)
  end
end
return 1
"""

# KEYS[1] the lesson, KEYS[2] all lessons by time, KEYS[3] the new status's set, KEYS[4..]
# every status's set. ARGV[1] the id, ARGV[2] the status.
SET_STATUS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1]) or 0
redis.call('HSET', KEYS[1], 'status', ARGV[2])
for i = 4, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('ZADD', KEYS[3], score, ARGV[1])
return 1
"""

#: Registered on the client by ``open()``, by these names.
SCRIPTS = {
    "insert": INSERT,
    "delete_run": DELETE_RUN,
    "append_step": APPEND_STEP,
    "count": COUNT,
    "set_status": SET_STATUS,
}

-- Store a new subscription (POST /v1/subscriptions) within the environment's bound: counting and storing
-- are one atomic step, so concurrent creations can never take the environment past the bound.
-- KEYS[1] subscriptions hash
-- ARGV[1] subscription id, ARGV[2] the subscription's JSON as stored, ARGV[3] the bound
-- Returns 1 when stored, 0 when the id is taken (nothing is overwritten), -1 when the environment is full.
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return -1
end
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])

// Compare-and-set scripts for a lease: a string key holding its owner, with a TTL the owner renews.
// Used for room claims (room-claims.ts) and transcript outbox deliverers (transcript-outbox.ts).

/** KEYS[1] lease; ARGV[1] owner value, ARGV[2] TTL (ms). Renews the lease if we hold it (1), else 0. */
export const RENEW_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/** KEYS[1] lease; ARGV[1] owner value. Deletes the lease if we hold it (1), else 0. */
export const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

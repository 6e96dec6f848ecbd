import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RedisDeliveryClaims } from '../../src/jobs/delivery-claims.ts';
import { redisConnection } from '../../src/jobs/cluster/cluster-names.ts';
import { findRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';

// Claims on posting a result, shared by gateways through a real redis-server.

const redisBinary = await findRedisServer();
const skip = redisBinary ? false : 'redis-server is not installed (CI installs it; apt-get install redis-server)';
let redis: RedisServer;

before(async () => {
  if (!skip) redis = await startRedisServer(redisBinary!);
});

after(async () => {
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a claim lapses with its holder's liveness: while the holder lives nobody else takes it; seconds after it dies (no release) another gateway does; a posted result is never claimed again", { skip, timeout: 30_000 }, async () => {
  const aConnection = redisConnection(redis.url);
  const bConnection = redisConnection(redis.url);
  const a = new RedisDeliveryClaims(aConnection, 'test:posted:', { livenessMs: 600 });
  const b = new RedisDeliveryClaims(bConnection, 'test:posted:', { livenessMs: 600 });
  try {
    assert.equal(await a.claim('JobLiveness1'), true);
    assert.equal(await a.claim('JobLiveness1'), false, 'one attempt at a time in the holder itself');
    await sleep(1_500);
    assert.equal(await b.claim('JobLiveness1'), false, 'its holder lives (it renews its liveness)');
    // The holder dies: no release, no more renewals.
    aConnection.disconnect();
    await sleep(1_000);
    assert.equal(await b.claim('JobLiveness1'), true, "the dead holder's claim has lapsed");
    await b.posted('JobLiveness1');
    await b.release('JobLiveness1');
    const cConnection = redisConnection(redis.url);
    const c = new RedisDeliveryClaims(cConnection, 'test:posted:', { livenessMs: 600 });
    assert.equal(await c.claim('JobLiveness1'), false, 'posted: never again');
    await c.close();
    cConnection.disconnect();
  } finally {
    aConnection.disconnect();
    bConnection.disconnect();
    await Promise.allSettled([a, b].map(async (claims) => claims.close()));
  }
});

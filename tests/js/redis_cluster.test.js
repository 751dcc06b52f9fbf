// phoenix.js against two Relayman nodes sharing a real redis-server: events cross between the
// nodes, and a Redis restart costs no subscriber (the same channel, never rejoined, gets the next
// events). The Python side of these tests is tests/test_redis_*.py.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cloudEvent, startRelayman, uniqueSource } from "./support/relayman.js";
import { Recorder, atLeast, connect, hasId, pushes } from "./support/phoenix.js";
import { REDIS_OPTIONS as OPTIONS, REDIS_SERVER, Redis } from "./support/redis.js";

const RECOVERY_MS = 10_000;

let redis;
let nodes;
before(async () => {
  if (!REDIS_SERVER) return;
  redis = await new Redis().start();
  const env = { REDIS_URL: redis.url };
  nodes = await Promise.all([startRelayman({ env }), startRelayman({ env })]);
});
after(async () => {
  await Promise.all((nodes ?? []).map((node) => node.close()));
  if (redis?.child.exitCode === null) await redis.kill();
});

/** A phoenix.js channel on `node`, joined to `source`: its joins and its pushes. */
async function subscribe(t, node, source) {
  const socket = connect(node);
  t.after(() => socket.disconnect());
  const channel = socket.channel(`source:${source}`);
  const created = pushes(channel, "created");
  const probes = pushes(channel, "probe");
  const joins = new Recorder();
  channel.join().receive("ok", joins.record);
  await joins.until(atLeast(1), `the join on ${node.url}`);
  return { created, probes, joins };
}

function post(node, event) {
  return fetch(`${node.url}/events`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(event),
    signal: AbortSignal.timeout(2000),
  });
}

test("an event posted to one node reaches phoenix.js on the other", OPTIONS, async (t) => {
  const [a, b] = nodes;
  const source = uniqueSource("cross-node");
  const onA = await subscribe(t, a, source);
  const onB = await subscribe(t, b, source);
  const first = await a.post(cloudEvent({ source }));
  const second = await b.post(cloudEvent({ source }));
  for (const { created } of [onA, onB]) {
    await created.until(atLeast(2), "both events");
    assert.deepEqual(created.items, [first, second]);
  }
});

test("a Redis restart costs no subscriber: the channel never rejoins", OPTIONS, async (t) => {
  const [a, b] = nodes;
  const source = uniqueSource("redis-restart");
  const { created, probes, joins } = await subscribe(t, b, source);
  const before = await a.post(cloudEvent({ source }));
  await created.until(hasId(before.id), "the event before Redis went away");

  await redis.kill();
  assert.equal((await post(a, cloudEvent({ source }))).status, 503);
  await redis.start();

  // Delivery resumes by itself within a few seconds: probe until one gets through.
  const deadline = Date.now() + RECOVERY_MS;
  while (probes.items.length === 0) {
    assert.ok(Date.now() < deadline, `no delivery ${RECOVERY_MS} ms after Redis came back`);
    await post(a, cloudEvent({ source, type: "probe" })).catch(() => {});
    await new Promise((wake) => setTimeout(wake, 200));
  }
  const next = await a.post(cloudEvent({ source }));
  await created.until(hasId(next.id), "the event after Redis came back");
  assert.deepEqual(created.items, [before, next]);
  assert.equal(joins.items.length, 1, "the channel never rejoined");
});

// Catch-up on rejoin with the stock phoenix.js: a channel whose params are a function sends the
// id of the last event it received on every rejoin, and gets what it missed in the join reply,
// then live events, each once. Embedded history here, Redis history across two nodes below.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { cloudEvent, startRelayman, uniqueSource } from "./support/relayman.js";
import { Recorder, atLeast, connect, hasId, once } from "./support/phoenix.js";
import { REDIS_OPTIONS, REDIS_SERVER, Redis } from "./support/redis.js";

const TIMEOUT = { timeout: 60_000 };
const HISTORY = { RELAYMAN_HISTORY_SIZE: "8" };

/**
 * A phoenix.js client as the README shows it: it records the id of each event it receives and
 * rejoins with it. Its reconnection waits until `reconnectNow()`, so the test decides what
 * happens while it is away.
 */
function catchingUpClient(t, node, source) {
  let delay = 60_000;
  const socket = connect(node, { reconnectAfterMs: () => delay, rejoinAfterMs: () => 50 });
  t.after(() => socket.disconnect());
  let lastSeen;
  const channel = socket.channel(`source:${source}`, () => ({ last_event_id: lastSeen }));
  const created = new Recorder();
  channel.on("created", (event) => {
    lastSeen = event.id;
    created.record(event);
  });
  const joins = new Recorder();
  channel.join().receive("ok", (reply) => {
    reply.messages.forEach((event) => (lastSeen = event.id));
    joins.record(reply);
  });
  return {
    socket,
    created,
    joins,
    lastSeen: () => lastSeen,
    async drop() {
      const closed = once((callback) => socket.onClose(callback), "the transport to drop");
      socket.conn.terminate();
      await closed;
    },
    reconnectNow() {
      delay = 0;
      socket.reconnectTimer.scheduleTimeout();
    },
  };
}

async function postAll(node, source, count) {
  const posted = [];
  for (let n = 0; n < count; n++) posted.push(await node.post(cloudEvent({ source, data: { n } })));
  return posted;
}

describe("with the embedded layer", () => {
  let relayman;
  before(async () => {
    relayman = await startRelayman({ env: HISTORY });
  });
  after(() => relayman?.close());

  test("the events posted while away come in the rejoin reply, then live ones", TIMEOUT, async (t) => {
    const source = uniqueSource("catch-up");
    const client = catchingUpClient(t, relayman, source);
    await client.joins.until(atLeast(1), "the first join");
    const [first] = await postAll(relayman, source, 1);
    await client.created.until(hasId(first.id), "the event before the drop");

    await client.drop();
    const missed = await postAll(relayman, source, 5);
    client.reconnectNow();
    await client.joins.until(atLeast(2), "the rejoin", 10_000);

    assert.deepEqual(client.joins.items, [
      { messages: [] },
      { messages: missed, recovered: true },
    ]);
    const live = await relayman.post(cloudEvent({ source }));
    await client.created.until(hasId(live.id), "the live event after the rejoin");
    assert.deepEqual(client.created.items, [first, live], "nothing pushed twice");
  });

  test("an id older than the kept history answers recovered: false", TIMEOUT, async (t) => {
    const source = uniqueSource("too-old");
    const client = catchingUpClient(t, relayman, source);
    await client.joins.until(atLeast(1), "the first join");
    const [first] = await postAll(relayman, source, 1);
    await client.created.until(hasId(first.id), "the event before the drop");

    await client.drop();
    await postAll(relayman, source, 9); // one more than the 8 kept: `first` is gone
    client.reconnectNow();
    await client.joins.until(atLeast(2), "the rejoin", 10_000);

    assert.deepEqual(client.joins.items[1], { messages: [], recovered: false });
    const live = await relayman.post(cloudEvent({ source }));
    await client.created.until(hasId(live.id), "the live event after the rejoin");
  });
});

describe("with Redis, across two nodes", () => {
  let redis;
  let nodes;
  before(async () => {
    if (!REDIS_SERVER) return;
    redis = await new Redis().start();
    const env = { REDIS_URL: redis.url, ...HISTORY };
    nodes = await Promise.all([startRelayman({ env }), startRelayman({ env })]);
  });
  after(async () => {
    await Promise.all((nodes ?? []).map((node) => node.close()));
    if (redis?.child.exitCode === null) await redis.kill();
  });

  test("a client that leaves node A catches up on node B", REDIS_OPTIONS, async (t) => {
    const [a, b] = nodes;
    const source = uniqueSource("cross-node-catch-up");
    const onA = catchingUpClient(t, a, source);
    await onA.joins.until(atLeast(1), "the join on A");
    const [first] = await postAll(a, source, 1);
    await onA.created.until(hasId(first.id), "the event on A");
    onA.socket.disconnect();

    const missed = [...(await postAll(a, source, 3)), ...(await postAll(b, source, 2))];
    const socket = connect(b);
    t.after(() => socket.disconnect());
    const channel = socket.channel(`source:${source}`, () => ({ last_event_id: first.id }));
    const created = new Recorder();
    channel.on("created", created.record);
    const joins = new Recorder();
    channel.join().receive("ok", joins.record);
    await joins.until(atLeast(1), "the join on B");

    assert.deepEqual(joins.items, [{ messages: missed, recovered: true }]);
    const live = await a.post(cloudEvent({ source }));
    await created.until(hasId(live.id), "the live event on B");
    assert.deepEqual(created.items, [live]);
  });

  test("with Redis stopped, joins succeed with recovered: false and POSTs 503", REDIS_OPTIONS, async (t) => {
    const [a] = nodes;
    const source = uniqueSource("redis-down");
    const [first] = await postAll(a, source, 1);
    await redis.kill();
    t.after(() => redis.start());

    const response = await fetch(`${a.url}/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(cloudEvent({ source })),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(response.status, 503);

    const socket = connect(a);
    t.after(() => socket.disconnect());
    const channel = socket.channel(`source:${source}`, () => ({ last_event_id: first.id }));
    const joins = new Recorder();
    channel.join().receive("ok", joins.record);
    await joins.until(atLeast(1), "the join while Redis is down");
    assert.deepEqual(joins.items, [{ messages: [], recovered: false }]);
  });
});

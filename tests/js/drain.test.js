// A graceful drain as phoenix.js lives it: two Relayman nodes share a real redis-server behind a
// load balancer that sends each new connection to the first node whose /readyz answers 200.
// Node A gets SIGTERM: every client on it is told (phx_error, close 1012) a batch at a time,
// lands on node B, rejoins, and receives the events POSTed after its rejoin. The Python side of
// the drain is tests/test_drain.py.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { after, before, test } from "node:test";
import { cloudEvent, freePort, startRelayman, uniqueSource } from "./support/relayman.js";
import { Recorder, atLeast, connect, hasId, pushes, within } from "./support/phoenix.js";

const DRAIN_SECONDS = 2; // four batches, half a second apart
const CLIENTS = 6;

function redisServerPath() {
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim();
  } catch {
    return null;
  }
}

const REDIS_SERVER = redisServerPath();
const MISSING = "redis-server is not installed (apt-get install redis-server)";
if (!REDIS_SERVER && process.env.CI === "true") throw new Error(MISSING);
const OPTIONS = { timeout: 60_000, ...(REDIS_SERVER ? {} : { skip: MISSING }) };

/** A redis-server of our own on a free port that saves nothing; killed after the tests. */
async function startRedis() {
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const child = spawn(REDIS_SERVER, args, { stdio: "ignore" });
  const deadline = Date.now() + 10_000;
  while (!(await answers(port))) {
    if (Date.now() > deadline) throw new Error("redis-server did not start");
    await new Promise((wake) => setTimeout(wake, 20));
  }
  return { child, url: `redis://127.0.0.1:${port}/0` };
}

function answers(port) {
  return new Promise((done) => {
    const probe = createConnection(port, "127.0.0.1", () => probe.write("PING\r\n"));
    probe.once("data", () => {
      probe.destroy();
      done(true);
    });
    probe.once("error", () => done(false));
  });
}

/** A TCP load balancer: each connection goes to the first node whose /readyz answers 200. */
class Balancer {
  routed = []; // the node each connection went to, in order
  #open = new Set();

  constructor(nodes) {
    this.nodes = nodes;
  }

  async start() {
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) =>
      this.#route(client),
    );
    await new Promise((done) => this.server.listen(0, "127.0.0.1", done));
    return this;
  }

  get socketUrl() {
    return `ws://127.0.0.1:${this.server.address().port}/socket`;
  }

  async #ready() {
    for (const node of this.nodes) {
      try {
        const response = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(1000) });
        if (response.status === 200) return node;
      } catch {
        // Not answering: not ready.
      }
    }
    return null;
  }

  async #route(client) {
    const node = await this.#ready();
    if (!node) {
      client.destroy();
      return;
    }
    this.routed.push(node);
    const upstream = createConnection({ port: node.port, host: "127.0.0.1", allowHalfOpen: true });
    for (const end of [client, upstream]) {
      this.#open.add(end);
      end.on("close", () => this.#open.delete(end));
    }
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ]) {
      from.pipe(to);
      from.on("error", () => to.destroy());
      from.on("close", () => to.destroy());
    }
    client.resume();
  }

  close() {
    this.#open.forEach((end) => end.destroy());
    return new Promise((done) => this.server.close(done));
  }
}

let redis;
let nodes;
let balancer;
before(async () => {
  if (!REDIS_SERVER) return;
  redis = await startRedis();
  const env = { REDIS_URL: redis.url, RELAYMAN_DRAIN_SECONDS: String(DRAIN_SECONDS) };
  nodes = await Promise.all([startRelayman({ env }), startRelayman({ env })]);
  balancer = await new Balancer(nodes).start();
});
after(async () => {
  await balancer?.close();
  await Promise.all((nodes ?? []).map((node) => node.close()));
  redis?.child.kill("SIGKILL");
});

/** A phoenix.js client through the balancer, joined to `source`, recording what it lives. */
async function client(t, source) {
  const socket = connect(balancer);
  t.after(() => socket.disconnect());
  const channel = socket.channel(`source:${source}`);
  const lived = {
    created: pushes(channel, "created"),
    joins: new Recorder(), // when each join was answered ok
    errors: new Recorder(), // what the channel's phx_errors said
    closes: new Recorder(), // each close of the socket: its code, and when
  };
  channel.onError((reason) => lived.errors.record(reason));
  socket.onClose((event) => lived.closes.record({ code: event.code, at: Date.now() }));
  channel.join().receive("ok", () => lived.joins.record(Date.now()));
  await lived.joins.until(atLeast(1), "the first join");
  return lived;
}

const LANDS = "a drained node's clients land on the other node, rejoin and miss nothing after";
test(LANDS, OPTIONS, async (t) => {
  const [a, b] = nodes;
  const source = uniqueSource("drain");
  const clients = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(await client(t, source));
  assert.deepEqual(balancer.routed, Array(CLIENTS).fill(a), "every client starts on node A");
  const before = await b.post(cloudEvent({ source }));
  for (const { created } of clients) await created.until(hasId(before.id), "the first event");

  const exited = new Promise((done) => a.child.once("exit", done));
  const signalled = Date.now();
  a.child.kill("SIGTERM");
  // Producers go on POSTing, to both nodes (the draining one still answers), every 100 ms.
  const posted = []; // [when the POST was sent, the event]
  let posting = true;
  const producer = (async () => {
    for (let i = 0; posting; i++) {
      const sent = Date.now();
      const event = cloudEvent({ source });
      // Once node A has exited, its share goes to B.
      posted.push([sent, await nodes[i % 2].post(event).catch(() => b.post(event))]);
      await new Promise((wake) => setTimeout(wake, 100));
    }
  })();

  for (const { joins } of clients) await joins.until(atLeast(2), "the rejoin", 15_000);
  await within(exited, "node A's exit once drained", (DRAIN_SECONDS + 5) * 1000);
  const lastRejoin = Math.max(...clients.map(({ joins }) => joins.items[1]));
  while (posted.filter(([sent]) => sent > lastRejoin).length < 3) {
    await new Promise((wake) => setTimeout(wake, 50));
  }
  posting = false;
  await producer;
  const last = await b.post(cloudEvent({ source }));

  assert.deepEqual(balancer.routed.slice(CLIENTS), Array(CLIENTS).fill(b), "reconnected to B");
  for (const { created, joins, errors, closes } of clients) {
    assert.deepEqual(errors.items[0], { reason: "server restarting" });
    assert.equal(closes.items[0].code, 1012);
    const rejoined = joins.items[1];
    const expected = posted.filter(([sent]) => sent > rejoined).map(([, event]) => event.id);
    await created.until(hasId(last.id), "the last event");
    const received = new Set(created.items.map((event) => event.id));
    assert.deepEqual(
      expected.filter((id) => !received.has(id)),
      [],
      "an event POSTed after the rejoin went missing",
    );
  }
  // A batch every half second, not all at once: the last close comes a second or more after
  // the first.
  const closed = clients.map(({ closes }) => closes.items[0].at - signalled).sort((x, y) => x - y);
  assert.ok(closed.at(-1) - closed[0] >= 1000, `closes ${closed} ms after SIGTERM`);
});

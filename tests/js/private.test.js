// Private sources with the stock phoenix.js: each way of giving a token, and tokens refreshed by
// `params` functions when they expire. Tokens are minted here with node:crypto, as a Node
// backend would without a JWT library.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, test } from "node:test";
import { Socket as Socket17 } from "phoenix17";
import WebSocket from "ws";
import { cloudEvent, startRelayman, uniqueSource } from "./support/relayman.js";
import { Recorder, atLeast, connect, hasId, join, pushes } from "./support/phoenix.js";

const TIMEOUT = { timeout: 60_000 };
const SECRET = "a-secret-of-at-least-32-bytes-for-tests";

let relayman;
before(async () => {
  relayman = await startRelayman({
    env: {
      RELAYMAN_PRIVATE_SOURCES: "/tests/private/",
      RELAYMAN_SUBSCRIBER_JWT_SECRET: SECRET,
    },
  });
});
after(() => relayman?.close());

const base64url = (text) => Buffer.from(text).toString("base64url");

/** An HS256 JWT allowing `sources` for `seconds`; `extra` claims go in too. */
function mint(sources, seconds = 60, extra = {}) {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const exp = Math.floor(Date.now() / 1000) + seconds;
  const claims = base64url(JSON.stringify({ sources, exp, ...extra }));
  const signature = createHmac("sha256", SECRET).update(`${header}.${claims}`).digest("base64url");
  return `${header}.${claims}.${signature}`;
}

const privateSource = (name) => uniqueSource(`private/${name}`); // under /tests/private/

async function receives(channel, source) {
  const created = pushes(channel, "created");
  const sent = await relayman.post(cloudEvent({ source }));
  await created.until(hasId(sent.id), `the event on ${source}`);
}

test("a token in the socket's params lets phoenix.js 1.8 join a private source", TIMEOUT, async (t) => {
  const source = privateSource("params");
  const socket = connect(relayman, { params: { token: mint([source]) } });
  t.after(() => socket.disconnect());
  const channel = socket.channel(`source:${source}`);
  assert.deepEqual(await join(channel), { messages: [] });
  await receives(channel, source);
});

test("a token as phoenix.js 1.8's authToken, when its base64 has no /", TIMEOUT, async (t) => {
  const source = privateSource("auth-token");
  // phoenix.js sends btoa(token): a "/" in it is refused by browsers and by ws alike.
  let token;
  for (let n = 0; !token || btoa(token).includes("/"); n++) token = mint([source], 60, { n });
  const socket = connect(relayman, { authToken: token });
  t.after(() => socket.disconnect());
  const channel = socket.channel(`source:${source}`);
  await join(channel);
  await receives(channel, source);
});

test("a token in a channel's params joins that channel; none is unauthorized", TIMEOUT, async (t) => {
  const source = privateSource("channel");
  const socket = connect(relayman);
  t.after(() => socket.disconnect());
  const refused = new Promise((done) =>
    socket.channel(`source:${source}`).join().receive("error", done),
  );
  assert.equal((await refused).reason, "unauthorized");
  const channel = socket.channel(`source:${source}`, { token: mint([source]) });
  await join(channel);
  await receives(channel, source);
});

test("params on an older major (phoenix.js 1.7) carry the token too", TIMEOUT, async (t) => {
  const source = privateSource("phoenix17");
  const socket = new Socket17(relayman.socketUrl, {
    transport: WebSocket,
    params: { token: mint([source]) },
  });
  socket.connect();
  t.after(() => socket.disconnect());
  const channel = socket.channel(`source:${source}`);
  await join(channel);
  await receives(channel, source);
});

test("a channel whose token expires rejoins with a fresh one from its params function", TIMEOUT, async (t) => {
  const source = privateSource("channel-expiry");
  const socket = connect(relayman, { rejoinAfterMs: () => 100 });
  t.after(() => socket.disconnect());
  const issued = new Recorder();
  const channel = socket.channel(`source:${source}`, () => {
    issued.record(Date.now());
    return { token: mint([source], issued.items.length === 1 ? 2 : 60) }; // the first expires
  });
  const joins = new Recorder();
  channel.join().receive("ok", joins.record);
  await joins.until(atLeast(2), "the rejoin after the token's exp", 15_000);
  assert.ok(issued.items.length >= 2, "a fresh token per join");
  await receives(channel, source);
});

test("a socket whose token expires reconnects with a fresh one and its channel rejoins", TIMEOUT, async (t) => {
  const source = privateSource("socket-expiry");
  const closes = new Recorder();
  let connects = 0;
  const socket = connect(relayman, {
    params: () => ({ token: mint([source], ++connects === 1 ? 2 : 60) }), // the first expires
    reconnectAfterMs: () => 100,
    rejoinAfterMs: () => 100,
  });
  t.after(() => socket.disconnect());
  socket.onClose((event) => closes.record(event.code));
  const channel = socket.channel(`source:${source}`);
  const joins = new Recorder();
  channel.join().receive("ok", joins.record);
  await closes.until(atLeast(1), "the close at the token's exp", 15_000);
  assert.equal(closes.items[0], 4001);
  await joins.until(atLeast(2), "the rejoin after reconnecting", 10_000);
  await receives(channel, source);
});

// phoenix.js against one real Relayman: the DESIGN.md example, both serializers, leave and
// rejoin, and authToken.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Serializer, Socket } from "phoenix";
import WebSocket from "ws";
import { cloudEvent, startRelayman, uniqueSource } from "./support/relayman.js";
import {
  Recorder,
  connect,
  hasId,
  join,
  leave,
  once,
  pushes,
  within,
} from "./support/phoenix.js";

let relayman;
before(async () => {
  relayman = await startRelayman();
});
after(() => relayman?.close());

const TIMEOUT = { timeout: 20_000 };

test("the DESIGN.md example, as written, receives the events of its source", TIMEOUT, async (t) => {
  const socket = new Socket(relayman.socketUrl, { transport: WebSocket });
  t.after(() => socket.disconnect());
  socket.connect();
  const channel = socket.channel("source:/outlets/1/orders");
  const received = new Promise((done) => channel.on("created", (event) => done(event)));
  const joined = new Promise((done) => {
    channel.join().receive("ok", ({ messages }) => done(messages));
  });
  assert.deepEqual(await within(joined, "the join reply"), []);

  const posted = await relayman.post({
    id: "uuid",
    source: "/outlets/1/orders",
    type: "created",
    subject: "1",
    data: { id: "1" },
  });

  const event = await within(received, 'the "created" event');
  assert.deepEqual(event, posted);
  assert.equal(event.id, "uuid");
  assert.equal(event.subject, "1");
  assert.deepEqual(event.data, { id: "1" });
});

// phoenix.js 1.x spoke V1 (JSON objects); the V2 serializer (JSON arrays) is its default since 1.5.
const SERIALIZERS = {
  "1.0.0": {
    encode: (message, callback) => callback(JSON.stringify(message)),
    decode: (text, callback) => callback(JSON.parse(text)),
    frameShape: "an object",
    isFrame: (frame) => frame !== null && typeof frame === "object" && !Array.isArray(frame),
  },
  "2.0.0": {
    encode: (message, callback) => Serializer.encode(message, callback),
    decode: (text, callback) => Serializer.decode(text, callback),
    frameShape: "an array",
    isFrame: Array.isArray,
  },
};

for (const [vsn, serializer] of Object.entries(SERIALIZERS)) {
  test(`vsn ${vsn}: joins, receives events in order and leaves`, TIMEOUT, async (t) => {
    const frames = [];
    const socket = connect(relayman, {
      vsn,
      encode: serializer.encode,
      decode: (text, callback) => {
        frames.push(JSON.parse(text));
        serializer.decode(text, callback);
      },
    });
    t.after(() => socket.disconnect());
    const source = uniqueSource(`vsn-${vsn}`);
    const channel = socket.channel(`source:${source}`);
    const created = pushes(channel, "created");
    const updated = pushes(channel, "updated");

    assert.deepEqual(await join(channel), { messages: [] });
    const first = await relayman.post(cloudEvent({ source, type: "created", data: { n: 1 } }));
    const second = await relayman.post(cloudEvent({ source, type: "updated", data: { n: 2 } }));
    const third = await relayman.post(cloudEvent({ source, type: "created", data: { n: 3 } }));

    assert.deepEqual(await created.until(hasId(third.id), "the third event"), [first, third]);
    assert.deepEqual(await updated.until(hasId(second.id), "the second event"), [second]);
    await leave(channel);
    const strays = frames.filter((frame) => !serializer.isFrame(frame));
    assert.deepEqual(strays, [], `every frame from the server is ${serializer.frameShape}`);
  });
}

test("a left channel gets no events; joined again, it gets each event once", TIMEOUT, async (t) => {
  const socket = connect(relayman);
  t.after(() => socket.disconnect());
  // Everything the socket receives, whichever channel it is for.
  const frames = new Recorder();
  socket.onMessage(frames.record);
  const source = uniqueSource("leave");
  const topic = `source:${source}`;
  // Pushes on one socket keep their order: once a marker posted after an event has arrived,
  // that event would have arrived too.
  const markerSource = uniqueSource("leave-marker");
  const markerChannel = socket.channel(`source:${markerSource}`);
  const markers = pushes(markerChannel, "marker");
  const postMarker = () => relayman.post(cloudEvent({ source: markerSource, type: "marker" }));
  const framesOf = (event) =>
    frames.items.filter((frame) => frame.topic === topic && frame.payload.id === event.id);

  await join(markerChannel);
  const first = socket.channel(topic);
  const firstCreated = pushes(first, "created");
  await join(first);
  const before = await relayman.post(cloudEvent({ source }));
  await firstCreated.until(hasId(before.id), "the event before leaving");

  const closed = once((callback) => first.onClose(callback), "the left channel to close");
  await leave(first);
  await closed;
  const whileLeft = await relayman.post(cloudEvent({ source }));
  const marker = await postMarker();
  await markers.until(hasId(marker.id), "the marker after leaving");
  assert.deepEqual(framesOf(whileLeft), [], "no frame carries the event posted while left");

  const again = socket.channel(topic);
  const againCreated = pushes(again, "created");
  assert.deepEqual(await join(again), { messages: [] });
  const afterRejoin = await relayman.post(cloudEvent({ source }));
  const lastMarker = await postMarker();
  await markers.until(hasId(lastMarker.id), "the marker after joining again");
  assert.deepEqual(againCreated.items, [afterRejoin]);
  assert.equal(framesOf(afterRejoin).length, 1, "the event arrives in exactly one frame");
  assert.deepEqual(firstCreated.items, [before]);
});

test("with an authToken, the socket opens as phoenix and gets events", TIMEOUT, async (t) => {
  const socket = connect(relayman, { authToken: "not-checked-by-relayman" });
  t.after(() => socket.disconnect());
  const opened = new Promise((done, fail) => {
    socket.onOpen(done);
    socket.onError((error) => fail(new Error(`socket error: ${error?.message ?? error}`)));
  });
  await within(opened, "the socket to open");
  assert.equal(socket.conn.protocol, "phoenix");

  const source = uniqueSource("auth-token");
  const channel = socket.channel(`source:${source}`);
  const created = pushes(channel, "created");
  await join(channel);
  const posted = await relayman.post(cloudEvent({ source }));
  assert.deepEqual(await created.until(hasId(posted.id), "the event"), [posted]);
});

// A server restart, as a redeploy or a crash: phoenix.js reconnects and rejoins by itself.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cloudEvent, startRelayman, uniqueSource } from "./support/relayman.js";
import { Recorder, atLeast, connect, hasId, once, pushes } from "./support/phoenix.js";

const TIMEOUT = { timeout: 60_000 };

let relayman;
before(async () => {
  relayman = await startRelayman();
});
after(() => relayman?.close());

test("after a restart on the same port, the client rejoins by itself", TIMEOUT, async (t) => {
  const socket = connect(relayman, { reconnectAfterMs: () => 100, rejoinAfterMs: () => 100 });
  t.after(() => socket.disconnect());
  const opens = new Recorder();
  socket.onOpen(opens.record);
  const source = uniqueSource("restart");
  const channel = socket.channel(`source:${source}`);
  const created = pushes(channel, "created");
  const joins = new Recorder();
  channel.join().receive("ok", joins.record);
  await joins.until(atLeast(1), "the join");
  const before = await relayman.post(cloudEvent({ source }));
  await created.until(hasId(before.id), "the event before the restart");

  const closed = once((callback) => socket.onClose(callback), "the socket to see the server go");
  await relayman.stop();
  await closed;
  await relayman.start();

  await joins.until(atLeast(2), "the channel to rejoin by itself", 10_000);
  assert.deepEqual(joins.items, [{ messages: [] }, { messages: [] }]);
  assert.equal(opens.items.length, 2, "one reconnection");
  const next = await relayman.post(cloudEvent({ source }));
  await created.until(hasId(next.id), "the event after the restart");
  assert.deepEqual(created.items, [before, next]);
});

// The idle timeout against phoenix.js heartbeats: heartbeats keep a socket open, silence closes it.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cloudEvent, startRelayman, uniqueSource } from "./support/relayman.js";
import { Recorder, atLeast, connect, hasId, join, once, pushes } from "./support/phoenix.js";

const IDLE_TIMEOUT_MS = 2000;
const HEARTBEAT_MS = 500;
const TIMEOUT = { timeout: 30_000 };

let relayman;
before(async () => {
  const env = { RELAYMAN_IDLE_TIMEOUT: String(IDLE_TIMEOUT_MS / 1000) };
  relayman = await startRelayman({ env });
});
after(() => relayman?.close());

test("heartbeats keep a socket open past the idle timeout; silence ends it", TIMEOUT, async (t) => {
  const started = Date.now();
  const beating = connect(relayman, { heartbeatIntervalMs: HEARTBEAT_MS });
  // No heartbeat, and no reconnection, within the test.
  const silent = connect(relayman, { heartbeatIntervalMs: 60_000, reconnectAfterMs: () => 60_000 });
  t.after(() => {
    beating.disconnect();
    silent.disconnect();
  });
  const beatingCloses = new Recorder();
  beating.onClose(beatingCloses.record);
  const heartbeatReplies = new Recorder();
  beating.onMessage((message) => {
    if (message.topic === "phoenix" && message.payload.status === "ok") {
      heartbeatReplies.record(message);
    }
  });
  const silentClosed = once(
    (callback) => silent.onClose(callback),
    "the server to close the silent socket",
    3 * IDLE_TIMEOUT_MS,
  );
  const source = uniqueSource("heartbeat");
  const beatingChannel = beating.channel(`source:${source}`);
  const created = pushes(beatingChannel, "created");
  await join(beatingChannel);
  await join(silent.channel(`source:${source}`));

  await silentClosed;
  const silentFor = Date.now() - started;
  assert.ok(silentFor >= IDLE_TIMEOUT_MS - 100, `closed after ${silentFor} ms: too early`);
  assert.equal(silent.isConnected(), false);

  // Twice the idle timeout's worth of heartbeats, then an event.
  const beats = (2 * IDLE_TIMEOUT_MS) / HEARTBEAT_MS;
  await heartbeatReplies.until(atLeast(beats), `${beats} heartbeat replies`, 4 * IDLE_TIMEOUT_MS);
  const posted = await relayman.post(cloudEvent({ source }));
  await created.until(hasId(posted.id), "the event after the heartbeats");
  assert.ok(Date.now() - started >= 2 * IDLE_TIMEOUT_MS);
  assert.deepEqual(beatingCloses.items, [], "the heartbeating socket was never closed");
  assert.equal(beating.isConnected(), true);
});

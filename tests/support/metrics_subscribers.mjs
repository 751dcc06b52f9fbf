// Stock phoenix.js clients for tests/test_metrics_e2e.py.
// Usage: node metrics_subscribers.mjs <socket url> <topic> <sockets> <pushes each>
// Opens <sockets> sockets that each join <topic> (and the first also "room:lobby", which the
// server refuses), prints "joined"; once every socket got <pushes each> pushes, prints
// "received"; then disconnects every socket (close code 1000) and prints "closed".

import { connect, join, within } from "../js/support/phoenix.js";

const [socketUrl, topic, count, pushesEach] = process.argv.slice(2);
const sockets = Array.from({ length: Number(count) }, () => connect({ socketUrl }));
const received = sockets.map(() => 0);
let allReceived;
const everyPush = new Promise((done) => (allReceived = done));

await Promise.all(
  sockets.map(async (socket, index) => {
    const channel = socket.channel(topic);
    channel.onMessage = (event, payload) => {
      const push = !event.startsWith("phx_") && !event.startsWith("chan_reply_");
      if (push && ++received[index] === Number(pushesEach)) {
        if (received.every((n) => n === Number(pushesEach))) allReceived();
      }
      return payload;
    };
    await join(channel);
  }),
);
const refused = sockets[0].channel("room:lobby");
await join(refused).then(
  () => Promise.reject(new Error("room:lobby was joined")),
  () => null,
);
console.log("joined");

await within(everyPush, `${pushesEach} pushes on each socket`, 30000);
console.log("received");

const closed = (socket) => new Promise((done) => socket.disconnect(done, 1000, "done"));
await within(Promise.all(sockets.map(closed)), "every socket closed");
console.log("closed");

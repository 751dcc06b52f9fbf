// The stock phoenix.js client, subscribed to the host project's Relayman under /relay/.
// Usage: node phoenix_subscriber.mjs <socket url> <topic> <event name>...
// Prints "joined" once the join is acknowledged, then one JSON line per push received.

import { connect, join } from "../js/support/phoenix.js";

const [socketUrl, topic, ...eventNames] = process.argv.slice(2);
const socket = connect({ socketUrl });
const channel = socket.channel(topic);
for (const event of eventNames) {
  channel.on(event, (payload) => console.log(JSON.stringify({ event, payload })));
}
await join(channel);
console.log("joined");

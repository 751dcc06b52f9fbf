// The stock phoenix.js client under Node, and awaiting what it receives, always with a deadline.

import { Socket } from "phoenix";
import WebSocket from "ws";

export const WAIT_MS = 5000;

/** Rejects with a message naming what was awaited if `promise` takes longer than `ms`. */
export function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A connecting phoenix.js socket; Node 20 has no global WebSocket, so ws is the transport. */
export function connect(relayman, options = {}) {
  const socket = new Socket(relayman.socketUrl, { transport: WebSocket, ...options });
  socket.connect();
  return socket;
}

/** Joins `channel`; resolves with the join reply's response, rejects on an error or timeout. */
export function join(channel) {
  const joined = new Promise((done, fail) => {
    channel
      .join()
      .receive("ok", done)
      .receive("error", (response) =>
        fail(new Error(`join ${channel.topic} refused: ${JSON.stringify(response)}`)),
      )
      .receive("timeout", () => fail(new Error(`join ${channel.topic}: no reply`)));
  });
  return within(joined, `the join reply of ${channel.topic}`);
}

/** Leaves `channel`; resolves once the server acknowledged it. */
export function leave(channel) {
  const left = new Promise((done, fail) => {
    channel
      .leave()
      .receive("ok", done)
      .receive("timeout", () => fail(new Error(`leave ${channel.topic}: no reply`)));
  });
  return within(left, `the leave reply of ${channel.topic}`);
}

/** Resolves on the first call of a `register(callback)` hook such as socket.onClose. */
export function once(register, what, ms = WAIT_MS) {
  return within(new Promise((done) => register(done)), what, ms);
}

/** Keeps what a callback is called with, in order, and awaits a condition on all of it. */
export class Recorder {
  items = [];
  #waiters = [];

  record = (item) => {
    this.items.push(item);
    const ready = this.#waiters.filter(({ condition }) => condition(this.items));
    this.#waiters = this.#waiters.filter((waiter) => !ready.includes(waiter));
    ready.forEach(({ done }) => done(this.items));
  };

  until(condition, what, ms = WAIT_MS) {
    if (condition(this.items)) return Promise.resolve(this.items);
    const met = new Promise((done) => this.#waiters.push({ condition, done }));
    return within(met, what, ms);
  }
}

/** The pushes named `event` that `channel` receives. */
export function pushes(channel, event) {
  const recorder = new Recorder();
  channel.on(event, recorder.record);
  return recorder;
}

/** A Recorder condition: the CloudEvent with this id is among the items. */
export const hasId = (id) => (events) => events.some((event) => event.id === id);

/** A Recorder condition: at least `n` items. */
export const atLeast = (n) => (items) => items.length >= n;

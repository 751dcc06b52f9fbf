// A redis-server of our own for the tests that run phoenix.js against Relayman nodes sharing one.

import { execFileSync, spawn } from "node:child_process";
import { createConnection } from "node:net";
import { freePort } from "./relayman.js";

function redisServerPath() {
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim();
  } catch {
    return null;
  }
}

export const REDIS_SERVER = redisServerPath();
const MISSING = "redis-server is not installed (apt-get install redis-server)";
if (!REDIS_SERVER && process.env.CI === "true") throw new Error(MISSING);
export const REDIS_OPTIONS = { timeout: 60_000, ...(REDIS_SERVER ? {} : { skip: MISSING }) };

/** A redis-server of our own on a free port (never 6379) that saves nothing. */
export class Redis {
  async start() {
    this.port ??= await freePort();
    const args = ["--port", String(this.port), "--bind", "127.0.0.1"];
    this.child = spawn(REDIS_SERVER, [...args, "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    const deadline = Date.now() + 10_000;
    while (!(await this.#answers())) {
      if (Date.now() > deadline) throw new Error("redis-server did not start");
      await new Promise((wake) => setTimeout(wake, 20));
    }
    return this;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  #answers() {
    return new Promise((done) => {
      const probe = createConnection(this.port, "127.0.0.1", () => probe.write("PING\r\n"));
      probe.once("data", () => {
        probe.destroy();
        done(true);
      });
      probe.once("error", () => done(false));
    });
  }

  /** SIGKILL, as a crash would; the next start() uses the same port. */
  async kill() {
    const exited = new Promise((done) => this.child.once("exit", done));
    this.child.kill("SIGKILL");
    await exited;
  }
}

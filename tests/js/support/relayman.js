// Real Relayman processes (daphne, as relayman_project.server) on free ports, for tests that
// talk to them over real sockets. A server can be stopped and started again on the same port,
// as a redeployed node would be.
// The Python twin of this helper is tests/support/server.py.

import { spawn, execFile } from "node:child_process";
import { openSync, closeSync, readFileSync, rmSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { randomUUID } from "node:crypto";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const PYTHON = join(ROOT, ".venv", "bin", "python");
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

const running = new Set();
// A test process that dies must not leave daphne processes behind.
process.on("exit", () => running.forEach((child) => child.kill("SIGKILL")));

export function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

class Relayman {
  constructor({ env = {}, port } = {}) {
    this.port = port;
    this.dir = mkdtempSync(join(tmpdir(), "relayman-js-"));
    this.logPath = join(this.dir, "daphne.log");
    this.env = {
      ...process.env,
      DJANGO_SETTINGS_MODULE: "relayman_project.settings",
      SECRET_KEY: "test",
      DATABASE_URL: `sqlite:///${join(this.dir, "db.sqlite3")}`,
      PYTHONUNBUFFERED: "1",
      ...env,
    };
    this.child = null;
    this.migrated = false;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get socketUrl() {
    return `ws://127.0.0.1:${this.port}/socket`;
  }

  async start() {
    this.port ??= await freePort();
    if (!this.migrated) {
      await promisify(execFile)(PYTHON, ["manage.py", "migrate", "--noinput", "-v", "0"], {
        cwd: ROOT,
        env: this.env,
        timeout: START_TIMEOUT_MS,
      });
      this.migrated = true;
    }
    const log = openSync(this.logPath, "a");
    const args = ["-m", "relayman_project.server", "--bind", "127.0.0.1"];
    args.push("--port", String(this.port), "--websocket_timeout", "-1");
    args.push("relayman_project.asgi:application");
    const child = spawn(PYTHON, args, { cwd: ROOT, env: this.env, stdio: ["ignore", log, log] });
    closeSync(log);
    this.child = child;
    running.add(child);
    child.once("exit", () => running.delete(child));
    await this.waitReady(child);
    return this;
  }

  async waitReady(child) {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`Relayman exited while starting:\n${this.logs()}`);
      }
      try {
        const response = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (response.status < 500) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((wake) => setTimeout(wake, 50));
    }
    throw new Error(`Relayman did not answer within ${START_TIMEOUT_MS} ms:\n${this.logs()}`);
  }

  async stop() {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once("exit", done));
    child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  logs() {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "(no log)";
    }
  }

  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** POST one structured-mode event; resolves with the normalized event the server answers. */
  async post(event) {
    const response = await fetch(`${this.url}/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(5000),
    });
    const body = await response.text();
    if (response.status !== 201) {
      throw new Error(`POST /events answered ${response.status}: ${body}`);
    }
    return JSON.parse(body);
  }
}

export async function startRelayman(options) {
  return new Relayman(options).start();
}

/** A valid CloudEvent with a fresh id; `source` and `type` name where it goes. */
export function cloudEvent({ source, type = "created", ...rest }) {
  return { id: randomUUID(), source, type, ...rest };
}

/** A source no other test uses, so tests sharing a server never see each other's events. */
export function uniqueSource(name) {
  return `/tests/${name}/${randomUUID()}`;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Options of {@link NatsServer.start}. */
export interface NatsServerOptions {
  /**
   * Configuration file text (NATS server config syntax) added after the
   * `listen` and `jetstream` blocks the helper writes: `authorization`,
   * `tls`, `accounts`, operator mode. The server then starts with `-c`.
   */
  readonly config?: string;
}

/**
 * A real `nats-server -js` on 127.0.0.1, with its own port and store
 * directory, that a test can kill (SIGKILL) and start again on the same port
 * and store; optionally with a configuration file (users, permissions, TLS).
 */
export class NatsServer {
  readonly port: number;
  readonly storeDir: string;
  /** The configuration file, if started with {@link NatsServerOptions.config}. */
  readonly configFile: string | undefined;
  #child: ChildProcess | undefined;
  #log = '';

  private constructor(port: number, storeDir: string, configFile: string | undefined) {
    this.port = port;
    this.storeDir = storeDir;
    this.configFile = configFile;
  }

  /** Starts a server and waits until it accepts connections. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const port = await freePort();
    const storeDir = mkdtempSync(join(tmpdir(), 'epochdb-nats-'));
    let configFile: string | undefined;
    if (options.config !== undefined) {
      configFile = join(storeDir, 'nats-server.conf');
      writeFileSync(configFile, `listen: "127.0.0.1:${port}"\njetstream { store_dir: ${JSON.stringify(join(storeDir, 'js'))} }\n${options.config}\n`);
    }
    const server = new NatsServer(port, storeDir, configFile);
    await server.restart();
    return server;
  }

  /** `127.0.0.1:<port>`. */
  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The end of the server's log (stderr), for diagnosing a test. */
  get log(): string {
    return this.#log;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the server process again (same port, same store) and waits until it listens. */
  async restart(): Promise<void> {
    if (this.#child !== undefined) throw new Error('nats-server is already running');
    const args = this.configFile === undefined ? ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir] : ['-c', this.configFile];
    const child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
      this.#log = log;
    });
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    const deadline = Date.now() + 20_000;
    while (!(await canConnect(this.port))) {
      if (this.#child !== child) throw new Error(`nats-server exited: ${log}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${this.port}: ${log}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // JetStream is ready a moment after the port opens.
    while (!/Server is ready/.test(log)) {
      if (Date.now() > deadline) throw new Error(`nats-server did not get ready: ${log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Replaces the configuration added at {@link NatsServer.start} and makes the
   * running server reload it (SIGHUP): users and permissions change without a
   * restart, as an operator would change them.
   */
  async reload(config: string): Promise<void> {
    if (this.configFile === undefined || this.#child === undefined) throw new Error('reload() needs a running server started with a config');
    const text = readFileSync(this.configFile, 'utf8');
    const head = text.split('\n').slice(0, 2).join('\n');
    writeFileSync(this.configFile, `${head}\n${config}\n`);
    const before = (this.#log.match(/Reloaded server configuration/g) ?? []).length;
    this.#child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while ((this.#log.match(/Reloaded server configuration/g) ?? []).length <= before) {
      if (Date.now() > deadline) throw new Error(`nats-server did not reload: ${this.#log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Kills the server (SIGKILL by default) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
    this.#child = undefined;
  }

  /** Stops the server and removes its store. */
  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

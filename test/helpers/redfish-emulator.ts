// A small Redfish BMC for tests (no Redfish BMC emulator is packaged for
// Debian): HTTPS with a given certificate, the service root, sessions
// (X-Auth-Token) and basic auth, one ComputerSystem whose PowerState is a
// Machine's (machine.ts: a process, or a QEMU VM driven through QMP), its
// Boot override and ComputerSystem.Reset. It answers 401 to a wrong
// credential and records every request so tests can count them.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Machine } from './machine.js';

export interface RedfishEmulatorOptions {
  key: string;
  cert: string;
  username: string;
  password: string;
  machine: Machine;
  systemId?: string;
  /** ResetType@Redfish.AllowableValues (default: all of them). */
  resetTypes?: string[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  auth: 'basic' | 'session' | 'none' | 'refused';
  status: number;
}

const ALL_RESETS = ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'PowerCycle', 'ForceOn', 'Nmi'];
const TARGETS = ['None', 'Pxe', 'Hdd', 'Cd', 'BiosSetup'];
const ENABLED = ['Disabled', 'Once', 'Continuous'];

type Json = Record<string, unknown>;

function error(status: number, code: string, message: string): Json {
  return { error: { code: `Base.1.8.${code}`, message, '@Message.ExtendedInfo': [{ MessageId: `Base.1.8.${code}`, Message: message }] } };
}

export class RedfishEmulator {
  readonly requests: RecordedRequest[] = [];
  /** The Boot override, as BootSourceOverrideTarget/Enabled. */
  boot = { target: 'None', enabled: 'Disabled' };
  readonly sessions = new Map<string, string>();
  private server: Server | undefined;
  private seq = 0;

  constructor(readonly o: RedfishEmulatorOptions) {}

  get systemPath(): string {
    return `/redfish/v1/Systems/${this.o.systemId ?? '1'}`;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  async start(): Promise<number> {
    this.server = createServer({ key: this.o.key, cert: this.o.cert }, (req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return this.port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
    await this.o.machine.stop();
  }

  private authOf(req: IncomingMessage): RecordedRequest['auth'] {
    const token = req.headers['x-auth-token'];
    if (typeof token === 'string') return this.sessions.has(token) ? 'session' : 'refused';
    const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (!m) return 'none';
    return Buffer.from(m[1]!, 'base64').toString('utf8') === `${this.o.username}:${this.o.password}` ? 'basic' : 'refused';
  }

  private async body(req: IncomingMessage): Promise<Json> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    try {
      return chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json) : {};
    } catch {
      return {};
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/$/, '');
    const method = req.method ?? 'GET';
    let auth = this.authOf(req);
    const send = (status: number, body?: Json, headers: Record<string, string> = {}) => {
      this.requests.push({ method, path, auth, status });
      res.writeHead(status, { 'content-type': 'application/json', 'odata-version': '4.0', ...headers });
      res.end(body ? JSON.stringify(body) : undefined);
    };
    const body = await this.body(req);
    if (path === '/redfish/v1' && method === 'GET') {
      return send(200, { '@odata.id': '/redfish/v1', RedfishVersion: '1.11.0', Systems: { '@odata.id': '/redfish/v1/Systems' }, Links: { Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } } });
    }
    if (path === '/redfish/v1/SessionService/Sessions' && method === 'POST') {
      if (body.UserName !== this.o.username || body.Password !== this.o.password) {
        auth = 'refused';
        return send(401, error(401, 'NoValidSession', 'Invalid username or password'));
      }
      const token = randomBytes(16).toString('hex');
      const id = String(++this.seq);
      this.sessions.set(token, id);
      auth = 'session';
      return send(201, { '@odata.id': `/redfish/v1/SessionService/Sessions/${id}`, Id: id, UserName: this.o.username }, { 'x-auth-token': token, location: `/redfish/v1/SessionService/Sessions/${id}` });
    }
    if (auth === 'none' || auth === 'refused') return send(401, error(401, 'NoValidSession', 'authentication required'), { 'www-authenticate': 'Basic realm="redfish"' });
    const m = /^\/redfish\/v1\/SessionService\/Sessions\/(\d+)$/.exec(path);
    if (m && method === 'DELETE') {
      for (const [t, id] of this.sessions) if (id === m[1]) this.sessions.delete(t);
      return send(204);
    }
    if (path === '/redfish/v1/Systems' && method === 'GET') return send(200, { Members: [{ '@odata.id': this.systemPath }], 'Members@odata.count': 1 });
    if (path === this.systemPath && method === 'GET') return send(200, this.system());
    if (path === this.systemPath && method === 'PATCH') {
      const b = (body.Boot ?? {}) as { BootSourceOverrideTarget?: unknown; BootSourceOverrideEnabled?: unknown };
      if (b.BootSourceOverrideTarget !== undefined && !TARGETS.includes(String(b.BootSourceOverrideTarget))) return send(400, error(400, 'PropertyValueNotInList', `BootSourceOverrideTarget ${String(b.BootSourceOverrideTarget)}`));
      if (b.BootSourceOverrideEnabled !== undefined && !ENABLED.includes(String(b.BootSourceOverrideEnabled))) return send(400, error(400, 'PropertyValueNotInList', `BootSourceOverrideEnabled ${String(b.BootSourceOverrideEnabled)}`));
      if (b.BootSourceOverrideTarget !== undefined) this.boot.target = String(b.BootSourceOverrideTarget);
      if (b.BootSourceOverrideEnabled !== undefined) this.boot.enabled = String(b.BootSourceOverrideEnabled);
      this.o.machine.note(`redfish boot ${this.boot.target} ${this.boot.enabled}`);
      return send(200, this.system());
    }
    if (path === `${this.systemPath}/Actions/ComputerSystem.Reset` && method === 'POST') {
      const type = String(body.ResetType);
      if (!(this.o.resetTypes ?? ALL_RESETS).includes(type)) return send(400, error(400, 'ActionParameterNotSupported', `ResetType ${type} is not supported`));
      await this.reset(type);
      return send(204);
    }
    return send(404, error(404, 'ResourceMissingAtURI', `${method} ${path}`));
  }

  private system(): Json {
    return {
      '@odata.id': this.systemPath,
      Id: this.o.systemId ?? '1',
      Name: 'emulated blade',
      PowerState: this.o.machine.on ? 'On' : 'Off',
      Boot: { BootSourceOverrideTarget: this.boot.target, BootSourceOverrideEnabled: this.boot.enabled, 'BootSourceOverrideTarget@Redfish.AllowableValues': TARGETS },
      Actions: { '#ComputerSystem.Reset': { target: `${this.systemPath}/Actions/ComputerSystem.Reset`, 'ResetType@Redfish.AllowableValues': this.o.resetTypes ?? ALL_RESETS } },
    };
  }

  /** The device a start boots: the override when one is set (a Once override is then used up). */
  private nextBoot(): string {
    if (this.boot.enabled === 'Disabled' || this.boot.target === 'None') return 'none';
    const dev = this.boot.target === 'Pxe' ? 'pxe' : this.boot.target === 'Hdd' ? 'disk' : 'none';
    if (this.boot.enabled === 'Once') this.boot = { target: 'None', enabled: 'Disabled' };
    return dev;
  }

  private async reset(type: string): Promise<void> {
    const m = this.o.machine;
    m.note(`redfish reset ${type}`);
    switch (type) {
      case 'On':
      case 'ForceOn':
        if (!m.on) m.start(this.nextBoot());
        return;
      case 'ForceOff':
        return m.stop();
      case 'GracefulShutdown':
        return m.soft();
      case 'GracefulRestart':
        return m.reset();
      case 'ForceRestart':
      case 'PowerCycle':
        // A QEMU VM with QMP resets in place, unless a boot override needs a new start.
        if (m.on && m.spec.qmp && this.boot.enabled === 'Disabled') return m.reset();
        await m.stop();
        m.start(this.nextBoot());
        return;
    }
  }
}

// A Redfish BMC over HTTPS with Node's own client: ComputerSystem.Reset for
// power, Boot.BootSourceOverrideTarget for the next boot device, the system's
// PowerState for status. Auth by a session per operation (X-Auth-Token,
// deleted after) or HTTP basic; the certificate checked against a CA file,
// or not at all only when the BMC says insecure: true.
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { EffectiveBmc } from './bmc.js';
import { BmcError, type BootDevice, type PowerAction, type PowerDriver, type PowerState } from './types.js';

type Json = Record<string, unknown>;
interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Json;
}

/** Reset types to ask for, in order of preference, among the ones the system allows. */
const RESET_TYPES: Record<PowerAction, string[]> = {
  on: ['On', 'ForceOn'],
  off: ['ForceOff'],
  cycle: ['PowerCycle', 'ForceRestart'],
  reset: ['ForceRestart', 'PowerCycle'],
  soft: ['GracefulShutdown'],
};

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|DEPTH_ZERO/;

/** The Redfish error's own message, when the BMC sent one. */
function redfishMessage(body: Json): string | undefined {
  const err = body.error as { message?: unknown; '@Message.ExtendedInfo'?: Array<{ Message?: unknown }> } | undefined;
  const info = err?.['@Message.ExtendedInfo']?.[0]?.Message;
  return typeof info === 'string' ? info : typeof err?.message === 'string' ? err.message : undefined;
}

export class RedfishDriver implements PowerDriver {
  readonly via: string;
  private readonly host: string;

  constructor(
    private readonly bmc: EffectiveBmc,
    private readonly password: string,
    private readonly o: { timeoutMs: number },
  ) {
    this.via = `redfish ${bmc.redfish.auth} auth${bmc.redfish.insecure ? ', insecure TLS' : ''}`;
    this.host = bmc.address.includes(':') ? `[${bmc.address}]` : bmc.address;
  }

  private agent(): Agent {
    const r = this.bmc.redfish;
    let ca: Buffer | undefined;
    if (r.caFile) {
      try {
        ca = readFileSync(r.caFile);
      } catch (e) {
        throw new BmcError('tls', `cannot read its CA file ${r.caFile} (${(e as NodeJS.ErrnoException).code})`, `read ${r.caFile}`);
      }
    }
    return new Agent({ keepAlive: true, maxSockets: 1, ca, rejectUnauthorized: !r.insecure, servername: isIP(this.bmc.address) ? undefined : this.bmc.address });
  }

  private exchange(agent: Agent, signal: AbortSignal, method: string, path: string, body?: Json, headers: Record<string, string> = {}): Promise<Answer> {
    const tried = `${method} ${path}`;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.bmc.address,
          port: this.bmc.port,
          method,
          path,
          agent,
          signal,
          headers: {
            accept: 'application/json',
            'odata-version': '4.0',
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => reject(this.failure(e, tried)));
          res.on('end', () => {
            let parsed: Json = {};
            try {
              const v: unknown = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
              if (v && typeof v === 'object' && !Array.isArray(v)) parsed = v as Json;
            } catch {
              /* not JSON: judged by the status */
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
          });
        },
      );
      req.on('error', (e) => reject(this.failure(e, tried)));
      req.end(payload);
    });
  }

  private failure(e: Error, tried: string): BmcError {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (e.name === 'AbortError' || code === 'ABORT_ERR') return new BmcError('timeout', `did not answer within ${this.o.timeoutMs / 1000} s`, tried);
    if (TLS_CODES.test(code)) {
      return new BmcError('tls', `has a certificate that is not trusted (${e.message}): give bmc.redfish.caFile with the CA that signed it, or insecure: true`, tried);
    }
    if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ECONNRESET/.test(code)) return new BmcError('unreachable', `cannot be reached (${code})`, tried);
    return new BmcError('refused', `failed: ${e.message}`, tried);
  }

  private refused(a: Answer, tried: string): BmcError {
    const said = redfishMessage(a.body);
    if (a.status === 401) return new BmcError('auth', `refused the credentials of user '${this.bmc.username}' (HTTP 401)`, tried);
    return new BmcError('refused', `answered HTTP ${a.status}${said ? `: ${said}` : ''}`, tried);
  }

  /** One operation: a session (or basic auth) around `fn`, all within the timeout. */
  private async op<T>(fn: (call: (method: string, path: string, body?: Json) => Promise<Answer>) => Promise<T>): Promise<T> {
    const agent = this.agent();
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    let auth: Record<string, string>;
    let session: string | undefined;
    try {
      if (this.bmc.redfish.auth === 'basic') {
        auth = { authorization: 'Basic ' + Buffer.from(`${this.bmc.username}:${this.password}`).toString('base64') };
      } else {
        const path = '/redfish/v1/SessionService/Sessions';
        const a = await this.exchange(agent, signal, 'POST', path, { UserName: this.bmc.username, Password: this.password });
        const token = a.headers['x-auth-token'];
        if (a.status >= 300 || typeof token !== 'string') throw this.refused(a.status >= 300 ? a : { ...a, status: 502 }, `POST ${path}`);
        auth = { 'x-auth-token': token };
        const loc = a.headers.location;
        session = typeof loc === 'string' ? new URL(loc, `https://${this.host}`).pathname : typeof a.body['@odata.id'] === 'string' ? (a.body['@odata.id'] as string) : undefined;
      }
      const call = async (method: string, path: string, body?: Json) => {
        const a = await this.exchange(agent, signal, method, path, body, auth);
        if (a.status >= 300) throw this.refused(a, `${method} ${path}`);
        return a;
      };
      return await fn(call);
    } finally {
      if (session) await this.exchange(agent, AbortSignal.timeout(this.o.timeoutMs), 'DELETE', session, undefined, auth!).catch(() => undefined);
      agent.destroy();
    }
  }

  /** The ComputerSystem's path: the configured id, or the first member of /redfish/v1/Systems. */
  private async system(call: (m: string, p: string, b?: Json) => Promise<Answer>): Promise<{ path: string; doc: Json }> {
    let path: string;
    if (this.bmc.redfish.systemId) path = `/redfish/v1/Systems/${this.bmc.redfish.systemId}`;
    else {
      const list = (await call('GET', '/redfish/v1/Systems')).body.Members;
      const first = Array.isArray(list) ? (list[0] as { '@odata.id'?: unknown } | undefined)?.['@odata.id'] : undefined;
      if (typeof first !== 'string') throw new BmcError('refused', 'lists no ComputerSystem under /redfish/v1/Systems', 'GET /redfish/v1/Systems');
      path = first;
    }
    return { path, doc: (await call('GET', path)).body };
  }

  status(): Promise<PowerState> {
    return this.op(async (call) => {
      const { path, doc } = await this.system(call);
      const s = doc.PowerState;
      if (s === 'On' || s === 'PoweringOn') return 'on';
      if (s === 'Off' || s === 'PoweringOff') return 'off';
      throw new BmcError('refused', `answered a PowerState that is not understood: ${JSON.stringify(s)}`, `GET ${path}`);
    });
  }

  power(action: PowerAction): Promise<void> {
    return this.op(async (call) => {
      const { path, doc } = await this.system(call);
      const reset = (doc.Actions as Json | undefined)?.['#ComputerSystem.Reset'] as { target?: unknown; 'ResetType@Redfish.AllowableValues'?: unknown } | undefined;
      const target = typeof reset?.target === 'string' ? reset.target : `${path}/Actions/ComputerSystem.Reset`;
      const allowed = reset?.['ResetType@Redfish.AllowableValues'];
      const wanted = RESET_TYPES[action];
      const type = Array.isArray(allowed) ? wanted.find((t) => allowed.includes(t)) : wanted[0];
      if (!type) throw new BmcError('refused', `allows no reset type for '${action}' (wanted ${wanted.join(' or ')}; it allows ${(allowed as string[]).join(', ')})`, `GET ${path}`);
      await call('POST', target, { ResetType: type });
    });
  }

  bootDevice(device: BootDevice, persistent: boolean): Promise<void> {
    return this.op(async (call) => {
      const { path } = await this.system(call);
      await call('PATCH', path, { Boot: { BootSourceOverrideTarget: device === 'pxe' ? 'Pxe' : 'Hdd', BootSourceOverrideEnabled: persistent ? 'Continuous' : 'Once' } });
    });
  }
}

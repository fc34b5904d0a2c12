// HTTP boot: /boot/* without auth (firmware cannot send a token). iPXE
// scripts, kernels and RAM disks, and any other file on the boot hub (static
// loaders for UEFI HTTP boot), with Range, ETag, Content-Length and HEAD.
// What a path may serve is the providers' decision (a config only for a
// registered MAC or address, a kernel only for a registered node); on top,
// a registered machine gets only its own node's files.
import { Readable } from 'node:stream';
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry as Metrics } from 'prom-client';
import { BootRefused, type BootClient, type BootFile } from '../boot/content.js';
import type { BootHub } from '../boot/hub.js';
import { HTTP_BOOT_FILES } from '../boot/loaders.js';
import type { LoadedConfig } from '../config/loaded.js';
import type { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import { declareService, type Service } from '../service.js';
import { canonicalMac, MAC_FORMS } from '../net/mac.js';
import type { Registry } from '../store/registry.js';
import type { Store } from '../store/types.js';
import { loadSendfile, sliceSegments, socketFd, written, type SendHandle } from './http-sendfile.js';
import { RequesterNodes } from '../boot/requester-nodes.js';
import { contentRange, notModified, parseRange, rangeStillValid, type ByteRange } from './http-range.js';
import { RenderRefused } from './provider.js';
import { ipv4Of } from './renderer.js';

/**
 * Bytes read from a boot file per step when sending it over HTTP. Measured
 * (bench/httpboot): big reads make one download 2x faster, but with dozens at
 * once the fresh 512 KiB buffers cost more than they save, so big reads only
 * while few files are being sent.
 */
const CHUNK_FEW = 512 * 1024;
const CHUNK_MANY = 64 * 1024;
const FEW_SENDS = 4;
/** A sendfile body whose client takes nothing for this long is ended (the Node path has no such bound either way). */
const STALL_MS = 60_000;
/** Smaller bodies (scripts, configs) go through Node: a hand-over to a sending thread costs more than their copy. */
const SENDFILE_MIN = 64 * 1024;

const CONTENT_TYPES: Record<BootFile['kind'], string> = {
  config: 'text/plain; charset=utf-8',
  kernel: 'application/octet-stream',
  initrd: 'application/octet-stream',
  loader: 'application/octet-stream',
  file: 'application/octet-stream',
};

/** Confine a URL path under /boot/ to a hub path: relative, no '..', no NUL or backslash. undefined: refuse. */
export function hubPath(raw: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (/[\0\\]/.test(decoded)) return undefined;
  const segs = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.length === 0 || segs.some((s) => s === '..')) return undefined;
  return segs.join('/');
}

interface HttpBootDeps {
  cfg: LoadedConfig;
  boot: BootHub;
  store: Store;
  /** Its change events keep the requester-node cache true; without it every request asks the store. */
  registry?: Registry;
  events: EventRecorder;
  log: Logger;
  metrics: Metrics;
}

export function httpBootRoutes(deps: HttpBootDeps): FastifyPluginAsync {
  const requests = new Counter({
    name: 'rackboot_http_boot_requests_total',
    help: 'HTTP boot requests by file kind and status',
    labelNames: ['kind', 'status'],
    registers: [deps.metrics],
  });
  const bytes = new Counter({ name: 'rackboot_http_boot_bytes_total', help: 'HTTP boot bytes sent, by file kind', labelNames: ['kind'], registers: [deps.metrics] });

  const requesters = new RequesterNodes(deps.cfg, deps.store, deps.registry);

  async function lookup(path: string, client: BootClient): Promise<{ file: BootFile; path: string } | undefined> {
    // /boot/files/<x> is the hub's <x> (HTTP_BOOT_FILES: loaders for UEFI HTTP boot); /boot/<x> is the hub's
    // boot/<x> (iPXE scripts, kernels, RAM disks), else <x> itself (configs, other files).
    const prefix = HTTP_BOOT_FILES.prefix.slice('/boot/'.length);
    const candidates = path.startsWith(prefix) ? [path.slice(prefix.length)] : [`boot/${path}`, path];
    for (const p of candidates) {
      const file = await deps.boot.lookup(p, client);
      if (file) return { file, path: p };
    }
    return undefined;
  }

  function fail(reply: FastifyReply, status: number, error: string, message: string) {
    requests.inc({ kind: 'none', status: String(status) });
    return reply.status(status).header('cache-control', 'no-store').send({ error, message });
  }

  /** Files being sent right now (sizes the reads). */
  let sending = 0;
  const sendfile = deps.cfg.config.templates.httpSendfile ? loadSendfile() : {};
  if (deps.cfg.config.templates.httpSendfile && !sendfile.addon) deps.log.info(`http boot: sendfile addon not built (${sendfile.error}); bodies are read and written by Node`);

  async function handle(req: FastifyRequest, reply: FastifyReply) {
    const t0 = performance.now();
    const rawPath = req.url.slice('/boot/'.length).split('?')[0]!;
    const path = hubPath(rawPath);
    if (!path) return fail(reply, 400, 'invalid', `'${rawPath}' is not a boot path (no '..', NUL or backslash)`);
    const query = (req.query ?? {}) as Record<string, string | undefined>;
    const address = ipv4Of(req.ip) ?? req.ip;
    const mac = query.mac ? canonicalMac(query.mac) : undefined;
    if (query.mac && !mac) return fail(reply, 400, 'invalid', `querystring.mac: '${query.mac}' is not a MAC address (${MAC_FORMS})`);
    const client: BootClient = { address, protocol: 'http', ...(mac ? { mac } : {}) };

    let found: { file: BootFile; path: string } | undefined;
    try {
      found = await lookup(path, client);
    } catch (e) {
      if (e instanceof RenderRefused) return fail(reply, 500, 'template_error', e.message);
      if (e instanceof BootRefused) {
        if (e.logDetail) req.log.warn({ path, ip: address, detail: e.logDetail }, `http boot: refused: ${e.message}`);
        return fail(reply, e.status, e.status === 403 ? 'forbidden' : 'not_found', e.message);
      }
      throw e;
    }
    if (!found) {
      req.log.info({ path, ip: address }, 'http boot: not found');
      return fail(reply, 404, 'not_found', `no boot file '${path}' for ${address}`);
    }
    const { file } = found;
    let fileClosed = false;
    const closeFile = () => {
      if (fileClosed) return;
      fileClosed = true;
      void Promise.resolve(file.close?.()).catch(() => undefined);
    };

    // The registered machine asking (by its address): it gets only its own node's files, and files
    // without a node (loaders, static kernels) go on its timeline.
    const owner = ipv4Of(address) ? await requesters.of(address) : undefined;
    if (file.node) {
      if (owner && owner !== file.node) {
        closeFile();
        deps.events.record({ node: owner, kind: 'http.refused', detail: { path: found.path, for: file.node } });
        return fail(reply, 403, 'forbidden', `${found.path} is ${file.node}'s; ${address} is registered to ${owner}`);
      }
    }

    const size = file.size;
    const type = CONTENT_TYPES[file.kind];
    reply.header('content-type', type).header('accept-ranges', 'bytes').header('cache-control', 'no-cache');
    if (file.etag) reply.header('etag', file.etag);

    const finish = (status: number, sent: number, range: ByteRange[] | undefined, via: 'sendfile' | 'node' = 'node') => {
      closeFile();
      requests.inc({ kind: file.kind, status: String(status) });
      if (sent) bytes.inc({ kind: file.kind }, sent);
      const node = file.node ?? owner;
      if (node || mac) {
        deps.events.record({
          node: node ?? null,
          mac: mac ?? null,
          kind: req.method === 'HEAD' ? 'http.head' : 'http.get',
          detail: {
            path: found!.path,
            kind: file.kind,
            status,
            bytes: sent,
            size,
            ...(range ? { range: range.map((r) => `${r.start}-${r.end - 1}`).join(',') } : {}),
            ms: Math.round(performance.now() - t0),
            ...(sent ? { via } : {}),
          },
        });
      }
    };

    if (notModified(req.headers['if-none-match'], file.etag)) {
      finish(304, 0, undefined);
      return reply.status(304).send();
    }

    const rangeHeader = rangeStillValid(req.headers['if-range'] as string | undefined, file.etag) ? req.headers.range : undefined;
    const decision = parseRange(rangeHeader, size);
    if (decision.kind === 'unsatisfiable') {
      finish(416, 0, undefined);
      return reply.status(416).header('content-range', `bytes */${size}`).type('application/json').send({ error: 'range_not_satisfiable', message: `the file is ${size} bytes` });
    }

    let status = 200;
    let length = size;
    let ranges: ByteRange[] | undefined;
    // What the body is: byte ranges of the file, with multipart headers between them for several ranges.
    let segments: Array<Buffer | ByteRange> = [{ start: 0, end: size }];
    if (decision.kind === 'partial' && decision.ranges.length === 1) {
      const r = decision.ranges[0]!;
      ranges = [r];
      status = 206;
      length = r.end - r.start;
      reply.header('content-range', contentRange(r, size));
      segments = [r];
    } else if (decision.kind === 'partial') {
      ranges = decision.ranges;
      status = 206;
      const boundary = `rackboot-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
      const heads = ranges.map((r) => Buffer.from(`\r\n--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: ${contentRange(r, size)}\r\n\r\n`));
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
      length = heads.reduce((n, h, i) => n + h.length + ranges![i]!.end - ranges![i]!.start, tail.length);
      reply.header('content-type', `multipart/byteranges; boundary=${boundary}`);
      segments = ranges.flatMap((r, i) => [heads[i]!, r]);
      segments.push(tail);
    }
    // Set on the raw response, so the name keeps its case: GRUB's http module matches
    // "Content-Length: " case-sensitively and, without a size, cannot load a module (out of memory).
    reply.status(status);
    reply.raw.setHeader('Content-Length', String(length));
    if (req.method === 'HEAD') {
      finish(status, 0, ranges);
      return reply.send();
    }
    // One range of a file made of segments: the addon sends it with sendfile(2), without Node copying.
    const only = segments.length === 1 && !Buffer.isBuffer(segments[0]) && length >= SENDFILE_MIN ? segments[0] : undefined;
    const fd = sendfile.addon && file.segments && only ? socketFd(reply.raw) : undefined;
    if (sendfile.addon && file.segments && only && fd !== undefined) {
      const addon = sendfile.addon;
      const res = reply.raw;
      reply.hijack();
      for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) res.setHeader(k, v);
      res.writeHead(status);
      res.flushHeaders();
      await written(res);
      const sock = socketFd(res);
      if (sock === undefined) {
        res.destroy();
        finish(status, 0, ranges);
        return reply;
      }
      let over = false;
      let handle: SendHandle;
      sending++;
      try {
        handle = addon.send(sock, sliceSegments(file.segments, only.start, only.end), { stallMs: STALL_MS }, (err, n) => {
          over = true;
          sending--;
          if (err) {
            if (err !== 'aborted') req.log.info({ path: found!.path, ip: address, sent: n, length }, `http boot: body not sent: ${err}`);
            res.destroy();
          } else {
            res.end();
          }
          finish(status, n, ranges, 'sendfile');
        });
      } catch (err) {
        sending--;
        req.log.warn({ err, path: found.path }, 'http boot: sendfile did not start');
        res.destroy();
        finish(status, 0, ranges);
        return reply;
      }
      // The connection went before the body was sent: stop sending.
      res.once('close', () => {
        if (!over) addon.abort(handle);
      });
      return reply;
    }
    // Read in large positioned chunks (BootFile.read): fewer, bigger writes than a 64 KiB file stream,
    // with the buffered amount per connection bounded by the stream's highWaterMark.
    let sent = 0;
    const body = Readable.from(
      (async function* () {
        for (const seg of segments) {
          if (Buffer.isBuffer(seg)) {
            sent += seg.length;
            yield seg;
            continue;
          }
          for (let pos = seg.start; pos < seg.end; ) {
            const step = sending <= FEW_SENDS ? CHUNK_FEW : CHUNK_MANY;
            const chunk = await file.read(pos, Math.min(seg.end, pos + step));
            if (chunk.length === 0) throw new Error(`${found!.path}: the file ended at ${pos} of ${seg.end} bytes`);
            pos += chunk.length;
            sent += chunk.length;
            yield chunk;
          }
        }
      })(),
      { objectMode: false, highWaterMark: CHUNK_MANY },
    );
    sending++;
    body.on('error', (err) => req.log.warn({ err, path: found!.path }, 'http boot: read failed'));
    const done = () => {
      sending--;
      body.destroy();
      finish(status, sent, ranges);
    };
    // The client may have gone while the file was looked up: then 'close' has fired already.
    if (reply.raw.closed || reply.raw.destroyed) {
      done();
      return reply;
    }
    reply.raw.once('close', done);
    return reply.send(body);
  }

  return async (app) => {
    // One logger for every boot request instead of a pino child per request (with its request id): a
    // profile of K50 put 4.5% of the main thread there. The route's log lines carry path and address.
    let bootLog: FastifyBaseLogger | undefined;
    app.setChildLoggerFactory((logger) => (bootLog ??= logger.child({ route: 'boot' })));
    app.route({ method: ['GET', 'HEAD'], url: '/boot/*', schema: { hide: true }, handler: handle });
    app.addHook('onClose', async () => requesters.close());
  };
}

/** The HTTP boot service: public routes only. */
export const httpBootService = declareService({ name: 'httpboot', title: 'HTTP boot', enable: 'templates.httpBoot: true' }, (ctx): Service | undefined => {
  if (!ctx.cfg.config.templates.httpBoot) return undefined;
  return {
    name: 'httpboot',
    start: async () => undefined,
    stop: async () => undefined,
    publicRoutes: httpBootRoutes({ cfg: ctx.cfg, boot: ctx.boot, store: ctx.store, registry: ctx.registry, events: ctx.events, log: ctx.log, metrics: ctx.metrics }),
  };
});

// A transfer on the Node data path: its socket, the retransmission clock's
// actions (transfer.ts decides) and the blocks (blocks.ts reads them ahead).
import type { RemoteInfo, Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { BootFile } from '../boot/content.js';
import { BlockSource } from './blocks.js';
import { dataHeader, encodeError, encodeOack, ERR } from './codec.js';
import { setSegmentSize, windowBatch } from './gso.js';
import { asksSize } from './probe.js';
import { closeAndReport, type SessionHost, type TransferRecord, type TransferSession } from './records.js';
import type { Action, Outcome, Transfer } from './transfer.js';

export class Session implements TransferSession {
  private gen = 0;
  private done = false;
  private readonly source: BlockSource;
  private readonly startedWall = performance.now();
  /** Blocks per sendmsg() with UDP_SEGMENT; 1: one send per block. */
  private batch = 1;

  constructor(
    private readonly host: SessionHost,
    readonly key: string,
    private readonly sock: Socket,
    private readonly address: string,
    private readonly port: number,
    readonly path: string,
    private readonly mode: 'octet' | 'netascii',
    private readonly file: BootFile,
    readonly transfer: Transfer,
    private readonly oack: Array<[string, string]>,
  ) {
    this.source = new BlockSource(file, file.size, transfer.s.blksize, transfer.s.windowsize);
    sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    sock.on('error', (err) => this.host.log.debug({ err }, `tftp: transfer socket error for ${address}:${port}`));
    // Windows go out in one system call each. Only for blocks of 512 bytes and
    // more: every packet larger than the segment size is cut, and an OACK or
    // ERROR must never be.
    const batch = !host.gso ? 1 : windowBatch(transfer.s.blksize, transfer.s.windowsize);
    if (batch > 1 && setSegmentSize(sock, transfer.s.blksize + 4)) this.batch = batch;
  }

  private readonly onBatchSent = (err: Error | null): void => {
    if (!err || this.batch === 1) return;
    // E.g. a segment larger than the route's MTU: go on block by block, resending the window now.
    this.host.log.debug({ err }, `tftp: segmentation offload refused for ${this.address}; sending block by block`);
    this.batch = 1;
    setSegmentSize(this.sock, 0);
    if (!this.done) this.sendRange(this.transfer.base, this.transfer.next - 1, ++this.gen);
  };

  start(): void {
    // Start reading the first window while the OACK is on its way; the read-ahead waits for an answer.
    this.source.get(1, false);
    this.act(this.transfer.start(performance.now()));
  }

  tick(now: number): void {
    if (!this.done) this.act(this.transfer.tick(now));
  }

  get client(): string {
    return this.address;
  }

  get base(): number {
    return this.transfer.base;
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.done) return;
    if (rinfo.port !== this.port || rinfo.address !== this.address) {
      // RFC 1350: a packet from another transfer id gets ERROR 5 and does not disturb this transfer.
      const isError = msg.length >= 2 && msg[0] === 0 && msg[1] === 5;
      if (!isError && this.host.allowStranger(rinfo.address)) {
        this.host.countError(ERR.UNKNOWN_TID);
        this.sock.send(encodeError(ERR.UNKNOWN_TID, 'unknown transfer ID'), rinfo.port, rinfo.address);
      }
      return;
    }
    if (msg.length < 4 || msg[0] !== 0) return;
    if (msg[1] === 4) {
      const before = this.transfer.base;
      const wasAnswered = this.transfer.answered;
      const actions = this.transfer.ack(msg.readUInt16BE(2), performance.now());
      if (this.transfer.base !== before) this.source.release(this.transfer.base);
      if (!wasAnswered && this.transfer.answered) this.host.answered(this);
      this.act(actions);
    } else if (msg[1] === 5) {
      this.clientMessage = msg.subarray(4, Math.max(4, msg.indexOf(0, 4))).toString('latin1').replace(/[^\x20-\x7e]/g, '?');
      this.act(this.transfer.clientError(performance.now()));
    }
    // Anything else from the client (DATA, a second RRQ) is not part of a read transfer: ignored.
  }

  private clientMessage: string | undefined;

  private act(actions: readonly Action[]): void {
    for (const a of actions) {
      if (a.type === 'data') this.sendRange(a.first, a.last, ++this.gen);
      else if (a.type === 'oack') this.sock.send(encodeOack(this.oack), this.port, this.address);
      else this.finish(a.outcome);
    }
  }

  private sendRange(first: number, last: number, gen: number): void {
    for (let b = first; b <= last; ) {
      const payload = this.source.get(b);
      if (!payload) {
        this.source.wait(b).then(
          () => {
            if (!this.done && gen === this.gen) this.sendRange(b, last, gen);
          },
          (err: unknown) => this.readFailed(err),
        );
        return;
      }
      const list = [dataHeader(b), payload];
      let n = 1;
      // Back-to-back full blocks (only the file's last block is short, and it ends a batch).
      for (; n < this.batch && b + n <= last; n++) {
        const p = this.source.get(b + n);
        if (!p) break;
        list.push(dataHeader(b + n), p);
      }
      if (n > 1) this.sock.send(list, this.port, this.address, this.onBatchSent);
      else this.sock.send(list, this.port, this.address);
      b += n;
    }
  }

  private readFailed(err: unknown): void {
    if (this.done) return;
    const reason = (err as Error)?.message ?? String(err);
    this.host.log.error({ err }, `tftp: reading '${this.path}' for ${this.address} failed`);
    this.host.countError(ERR.NOT_DEFINED);
    this.sock.send(encodeError(ERR.NOT_DEFINED, 'error reading the file (see the server log)'), this.port, this.address);
    this.close('read-error', reason);
  }

  private finish(outcome: Outcome): void {
    const t = this.transfer;
    // A client that never answered may be a forged source: nothing more goes there.
    if (outcome === 'timeout' && t.answered) {
      this.host.countError(ERR.NOT_DEFINED);
      this.sock.send(encodeError(ERR.NOT_DEFINED, 'transfer timed out'), this.port, this.address);
    }
    let reason: string | undefined;
    if (outcome === 'client-error') reason = `client sent ERROR: ${this.clientMessage ?? ''}`;
    else if (outcome === 'timeout') reason = t.answered ? `no answer after ${t.timeouts - 1} retransmissions` : `the client never answered (${t.timeouts - 1} retransmissions)`;
    this.close(outcome, reason);
  }

  abort(reason: string, notify = true): void {
    if (this.done) return;
    if (notify) this.host.countError(ERR.NOT_DEFINED);
    if (notify) this.sock.send(encodeError(ERR.NOT_DEFINED, reason), this.port, this.address);
    this.close('aborted', reason);
  }

  private close(outcome: TransferRecord['outcome'], reason?: string): void {
    if (this.done) return;
    this.done = true;
    this.gen++;
    const t = this.transfer;
    // Let queued sends (the ERROR above) leave before the socket goes.
    setImmediate(() => this.sock.close());
    closeAndReport(this.host, this, this.file, {
      client: this.address,
      port: this.port,
      mode: this.mode,
      bytes: t.bytesAcked,
      tsizeAsked: asksSize(this.oack),
      blksize: t.s.blksize,
      windowsize: t.s.windowsize,
      startedWall: this.startedWall,
      retransmits: t.retransmits,
      timeouts: t.timeouts,
      outcome,
      answered: t.answered,
      ...(reason ? { reason } : {}),
    });
  }
}

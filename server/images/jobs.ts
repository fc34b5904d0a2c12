// Build jobs: one at a time (a build already uses every core), each with a
// log, progress and a final state, kept in memory for the API and the CLI.
// Asking to build an image that already has a queued or running job returns
// that job: two identical builds would only race to the same version.
import { EventEmitter } from 'node:events';
import type { BuildProgress, BuildResult } from './builder.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface BuildJob {
  id: string;
  image: string;
  state: JobState;
  trigger: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  progress: BuildProgress | null;
  version: string | null;
  /** False when the build produced a version already stored. */
  changed: boolean | null;
  error: string | null;
  log: string[];
}

export type JobEvent =
  | { type: 'log'; line: string }
  | { type: 'progress'; progress: BuildProgress }
  | { type: 'state'; state: JobState; version: string | null; error: string | null };

export type BuildRunner = (job: BuildJob, hooks: { log: (line: string) => void; progress: (p: BuildProgress) => void; signal: AbortSignal }) => Promise<BuildResult>;

const KEEP_FINISHED = 100;
const MAX_LOG_LINES = 2000;

export class JobQueue extends EventEmitter<{ event: [BuildJob, JobEvent] }> {
  private readonly jobs = new Map<string, BuildJob>();
  private readonly queue: BuildJob[] = [];
  private running: { job: BuildJob; abort: AbortController; done: Promise<void> } | undefined;
  private seq = 0;
  private stopped = false;

  constructor(private readonly runner: BuildRunner) {
    super();
    this.setMaxListeners(0);
  }

  submit(image: string, trigger: string): { job: BuildJob; reused: boolean } {
    if (this.stopped) throw new Error('the image service is stopping');
    const pending = [...this.queue, ...(this.running ? [this.running.job] : [])].find((j) => j.image === image);
    if (pending) return { job: pending, reused: true };
    const job: BuildJob = {
      id: `${Date.now().toString(36)}-${(++this.seq).toString(36)}`,
      image,
      state: 'queued',
      trigger,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      progress: null,
      version: null,
      changed: null,
      error: null,
      log: [],
    };
    this.jobs.set(job.id, job);
    this.queue.push(job);
    this.trim();
    queueMicrotask(() => this.next());
    return { job, reused: false };
  }

  get(id: string): BuildJob | undefined {
    return this.jobs.get(id);
  }

  list(image?: string): BuildJob[] {
    return [...this.jobs.values()].filter((j) => !image || j.image === image).reverse();
  }

  /** Resolves when the job reaches succeeded or failed. */
  wait(job: BuildJob): Promise<BuildJob> {
    if (job.state === 'succeeded' || job.state === 'failed') return Promise.resolve(job);
    return new Promise((resolve) => {
      const on = (j: BuildJob, e: JobEvent) => {
        if (j === job && e.type === 'state' && (e.state === 'succeeded' || e.state === 'failed')) {
          this.off('event', on);
          resolve(job);
        }
      };
      this.on('event', on);
    });
  }

  get busy(): boolean {
    return !!this.running || this.queue.length > 0;
  }

  private trim(): void {
    const finished = [...this.jobs.values()].filter((j) => j.state === 'succeeded' || j.state === 'failed');
    for (const j of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.jobs.delete(j.id);
  }

  private next(): void {
    if (this.running || this.stopped) return;
    const job = this.queue.shift();
    if (!job) return;
    const abort = new AbortController();
    const emit = (e: JobEvent) => this.emit('event', job, e);
    job.state = 'running';
    job.startedAt = new Date().toISOString();
    emit({ type: 'state', state: 'running', version: null, error: null });
    const log = (line: string) => {
      if (job.log.length < MAX_LOG_LINES) job.log.push(line);
      emit({ type: 'log', line });
    };
    const progress = (p: BuildProgress) => {
      job.progress = p;
      emit({ type: 'progress', progress: p });
    };
    const done = this.runner(job, { log, progress, signal: abort.signal }).then(
      (r) => {
        job.state = 'succeeded';
        job.version = r.version;
        job.changed = r.changed;
      },
      (e: Error) => {
        job.state = 'failed';
        job.error = e.message;
        log(`error: ${e.message}`);
      },
    );
    this.running = {
      job,
      abort,
      done: done.then(() => {
        job.finishedAt = new Date().toISOString();
        this.running = undefined;
        emit({ type: 'state', state: job.state, version: job.version, error: job.error });
        this.trim();
        this.next();
      }),
    };
  }

  /** Cancel what is queued, stop the running build, wait for it. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const j of this.queue.splice(0)) {
      j.state = 'failed';
      j.error = 'cancelled: the server stopped';
      j.finishedAt = new Date().toISOString();
      this.emit('event', j, { type: 'state', state: 'failed', version: null, error: j.error });
    }
    if (this.running) {
      this.running.abort.abort();
      await this.running.done;
    }
  }
}

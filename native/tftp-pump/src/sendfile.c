// rackboot's native HTTP body path: a response body made of file ranges,
// bytes and zeros (a BootFile's segments) goes out with sendfile(2) from a
// few threads, as Apache sends it, instead of being read into Node buffers
// and written (two copies through user space and a JS call per 64 KiB: with
// 50 downloads at once bench/httpboot K50 ran at 0.4x Apache).
//
// Node writes the response head; this writes the body on the same socket,
// then calls done(error, bytes) on the JS thread, and Node ends the response
// (nothing more to write: Content-Length was sent). Node never writes to the
// socket in between. The socket is dup()ed: if Node closes its descriptor
// (the client went), the number cannot be reused under a send here.
//
// A few threads (one per core, at most 4) each wait in epoll_wait for their
// sockets to take more (EPOLLOUT, one-shot); a body is sent up to TURN_BYTES
// per turn so that one fast reader does not hold the others up. A body that
// makes no progress for opts.stallMs ends with an error (the client stopped
// reading); abort(handle) ends it at once.
//
// JS API:
//   send(sockFd, segments, opts, done) -> handle   throws on a bad argument
//     segments: [{fd, offset, length} | {data: Buffer} | {zero: n}]
//     opts: {stallMs}
//   abort(handle)
// done(null | message, bytesSent) is called once, on the JS thread.
#define _GNU_SOURCE
#include <node_api.h>

#include "epoll-thread.h"
#include "segments.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 4
/* Bytes a body may send in one turn before the worker serves the others. */
#define TURN_BYTES (1 << 20)
#define ZERO_CHUNK (64 * 1024)

typedef segment_t part_t;

typedef struct job {
  int sock; /* our dup of Node's socket */
  part_t *parts;
  int nparts, cur;
  int64_t done_in_cur, sent;
  double stall_ms, last_progress;
  int registered; /* in the worker's epoll set */
  int waiting;    /* armed for EPOLLOUT (not on the ready list, not running) */
  atomic_int aborted;
  int delivered; /* JS thread only: done() was called, sock closed */
  atomic_int refs; /* the worker's (until delivered) and the JS handle's */
  char error[160];
  napi_threadsafe_function tsfn;
  struct job *next; /* on a worker's ready or incoming list */
  struct worker *w;
} job_t;

typedef struct worker {
  int epfd, evfd;
  pthread_mutex_t lock;
  job_t *incoming; /* under lock */
  job_t *ready;    /* worker thread only */
  job_t **all;     /* worker thread only: for the stall and abort scan */
  int n, cap;
  atomic_int load;
} worker_t;

static worker_t workers[MAX_WORKERS];
static int nworkers = -1;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t zeros[ZERO_CHUNK];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void job_unref(job_t *j) {
  if (atomic_fetch_sub(&j->refs, 1) != 1) return;
  free_segments(j->parts, j->nparts);
  free(j);
}

/* One turn: 1 finished (or failed), 0 wants EPOLLOUT, 2 wants another turn. */
static int pump(job_t *j) {
  int64_t turn = 0;
  while (j->cur < j->nparts) {
    if (atomic_load(&j->aborted)) {
      snprintf(j->error, sizeof j->error, "aborted");
      return 1;
    }
    part_t *p = &j->parts[j->cur];
    int64_t left = p->length - j->done_in_cur;
    if (left <= 0) {
      j->cur++;
      j->done_in_cur = 0;
      continue;
    }
    if (turn >= TURN_BYTES) return 2;
    size_t want = (size_t)(left < TURN_BYTES ? left : TURN_BYTES);
    ssize_t r;
    if (p->fd >= 0) {
      off_t off = (off_t)(p->offset + j->done_in_cur);
      r = sendfile(j->sock, p->fd, &off, want);
      if (r == 0) {
        snprintf(j->error, sizeof j->error, "the file ended %lld bytes early (changed while sent?)", (long long)left);
        return 1;
      }
    } else {
      const uint8_t *src = p->data ? p->data + j->done_in_cur : zeros;
      if (!p->data && want > ZERO_CHUNK) want = ZERO_CHUNK;
      r = send(j->sock, src, want, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      snprintf(j->error, sizeof j->error, "%s", strerror(errno));
      return 1;
    }
    j->done_in_cur += r;
    j->sent += r;
    turn += r;
    j->last_progress = now_ms();
  }
  return 1;
}

static void finish(worker_t *w, job_t *j) {
  if (j->registered) epoll_ctl(w->epfd, EPOLL_CTL_DEL, j->sock, NULL);
  j->registered = 0;
  for (int i = 0; i < w->n; i++) {
    if (w->all[i] == j) {
      w->all[i] = w->all[--w->n];
      break;
    }
  }
  atomic_fetch_sub(&w->load, 1);
  napi_threadsafe_function tsfn = j->tsfn;
  napi_call_threadsafe_function(tsfn, j, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
}

/* Runs a turn of j and puts it where it belongs next. */
static void step(worker_t *w, job_t *j) {
  j->waiting = 0;
  int r = pump(j);
  if (r == 1) {
    finish(w, j);
  } else if (r == 2) {
    j->next = w->ready;
    w->ready = j;
  } else {
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.ptr = j};
    if (epoll_ctl(w->epfd, j->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, j->sock, &ev) == 0) {
      j->registered = 1;
      j->waiting = 1;
    } else {
      snprintf(j->error, sizeof j->error, "epoll_ctl: %s", strerror(errno));
      finish(w, j);
    }
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  struct epoll_event evs[128];
  double next_scan = now_ms() + 1000;
  for (;;) {
    int got = epoll_wait(w->epfd, evs, 128, w->ready ? 0 : w->n ? 1000 : -1);
    for (int i = 0; i < got; i++) {
      job_t *j = evs[i].data.ptr;
      if (j) {
        step(w, j);
        continue;
      }
      uint64_t x;
      while (read(w->evfd, &x, sizeof x) > 0) {
      }
      pthread_mutex_lock(&w->lock);
      job_t *in = w->incoming;
      w->incoming = NULL;
      pthread_mutex_unlock(&w->lock);
      while (in) {
        job_t *j2 = in;
        in = in->next;
        if (w->n == w->cap) {
          int cap = w->cap ? w->cap * 2 : 64;
          job_t **l = realloc(w->all, (size_t)cap * sizeof *l);
          if (l) w->all = l, w->cap = cap;
        }
        /* Without memory for its scan entry a body still goes out, unwatched for stalls. */
        if (w->n < w->cap) w->all[w->n++] = j2;
        j2->last_progress = now_ms();
        step(w, j2);
      }
    }
    /* Bodies that may send more now: a turn each. */
    job_t *r = w->ready;
    w->ready = NULL;
    while (r) {
      job_t *j = r;
      r = r->next;
      step(w, j);
    }
    double now = now_ms();
    if (now < next_scan) continue;
    next_scan = now + 1000;
    for (int i = 0; i < w->n;) {
      job_t *j = w->all[i];
      int stalled = j->stall_ms > 0 && now - j->last_progress > j->stall_ms;
      if (j->waiting && (stalled || atomic_load(&j->aborted))) {
        if (stalled) snprintf(j->error, sizeof j->error, "no progress for %.0f ms (the client stopped reading)", j->stall_ms);
        else snprintf(j->error, sizeof j->error, "aborted");
        finish(w, j); /* moves the last entry into i */
        continue;
      }
      i++;
    }
  }
  return NULL;
}

static worker_t *acquire(void) {
  pthread_mutex_lock(&start_lock);
  if (nworkers < 0) {
    int want = threads_for_cores(MAX_WORKERS);
    nworkers = 0;
    for (int i = 0; i < want; i++) {
      worker_t *w = &workers[nworkers];
      memset(w, 0, sizeof *w);
      pthread_mutex_init(&w->lock, NULL);
      if (start_epoll_thread(&w->epfd, &w->evfd, worker_main, w) < 0) break;
      nworkers++;
    }
  }
  worker_t *best = NULL;
  for (int i = 0; i < nworkers; i++)
    if (!best || atomic_load(&workers[i].load) < atomic_load(&best->load)) best = &workers[i];
  if (best) atomic_fetch_add(&best->load, 1);
  pthread_mutex_unlock(&start_lock);
  return best;
}

/* On the JS thread: our socket descriptor closed, then done(error, bytes). */
static void deliver(napi_env env, napi_value done, void *context, void *data) {
  (void)context;
  job_t *j = data;
  j->delivered = 1;
  close(j->sock);
  if (env && done) {
    napi_value argv[2], undef;
    if (j->error[0]) napi_create_string_utf8(env, j->error, NAPI_AUTO_LENGTH, &argv[0]);
    else napi_get_null(env, &argv[0]);
    napi_create_double(env, (double)j->sent, &argv[1]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, done, 2, argv, NULL);
  }
  job_unref(j);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  job_unref(data);
}




static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return throw_err(env, "http-sendfile: send(sockFd, segments, opts, done)");
  double fd;
  if (napi_get_value_double(env, argv[0], &fd) != napi_ok || fd < 0) return throw_err(env, "http-sendfile: sockFd must be a descriptor");
  job_t *j = calloc(1, sizeof *j);
  if (!j) return throw_err(env, "http-sendfile: out of memory");
  j->sock = -1;
  atomic_store(&j->refs, 1);
  if (read_segment_array(env, argv[1], &j->parts, &j->nparts) < 0) {
    job_unref(j);
    return throw_err(env, "http-sendfile: segments must be an array of {fd, offset, length}, {data} or {zero}");
  }
  if (has(env, argv[2], "stallMs")) get_num(env, argv[2], "stallMs", &j->stall_ms);
  j->sock = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
  if (j->sock < 0) {
    char m[120];
    snprintf(m, sizeof m, "http-sendfile: cannot take the socket: %s", strerror(errno));
    job_unref(j);
    return throw_err(env, m);
  }
  napi_value name;
  napi_create_string_utf8(env, "http-sendfile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, NULL, NULL, deliver, &j->tsfn) != napi_ok) {
    close(j->sock);
    job_unref(j);
    return throw_err(env, "http-sendfile: done must be a function");
  }
  napi_value handle;
  atomic_store(&j->refs, 2); /* the worker's (until deliver) and the handle's */
  if (napi_create_external(env, j, finalize_handle, NULL, &handle) != napi_ok) {
    atomic_store(&j->refs, 1);
    napi_release_threadsafe_function(j->tsfn, napi_tsfn_abort);
    close(j->sock);
    job_unref(j);
    return throw_err(env, "http-sendfile: napi_create_external");
  }
  worker_t *w = acquire();
  if (!w) {
    atomic_store(&j->refs, 1); /* the handle's only */
    napi_release_threadsafe_function(j->tsfn, napi_tsfn_abort);
    close(j->sock);
    return throw_err(env, "http-sendfile: cannot start a sending thread");
  }
  j->w = w;
  pthread_mutex_lock(&w->lock);
  j->next = w->incoming;
  w->incoming = j;
  pthread_mutex_unlock(&w->lock);
  uint64_t one = 1;
  ssize_t r = write(w->evfd, &one, sizeof one);
  (void)r;
  return handle;
}

static napi_value js_abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok) {
    return throw_err(env, "http-sendfile: abort(handle)");
  }
  job_t *j = p;
  if (j->delivered || atomic_load(&j->aborted)) return NULL;
  atomic_store(&j->aborted, 1);
  /* Wakes a body waiting for EPOLLOUT: the socket's write side is shut, so
     it reports writable and the next turn sees the abort (or EPIPE). The
     response is being thrown away either way. */
  shutdown(j->sock, SHUT_WR);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, js_abort, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

// Batched UDP I/O for the DHCP server: recvmmsg()/sendmmsg() on a socket Node
// opened and configured (bound to its interface, broadcast allowed). Node's
// dgram makes one system call and one call into JavaScript per datagram, and
// one more system call per reply; at tens of thousands of exchanges a second
// that is a large share of the server's CPU. Here one readable event reads up
// to a batch of datagrams into a buffer JavaScript owns and calls JavaScript
// once; replies are sent with one sendmmsg() per batch.
//
// Runs on the Node main thread (a uv_poll on the socket): no threads, no locks.
// Datagrams the kernel cannot take yet (EAGAIN: the send buffer is full) are
// kept, in order, and sent when the socket is writable again; later sends
// queue behind them. Unlike dgram's queue this one is bounded: at most
// PENDING_MAX datagrams (PENDING_MAX_BYTES) waiting, none older than
// PENDING_MAX_AGE_MS. When it is full the oldest waiting datagram is dropped,
// not the new one (a DHCP reply that waited that long is stale: the client
// has asked again), and a dropped one counts as failed.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256

/** Held until the socket is writable: bounded; beyond it the oldest waiting datagrams are dropped (counted as failed). */
#define PENDING_MAX 256
#define PENDING_MAX_BYTES (512u << 10)
#define PENDING_MAX_AGE_MS 2000.0

typedef struct {
  uint32_t off;
  uint32_t len;
  uint32_t addr;
  uint16_t port;
  double at; /* when it was queued (ms, monotonic) */
} pending_t;

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct {
  int fd;
  uv_poll_t poll;
  int polling;
  int poll_closed; /* libuv's close callback ran */
  int finalized;   /* the JavaScript wrapper was collected */
  napi_env env;
  napi_ref callback;
  napi_ref recv_buf_ref;
  napi_ref meta_ref;
  napi_async_context async;
  uint8_t *recv_buf;
  size_t slot;
  size_t slots;
  int32_t *meta; /* per slot: length (-1: truncated), source address (host order), port */
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct sockaddr_in from[MAX_BATCH];
  /* Datagrams waiting for the socket to be writable: records, and their bytes. */
  pending_t *pend;
  size_t pend_n, pend_cap, pend_head;
  uint8_t *pend_bytes;
  size_t pend_used, pend_bytes_cap;
  int want_writable;
  /* Failures found while draining the queue, reported with the next send(). */
  uint32_t late_failed;
  int late_errno;
} batch_t;

static napi_value throw_err(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void on_events(uv_poll_t *h, int status, int events);

static void release(batch_t *b) {
  free(b->pend);
  free(b->pend_bytes);
  free(b);
}

/* Freed by whichever of these runs second (a wrapper never closed keeps its poll, and the struct). */
static void free_batch(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  batch_t *b = data;
  b->finalized = 1;
  if (b->poll_closed) release(b);
}

static void on_poll_closed(uv_handle_t *h) {
  batch_t *b = h->data;
  b->poll_closed = 1;
  if (b->finalized) release(b);
}

static void set_events(batch_t *b) {
  if (!b->polling) return;
  int want = b->pend_n > b->pend_head;
  if (want == b->want_writable) return;
  b->want_writable = want;
  uv_poll_start(&b->poll, UV_READABLE | (want ? UV_WRITABLE : 0), on_events);
}

/* Drop waiting datagrams from the head: the stale ones, then while `need` more would not fit. */
static void drop_oldest(batch_t *b, uint32_t need_count, uint32_t need_bytes, double now) {
  while (b->pend_head < b->pend_n) {
    pending_t *p = &b->pend[b->pend_head];
    size_t live = b->pend_used - p->off;
    int stale = now - p->at > PENDING_MAX_AGE_MS;
    int full = b->pend_n - b->pend_head + need_count > PENDING_MAX || live + need_bytes > PENDING_MAX_BYTES;
    if (!stale && !full) break;
    b->pend_head++;
    b->late_failed++;
    b->late_errno = stale ? ETIMEDOUT : ENOBUFS;
  }
  if (b->pend_head == b->pend_n) b->pend_head = b->pend_n = b->pend_used = 0;
}

/* Move the waiting records and their bytes to the front of their buffers. */
static void compact(batch_t *b) {
  if (!b->pend_head) return;
  uint32_t off0 = b->pend[b->pend_head].off;
  size_t n = b->pend_n - b->pend_head;
  memmove(b->pend_bytes, b->pend_bytes + off0, b->pend_used - off0);
  memmove(b->pend, b->pend + b->pend_head, n * sizeof *b->pend);
  for (size_t i = 0; i < n; i++) b->pend[i].off -= off0;
  b->pend_used -= off0;
  b->pend_n = n;
  b->pend_head = 0;
}

/* Keep a datagram for later, dropping the oldest waiting ones to make room; 0 when it cannot be kept at all. */
static int enqueue(batch_t *b, const uint8_t *data, uint32_t len, uint32_t addr, uint16_t port) {
  if (len > PENDING_MAX_BYTES) return 0;
  double now = mono_ms();
  drop_oldest(b, 1, len, now);
  if (b->pend_used + len > PENDING_MAX_BYTES || b->pend_n == PENDING_MAX) compact(b);
  if (b->pend_n == b->pend_cap) {
    size_t cap = b->pend_cap ? b->pend_cap * 2 : 256;
    pending_t *p = realloc(b->pend, cap * sizeof *p);
    if (!p) return 0;
    b->pend = p;
    b->pend_cap = cap;
  }
  if (b->pend_used + len > b->pend_bytes_cap) {
    size_t cap = b->pend_bytes_cap ? b->pend_bytes_cap : 65536;
    while (cap < b->pend_used + len) cap *= 2;
    uint8_t *q = realloc(b->pend_bytes, cap);
    if (!q) return 0;
    b->pend_bytes = q;
    b->pend_bytes_cap = cap;
  }
  memcpy(b->pend_bytes + b->pend_used, data, len);
  b->pend[b->pend_n++] = (pending_t){(uint32_t)b->pend_used, len, addr, port, now};
  b->pend_used += len;
  return 1;
}

/*
 * sendmmsg() of up to 64 datagrams; returns how many were consumed (sent or
 * failed) and stops early,
 * returning the count so far, on EAGAIN. A datagram refused for another reason
 * is counted in *failed and skipped.
 */
typedef struct {
  const uint8_t *data;
  uint32_t len;
  uint32_t addr;
  uint16_t port;
} dgram_t;

static uint32_t send_some(int fd, const dgram_t *d, uint32_t k, uint32_t *failed, int *last, int *again) {
  struct mmsghdr msgs[64];
  struct iovec iov[64];
  struct sockaddr_in to[64];
  if (k > 64) k = 64;
  for (uint32_t i = 0; i < k; i++) {
    iov[i].iov_base = (void *)d[i].data;
    iov[i].iov_len = d[i].len;
    memset(&to[i], 0, sizeof to[i]);
    to[i].sin_family = AF_INET;
    to[i].sin_addr.s_addr = htonl(d[i].addr);
    to[i].sin_port = htons(d[i].port);
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to[i];
    msgs[i].msg_hdr.msg_namelen = sizeof to[i];
  }
  uint32_t done = 0;
  *again = 0;
  while (done < k) {
    int r = sendmmsg(fd, msgs + done, k - done, MSG_DONTWAIT);
    if (r > 0) {
      done += (uint32_t)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The send buffer is full: wait for writable, keep the rest. (ENOBUFS, a full device
      // queue, is not waited for: the socket may stay writable. It fails the datagram, as in dgram.)
      *again = 1;
      break;
    } else {
      // This datagram is refused (EHOSTUNREACH, EINVAL...): counted and skipped, as dgram reports it.
      *last = r < 0 ? errno : EIO;
      (*failed)++;
      done++;
    }
  }
  return done;
}

/* Send queued datagrams while the socket takes them (stale ones are dropped first). */
static void drain_pending(batch_t *b) {
  dgram_t d[64];
  drop_oldest(b, 0, 0, mono_ms());
  while (b->pend_head < b->pend_n) {
    uint32_t k = 0;
    for (size_t i = b->pend_head; i < b->pend_n && k < 64; i++, k++) {
      pending_t *p = &b->pend[i];
      d[k] = (dgram_t){b->pend_bytes + p->off, p->len, p->addr, p->port};
    }
    int again;
    uint32_t n = send_some(b->fd, d, k, &b->late_failed, &b->late_errno, &again);
    b->pend_head += n;
    if (again) break;
  }
  if (b->pend_head == b->pend_n) b->pend_head = b->pend_n = b->pend_used = 0;
  set_events(b);
}

/** open(fd, buffer, slotSize, meta: Int32Array, onBatch(count)): dups fd, starts reading. */
static napi_value bopen(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return throw_err(env, "open(fd, buffer, slotSize, meta, onBatch)");
  int32_t fd;
  uint32_t slot;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_err(env, "fd must be a file descriptor");
  void *buf;
  size_t buflen;
  if (napi_get_buffer_info(env, argv[1], &buf, &buflen) != napi_ok) return throw_err(env, "buffer must be a Buffer");
  if (napi_get_value_uint32(env, argv[2], &slot) != napi_ok || slot < 576 || slot > 65536) return throw_err(env, "slotSize must be 576..65536");
  bool is_ta;
  napi_is_typedarray(env, argv[3], &is_ta);
  if (!is_ta) return throw_err(env, "meta must be an Int32Array");
  napi_typedarray_type tt;
  size_t tlen;
  void *tdata;
  napi_get_typedarray_info(env, argv[3], &tt, &tlen, &tdata, NULL, NULL);
  if (tt != napi_int32_array) return throw_err(env, "meta must be an Int32Array");
  size_t slots = buflen / slot;
  if (slots > MAX_BATCH) slots = MAX_BATCH;
  if (slots < 1 || tlen < slots * 3) return throw_err(env, "meta must hold 3 numbers per slot");
  napi_valuetype vt;
  napi_typeof(env, argv[4], &vt);
  if (vt != napi_function) return throw_err(env, "onBatch must be a function");

  batch_t *b = calloc(1, sizeof *b);
  if (!b) return throw_err(env, "out of memory");
  // Close-on-exec, as libuv's own descriptor: children (ganesha, keepalived) must not hold port 67.
  b->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (b->fd < 0) {
    free(b);
    return throw_err(env, "dup() of the socket failed");
  }
  b->env = env;
  b->recv_buf = buf;
  b->slot = slot;
  b->slots = slots;
  b->meta = tdata;
  napi_create_reference(env, argv[1], 1, &b->recv_buf_ref);
  napi_create_reference(env, argv[3], 1, &b->meta_ref);
  napi_create_reference(env, argv[4], 1, &b->callback);
  napi_value name;
  napi_create_string_utf8(env, "rackboot:udp-batch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &b->async);
  for (size_t i = 0; i < slots; i++) {
    b->iov[i].iov_base = b->recv_buf + i * slot;
    b->iov[i].iov_len = slot;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &b->poll, b->fd) != 0 || (b->poll.data = b, uv_poll_start(&b->poll, UV_READABLE, on_events) != 0)) {
    napi_delete_reference(env, b->callback);
    napi_delete_reference(env, b->recv_buf_ref);
    napi_delete_reference(env, b->meta_ref);
    napi_async_destroy(env, b->async);
    close(b->fd);
    free(b);
    return throw_err(env, "cannot poll the socket (uv_poll_init/uv_poll_start failed)");
  }
  b->polling = 1;
  napi_value ext;
  napi_create_external(env, b, free_batch, NULL, &ext);
  return ext;
}

/* Calls onBatch(count); a negative count is -errno of a socket error. */
static void call_js(batch_t *b, int count) {
  napi_env env = b->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, arg, result;
  napi_get_reference_value(env, b->callback, &cb);
  napi_get_global(env, &recv); /* make_callback wants an object as `this` */
  napi_create_int32(env, count, &arg);
  // make_callback: the microtask and nextTick queues run after it, as after any I/O callback.
  napi_status st = napi_make_callback(env, b->async, recv, cb, 1, &arg, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void on_events(uv_poll_t *h, int status, int events) {
  batch_t *b = h->data;
  if (!b->polling) return;
  if (status < 0) {
    // libuv stopped the poll on a socket error: clear it (SO_ERROR), poll again, and say so.
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    b->want_writable = b->pend_n > b->pend_head;
    uv_poll_start(&b->poll, UV_READABLE | (b->want_writable ? UV_WRITABLE : 0), on_events);
    call_js(b, err ? -err : -EIO);
    return;
  }
  if (events & UV_WRITABLE) drain_pending(b);
  if (!(events & UV_READABLE)) return;
  // One batch per readable event, then back to the event loop: the lease commit (a setImmediate)
  // follows every batch, so ACKs leave in bursts of at most a batch. Reading up to 4 batches per
  // event made bursts that overflowed perfdhcp's receive buffer at 32,000/s (bench/dhcp).
  for (size_t i = 0; i < b->slots; i++) {
    memset(&b->msgs[i].msg_hdr, 0, sizeof b->msgs[i].msg_hdr);
    b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
    b->msgs[i].msg_hdr.msg_iovlen = 1;
    b->msgs[i].msg_hdr.msg_name = &b->from[i];
    b->msgs[i].msg_hdr.msg_namelen = sizeof b->from[i];
    b->msgs[i].msg_len = 0;
  }
  int n = recvmmsg(b->fd, b->msgs, (unsigned)b->slots, MSG_DONTWAIT, NULL);
  if (n <= 0) return; /* EAGAIN (drained) or an error the next event reports again */
  for (int i = 0; i < n; i++) {
    int trunc = (b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    b->meta[i * 3] = trunc ? -1 : (int32_t)b->msgs[i].msg_len;
    b->meta[i * 3 + 1] = (int32_t)ntohl(b->from[i].sin_addr.s_addr);
    b->meta[i * 3 + 2] = ntohs(b->from[i].sin_port);
  }
  call_js(b, n);
}

/**
 * send(handle, buffer, meta: Int32Array, count): sendmmsg() of `count`
 * datagrams, meta per datagram [offset, length, address (host order), port].
 * Returns [failed, lastErrno]: a datagram the kernel refuses is skipped, the
 * rest are still sent.
 */
static napi_value bsend(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return throw_err(env, "send(handle, buffer, meta, count)");
  batch_t *b;
  if (napi_get_value_external(env, argv[0], (void **)&b) != napi_ok || !b || b->fd < 0) return throw_err(env, "not an open udp-batch handle");
  if (!b->polling) return throw_err(env, "the udp-batch handle is closed");
  void *buf;
  size_t buflen;
  if (napi_get_buffer_info(env, argv[1], &buf, &buflen) != napi_ok) return throw_err(env, "buffer must be a Buffer");
  napi_typedarray_type tt;
  size_t tlen;
  void *tdata;
  if (napi_get_typedarray_info(env, argv[2], &tt, &tlen, &tdata, NULL, NULL) != napi_ok || tt != napi_int32_array) return throw_err(env, "meta must be an Int32Array");
  uint32_t count;
  if (napi_get_value_uint32(env, argv[3], &count) != napi_ok || (size_t)count * 4 > tlen) return throw_err(env, "count exceeds meta");
  const int32_t *m = tdata;
  for (uint32_t i = 0; i < count; i++) {
    const int32_t *e = m + (size_t)i * 4;
    size_t off = (uint32_t)e[0], len = (uint32_t)e[1];
    if (off > buflen || len > buflen - off) return throw_err(env, "a datagram lies outside the buffer");
  }
  uint32_t failed = b->late_failed;
  int last = b->late_errno;
  b->late_failed = 0;
  b->late_errno = 0;
  uint32_t done = 0;
  dgram_t d[64];
  // Straight to the socket unless earlier datagrams still wait (order is kept).
  while (done < count && b->pend_head == b->pend_n) {
    uint32_t k = count - done > 64 ? 64 : count - done;
    for (uint32_t i = 0; i < k; i++) {
      const int32_t *e = m + (size_t)(done + i) * 4;
      d[i] = (dgram_t){(const uint8_t *)buf + (uint32_t)e[0], (uint32_t)e[1], (uint32_t)e[2], (uint16_t)e[3]};
    }
    int again;
    done += send_some(b->fd, d, k, &failed, &last, &again);
    if (again) break;
  }
  for (; done < count; done++) {
    const int32_t *e = m + (size_t)done * 4;
    if (!enqueue(b, (const uint8_t *)buf + (uint32_t)e[0], (uint32_t)e[1], (uint32_t)e[2], (uint16_t)e[3])) {
      failed++;
      last = ENOBUFS;
    }
  }
  set_events(b);
  napi_value out, v0, v1;
  napi_create_array_with_length(env, 2, &out);
  napi_create_uint32(env, failed, &v0);
  napi_create_int32(env, last, &v1);
  napi_set_element(env, out, 0, v0);
  napi_set_element(env, out, 1, v1);
  return out;
}

/** close(handle): one last try at what waits to be sent, then stops polling and closes the duplicated descriptor. */
static napi_value bclose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batch_t *b;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&b) != napi_ok || !b) return throw_err(env, "not a udp-batch handle");
  if (b->polling) {
    drain_pending(b);
    b->polling = 0;
    uv_poll_stop(&b->poll);
    uv_close((uv_handle_t *)&b->poll, on_poll_closed);
    close(b->fd);
    b->fd = -1;
    napi_delete_reference(env, b->callback);
    napi_delete_reference(env, b->recv_buf_ref);
    napi_delete_reference(env, b->meta_ref);
    napi_async_destroy(env, b->async);
  }
  return NULL;
}

/** strerror for the errno send() returns. */
static napi_value berror(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t e = 0;
  if (argc >= 1) napi_get_value_int32(env, argv[0], &e);
  napi_value s;
  napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &s);
  return s;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, bopen, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, bsend, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, bclose, NULL, NULL, NULL, napi_default, NULL},
      {"strerror", NULL, berror, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

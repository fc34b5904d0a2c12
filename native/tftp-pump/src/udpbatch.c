// Batched UDP I/O for the DHCP server: recvmmsg()/sendmmsg() on a socket Node
// opened and configured (bound to its interface, broadcast allowed). Node's
// dgram makes one system call and one call into JavaScript per datagram, and
// one more system call per reply; at tens of thousands of exchanges a second
// that is a large share of the server's CPU. Here one readable event reads up
// to a batch of datagrams into a buffer JavaScript owns and calls JavaScript
// once; replies are sent with one sendmmsg() per batch.
//
// Runs on the Node main thread (a uv_poll on the socket): no threads, no locks.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BATCH 256
/** Batches read per readable event before yielding to the event loop (fairness with timers, the API). */
#define ROUNDS 4

typedef struct {
  int fd;
  uv_poll_t poll;
  int polling;
  int closed;
  napi_env env;
  napi_ref callback;
  napi_ref recv_buf_ref;
  napi_ref meta_ref;
  napi_async_context async;
  uint8_t *recv_buf;
  size_t slot;
  size_t slots;
  int32_t *meta; /* per slot: length (-1: truncated), source address (network order as host int), port */
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct sockaddr_in from[MAX_BATCH];
} batch_t;

static napi_value throw_err(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void on_readable(uv_poll_t *h, int status, int events);

static void free_batch(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  batch_t *b = data;
  // Closed by JavaScript before it is collected; if not, the fd leaks rather than a freed handle being used.
  if (b->closed) free(b);
}

static void on_poll_closed(uv_handle_t *h) {
  batch_t *b = h->data;
  b->closed = 1;
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
  b->fd = dup(fd);
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
  if (uv_poll_init(loop, &b->poll, b->fd) != 0) {
    close(b->fd);
    free(b);
    return throw_err(env, "uv_poll_init failed");
  }
  b->poll.data = b;
  uv_poll_start(&b->poll, UV_READABLE, on_readable);
  b->polling = 1;
  napi_value ext;
  napi_create_external(env, b, free_batch, NULL, &ext);
  return ext;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  batch_t *b = h->data;
  if (status < 0 || !b->polling) return;
  napi_env env = b->env;
  for (int round = 0; round < ROUNDS && b->polling; round++) {
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
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value cb, recv, count, result;
    napi_get_reference_value(env, b->callback, &cb);
    napi_get_global(env, &recv); /* make_callback wants an object as `this` */
    napi_create_int32(env, n, &count);
    // make_callback: the microtask and nextTick queues run after it, as after any I/O callback.
    napi_status st = napi_make_callback(env, b->async, recv, cb, 1, &count, &result);
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
    napi_close_handle_scope(env, scope);
    if ((size_t)n < b->slots) return; /* the queue is empty */
  }
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
  struct mmsghdr msgs[64];
  struct iovec iov[64];
  struct sockaddr_in to[64];
  uint32_t failed = 0;
  int last = 0;
  uint32_t done = 0;
  while (done < count) {
    uint32_t k = count - done > 64 ? 64 : count - done;
    for (uint32_t i = 0; i < k; i++) {
      const int32_t *e = m + (size_t)(done + i) * 4;
      size_t off = (uint32_t)e[0], len = (uint32_t)e[1];
      if (off > buflen || len > buflen - off) return throw_err(env, "a datagram lies outside the buffer");
      iov[i].iov_base = (uint8_t *)buf + off;
      iov[i].iov_len = len;
      memset(&to[i], 0, sizeof to[i]);
      to[i].sin_family = AF_INET;
      to[i].sin_addr.s_addr = htonl((uint32_t)e[2]);
      to[i].sin_port = htons((uint16_t)e[3]);
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &to[i];
      msgs[i].msg_hdr.msg_namelen = sizeof to[i];
    }
    uint32_t sent = 0;
    while (sent < k) {
      int r = sendmmsg(b->fd, msgs + sent, k - sent, MSG_DONTWAIT);
      if (r > 0) {
        sent += (uint32_t)r;
      } else if (r < 0 && errno == EINTR) {
        continue;
      } else {
        // The first unsent datagram failed (ENOBUFS, EHOSTUNREACH, EAGAIN on a full
        // send queue...): counted and skipped, as Node's dgram reports a failed send.
        last = r < 0 ? errno : EIO;
        failed++;
        sent++;
      }
    }
    done += k;
  }
  napi_value out, v0, v1;
  napi_create_array_with_length(env, 2, &out);
  napi_create_uint32(env, failed, &v0);
  napi_create_int32(env, last, &v1);
  napi_set_element(env, out, 0, v0);
  napi_set_element(env, out, 1, v1);
  return out;
}

/** close(handle): stops reading and closes the duplicated descriptor. */
static napi_value bclose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batch_t *b;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&b) != napi_ok || !b) return throw_err(env, "not a udp-batch handle");
  if (b->polling) {
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

// A raw ICMPv6 socket on one interface, for rackboot's router advertisements
// (server/ra). Node's dgram has no raw sockets: this opens one, lets only the
// ICMPv6 types asked for through (ICMP6_FILTER), joins the all-routers group
// (ff02::2, where router solicitations go), sets the hop limit 255 that
// neighbor discovery requires on what it sends, and hands each message to
// JavaScript with its source address and the hop limit it arrived with. The
// kernel computes the ICMPv6 checksum. Runs on the Node main thread (a
// uv_poll on the socket); a few messages a boot, so one call per message.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif

typedef struct {
  int fd;
  unsigned ifindex;
  uv_poll_t poll;
  int polling;
  int poll_closed;
  int finalized;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
} icmp6_t;

static napi_value throw_err(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value throw_errno(napi_env env, const char *what, int e) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s: %s", what, strerror(e));
  napi_throw_error(env, e == EPERM || e == EACCES ? "EPERM" : NULL, buf);
  return NULL;
}

static void release(icmp6_t *s) { free(s); }

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  icmp6_t *s = data;
  s->finalized = 1;
  if (s->poll_closed) release(s);
}

static void on_poll_closed(uv_handle_t *h) {
  icmp6_t *s = h->data;
  s->poll_closed = 1;
  if (s->finalized) release(s);
}

/* onMessage(message: Buffer, from: Buffer (16 bytes), hopLimit: number) */
static void deliver(icmp6_t *s, const uint8_t *msg, size_t len, const struct in6_addr *from, int hops) {
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, argv[3], result;
  void *p;
  napi_get_reference_value(env, s->callback, &cb);
  napi_get_global(env, &recv);
  napi_create_buffer_copy(env, len, msg, &p, &argv[0]);
  napi_create_buffer_copy(env, 16, from->s6_addr, &p, &argv[1]);
  napi_create_int32(env, hops, &argv[2]);
  napi_status st = napi_make_callback(env, s->async, recv, cb, 3, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  icmp6_t *s = h->data;
  if (!s->polling) return;
  if (status < 0) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
    return;
  }
  if (!(events & UV_READABLE)) return;
  // Drain what is there: a solicitation is 8 to a few dozen bytes; a longer message is cut (MSG_TRUNC) and dropped.
  for (int i = 0; i < 64 && s->polling; i++) {
    uint8_t buf[1500];
    struct sockaddr_in6 from;
    union {
      struct cmsghdr h;
      uint8_t b[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {0};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.b;
    mh.msg_controllen = sizeof ctl.b;
    ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
    if (n < 0) break;
    if (mh.msg_flags & MSG_TRUNC) continue;
    int hops = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) memcpy(&hops, CMSG_DATA(c), sizeof hops);
    }
    deliver(s, buf, (size_t)n, &from.sin6_addr, hops);
  }
}

/** open(ifindex, types: number[], onMessage): a raw ICMPv6 socket on that interface. */
static napi_value iopen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_err(env, "open(ifindex, types, onMessage)");
  uint32_t ifindex;
  if (napi_get_value_uint32(env, argv[0], &ifindex) != napi_ok || ifindex == 0) return throw_err(env, "ifindex must be an interface index");
  bool is_array;
  napi_is_array(env, argv[1], &is_array);
  if (!is_array) return throw_err(env, "types must be an array of ICMPv6 types");
  napi_valuetype vt;
  napi_typeof(env, argv[2], &vt);
  if (vt != napi_function) return throw_err(env, "onMessage must be a function");

  struct icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  uint32_t ntypes;
  napi_get_array_length(env, argv[1], &ntypes);
  for (uint32_t i = 0; i < ntypes; i++) {
    napi_value v;
    uint32_t t;
    napi_get_element(env, argv[1], i, &v);
    if (napi_get_value_uint32(env, v, &t) != napi_ok || t > 255) return throw_err(env, "types must be numbers 0..255");
    ICMP6_FILTER_SETPASS(t, &filter);
  }

  int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) return throw_errno(env, "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)", errno);
  int one = 1, zero = 0, hops = 255;
  struct ipv6_mreq all_routers = {.ipv6mr_interface = ifindex};
  inet_pton(AF_INET6, "ff02::2", &all_routers.ipv6mr_multiaddr);
  const char *what = NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &ifindex, sizeof ifindex) < 0) what = "SO_BINDTOIFINDEX";
  else if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) < 0) what = "ICMP6_FILTER";
  else if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0) what = "IPV6_MULTICAST_HOPS";
  else if (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops) < 0) what = "IPV6_UNICAST_HOPS";
  else if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) < 0) what = "IPV6_MULTICAST_IF";
  else if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof zero) < 0) what = "IPV6_MULTICAST_LOOP";
  else if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one) < 0) what = "IPV6_RECVHOPLIMIT";
  else if (setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &all_routers, sizeof all_routers) < 0) what = "joining ff02::2";
  if (what) {
    int e = errno;
    close(fd);
    return throw_errno(env, what, e);
  }

  icmp6_t *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_err(env, "out of memory");
  }
  s->fd = fd;
  s->ifindex = ifindex;
  s->env = env;
  napi_create_reference(env, argv[2], 1, &s->callback);
  napi_value name;
  napi_create_string_utf8(env, "rackboot:icmp6", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &s->async);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &s->poll, fd) != 0 || (s->poll.data = s, uv_poll_start(&s->poll, UV_READABLE, on_readable) != 0)) {
    napi_delete_reference(env, s->callback);
    napi_async_destroy(env, s->async);
    close(fd);
    free(s);
    return throw_err(env, "cannot poll the socket (uv_poll_init/uv_poll_start failed)");
  }
  s->polling = 1;
  napi_value ext;
  napi_create_external(env, s, on_finalize, NULL, &ext);
  return ext;
}

/** send(handle, message: Buffer, to: Buffer (16 bytes)): 0, or the errno sendto() failed with. */
static napi_value isend(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  icmp6_t *s;
  if (argc < 3 || napi_get_value_external(env, argv[0], (void **)&s) != napi_ok || !s) return throw_err(env, "send(handle, message, to)");
  if (!s->polling) return throw_err(env, "the icmp6 handle is closed");
  void *msg, *to;
  size_t len, tolen;
  if (napi_get_buffer_info(env, argv[1], &msg, &len) != napi_ok || len == 0 || len > 1280) return throw_err(env, "message must be a Buffer of 1..1280 bytes");
  if (napi_get_buffer_info(env, argv[2], &to, &tolen) != napi_ok || tolen != 16) return throw_err(env, "to must be a 16-byte IPv6 address");
  struct sockaddr_in6 dst = {.sin6_family = AF_INET6, .sin6_scope_id = s->ifindex};
  memcpy(&dst.sin6_addr, to, 16);
  int r = (int)sendto(s->fd, msg, len, MSG_DONTWAIT, (struct sockaddr *)&dst, sizeof dst);
  napi_value out;
  napi_create_int32(env, r < 0 ? errno : 0, &out);
  return out;
}

static napi_value iclose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  icmp6_t *s;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&s) != napi_ok || !s) return throw_err(env, "not an icmp6 handle");
  if (s->polling) {
    s->polling = 0;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
    close(s->fd);
    s->fd = -1;
    napi_delete_reference(env, s->callback);
    napi_async_destroy(env, s->async);
  }
  return NULL;
}

static napi_value ierror(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t e = 0;
  if (argc >= 1) napi_get_value_int32(env, argv[0], &e);
  napi_value str;
  napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &str);
  return str;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, iopen, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, isend, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, iclose, NULL, NULL, NULL, napi_default, NULL},
      {"strerror", NULL, ierror, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

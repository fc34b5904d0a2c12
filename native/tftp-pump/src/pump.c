// rackboot's native TFTP data path. Node decides everything about a request
// (names, content, options, limits) and then hands the transfer here: a
// socket (the transfer id) and a thread of its own (kept for later transfers) that sends blocks and
// waits for ACKs with plain blocking system calls, as tftpd-hpa's process per
// transfer does. Node's per-datagram cost (a Buffer and an rinfo object per
// packet, an event-loop turn per ACK, one core) made lock-step transfers
// slower than tftpd-hpa's; here a block costs a recvfrom and a sendmsg, on
// every core. (A few epoll worker threads were tried instead: on a loaded
// core each busy loop lost its turn to every process that sleeps more, and
// with 100 local clients bench/tftp C fell to 0.8x.)
//
// The sender is the same state machine as server/tftp/transfer.ts (the
// reference, unit-tested and fuzzed there): RFC 7440 windows, block-number
// rollover, RFC 6298 retransmission timeout within [min, max], a duplicate
// ACK never sends (Sorcerer's Apprentice), `retries` timeouts and `giveUpMs`
// without progress end an answered transfer, `handshakeTries` timeouts an
// unanswered one (silently). Packets from another address/port get ERROR 5.
//
// JS API:
//   start(opts, done) -> handle     (throws on a bad option or a socket error)
//   abort(handle, message, notify)  ends the transfer (ERROR 0 when notify)
//   base(handle) -> number          lowest block not yet acknowledged
//   answered(handle) -> boolean     the client acknowledged the OACK or DATA 1
// done(result) is called once on the JS thread.
#define _GNU_SOURCE
#include <node_api.h>

#include "segments.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* Linux 4.18 */
#endif

#define MAX_BATCH 64
/* Read-ahead per pread: small, so that what a send copies is still in the
   cache. With 256 KiB per transfer, 100 transfers (25 MiB) missed it on
   every block: bench/tftp C used 12% more CPU on the whole machine. */
#define TARGET_CHUNK (16 * 1024)
#define STRANGER_ERRORS_PER_SECOND 20

/* Busy polling (see run_transfer): only while few transfers run and the
   client answers within SPIN_RTT_US. */
#define SPIN_RTT_US 100.0
static atomic_int running;
static int spin_max = -1;


typedef struct {
  int phase; /* 0 oack, 1 data, 2 done */
  double rto, srtt, rttvar, sent_at, deadline;
  int have_srtt, resent, tries;
} sender_clock;

typedef struct transfer {
  sender_clock c;
  double stranger_window;
  int stranger_count;
  /* ERROR 5 goes only to strangers in these networks (pairs: network, mask; host order); none: any. */
  uint32_t *allow;
  int nallow;
  atomic_int refs;  /* the thread's and the JS handle's */
  int sock;
  int finished;     /* JS thread only: the result was delivered, fds closed */
  struct sockaddr_in peer;
  int gso; /* blocks per UDP_SEGMENT send; 0: one datagram per block */
  int busy_poll;

  int64_t size;
  int blksize;
  int windowsize;
  uint8_t *oack;
  size_t oack_len;
  double initial_rto, min_rto, max_rto;
  int retries;
  double give_up_ms;   /* answered: at least this long without progress before giving up */
  int handshake_tries; /* unanswered: timeouts before the transfer is dropped */
  double progress_at;
  atomic_int answered; /* read by answered() from the JS thread */
  segment_t *segs;
  int nsegs;

  atomic_int abort_mode;  /* 0 none, 1 abort and send ERROR 0, 2 abort silently */
  char abort_msg[256];

  /* progress, read by base() from the JS thread */
  _Atomic int64_t base;
  int64_t next;
  int64_t blocks;

  /* result */
  const char *outcome;
  char reason[512];
  int64_t retransmits, timeouts, unknown_tid_sent, errors_sent;

  /* read-ahead: blocks [buf_first, buf_first + buf_n) */
  uint8_t *buf;
  int64_t buf_cap_blocks, buf_first, buf_n;

  napi_threadsafe_function tsfn;
} transfer_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void transfer_unref(transfer_t *t) {
  if (atomic_fetch_sub(&t->refs, 1) != 1) return;
  free_segments(t->segs, t->nsegs);
  free(t->oack);
  free(t->buf);
  free(t->allow);
  free(t);
}

/* ---- sending ---- */

static void send_packet(transfer_t *t, const void *p, size_t n) {
  /* UDP: a failed send is a lost packet; the retransmission timer covers it. */
  while (sendto(t->sock, p, n, 0, (struct sockaddr *)&t->peer, sizeof t->peer) < 0 && errno == EINTR) {
  }
}

static void send_error(transfer_t *t, int code, const char *msg) {
  uint8_t pkt[4 + 256 + 1];
  size_t len = strnlen(msg, 256);
  pkt[0] = 0;
  pkt[1] = 5;
  pkt[2] = (uint8_t)(code >> 8);
  pkt[3] = (uint8_t)code;
  memcpy(pkt + 4, msg, len);
  pkt[4 + len] = 0;
  send_packet(t, pkt, 5 + len);
  t->errors_sent++;
}

static int64_t block_len(const transfer_t *t, int64_t b) {
  return b < t->blocks ? t->blksize : t->size - (t->blocks - 1) * (int64_t)t->blksize;
}

/* Bytes [off, off + len) of the content into dst; 0, or -1 with t->reason set. */
static int read_bytes(transfer_t *t, int64_t off, int64_t len, uint8_t *dst) {
  int64_t base = 0;
  for (int i = 0; i < t->nsegs && len > 0; i++) {
    segment_t *s = &t->segs[i];
    int64_t end = base + s->length;
    if (off < end) {
      int64_t in = off - base;
      int64_t n = end - off < len ? end - off : len;
      if (s->fd >= 0) {
        int64_t got = 0;
        while (got < n) {
          ssize_t r = pread(s->fd, dst + got, (size_t)(n - got), (off_t)(s->offset + in + got));
          if (r < 0 && errno == EINTR) continue;
          if (r < 0) {
            snprintf(t->reason, sizeof t->reason, "read at offset %lld failed: %s", (long long)(off + got), strerror(errno));
            return -1;
          }
          if (r == 0) {
            snprintf(t->reason, sizeof t->reason, "read %lld bytes at offset %lld where %lld were expected (file changed during the transfer?)",
                     (long long)got, (long long)off, (long long)n);
            return -1;
          }
          got += r;
        }
      } else if (s->data) {
        memcpy(dst, s->data + in, (size_t)n);
      } else {
        memset(dst, 0, (size_t)n);
      }
      dst += n;
      off += n;
      len -= n;
    }
    base = end;
  }
  if (len > 0) {
    snprintf(t->reason, sizeof t->reason, "content shorter than its size (%lld bytes missing)", (long long)len);
    return -1;
  }
  return 0;
}

/* Makes block b (and the blocks after it, up to the buffer) readable from t->buf. */
static int load_from(transfer_t *t, int64_t b) {
  int64_t n = t->blocks - b + 1;
  if (n > t->buf_cap_blocks) n = t->buf_cap_blocks;
  int64_t start = (b - 1) * (int64_t)t->blksize;
  int64_t end = start + n * (int64_t)t->blksize;
  if (end > t->size) end = t->size;
  if (read_bytes(t, start, end - start, t->buf) < 0) return -1;
  t->buf_first = b;
  t->buf_n = n;
  return 0;
}

/* Blocks first..last, in sendmmsg batches. -1: the content could not be read. */
static int send_range(transfer_t *t, int64_t first, int64_t last) {
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH * 2];
  uint8_t hdr[MAX_BATCH][4];
  for (int64_t b = first; b <= last;) {
    if (b < t->buf_first || b >= t->buf_first + t->buf_n) {
      if (load_from(t, b) < 0) return -1;
    }
    int n = 0;
    int64_t in_buf_end = t->buf_first + t->buf_n;
    for (; b <= last && b < in_buf_end && n < MAX_BATCH; b++, n++) {
      hdr[n][0] = 0;
      hdr[n][1] = 3;
      hdr[n][2] = (uint8_t)((b >> 8) & 0xff);
      hdr[n][3] = (uint8_t)(b & 0xff);
      iov[2 * n].iov_base = hdr[n];
      iov[2 * n].iov_len = 4;
      iov[2 * n + 1].iov_base = t->buf + (b - t->buf_first) * t->blksize;
      iov[2 * n + 1].iov_len = (size_t)block_len(t, b);
      memset(&msgs[n], 0, sizeof msgs[n]);
      msgs[n].msg_hdr.msg_name = &t->peer;
      msgs[n].msg_hdr.msg_namelen = sizeof t->peer;
      msgs[n].msg_hdr.msg_iov = &iov[2 * n];
      msgs[n].msg_hdr.msg_iovlen = 2;
    }
    if (n == 1) {
      struct msghdr *m = &msgs[0].msg_hdr;
      while (sendmsg(t->sock, m, 0) < 0 && errno == EINTR) {
      }
      continue;
    }
    int sent = 0;
    /* UDP_SEGMENT: t->gso blocks per sendmsg, cut by the kernel at blksize+4. */
    while (t->gso > 1 && n - sent > 1) {
      int m = n - sent < t->gso ? n - sent : t->gso;
      struct msghdr mh = {.msg_name = &t->peer, .msg_namelen = sizeof t->peer, .msg_iov = &iov[2 * sent], .msg_iovlen = (size_t)(2 * m)};
      if (sendmsg(t->sock, &mh, 0) >= 0) {
        sent += m;
      } else if (errno != EINTR) {
        /* e.g. a segment larger than the route's MTU: go on block by block */
        int off = 0;
        setsockopt(t->sock, SOL_UDP, UDP_SEGMENT, &off, sizeof off);
        t->gso = 0;
      }
    }
    while (sent < n) {
      int r = sendmmsg(t->sock, msgs + sent, (unsigned)(n - sent), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        sent++; /* that datagram is lost; go on with the rest */
        continue;
      }
      sent += r;
    }
  }
  return 0;
}

/* ---- the state machine (as server/tftp/transfer.ts) ---- */

static void arm(sender_clock *c, double now, int resent) {
  c->sent_at = now;
  c->resent = resent;
  c->deadline = now + c->rto;
}

static void sample(transfer_t *t, sender_clock *c, double now) {
  if (c->resent) return;
  double r = now - c->sent_at;
  if (r < 0) r = 0;
  if (!c->have_srtt) {
    c->srtt = r;
    c->rttvar = r / 2;
    c->have_srtt = 1;
  } else {
    c->rttvar = 0.75 * c->rttvar + 0.25 * fabs(c->srtt - r);
    c->srtt = 0.875 * c->srtt + 0.125 * r;
  }
  double rto = c->srtt + 4 * c->rttvar;
  if (rto < t->min_rto) rto = t->min_rto;
  if (rto > t->max_rto) rto = t->max_rto;
  c->rto = rto;
}

static int send_window(transfer_t *t, sender_clock *c, int64_t first, double now, int retransmit) {
  int64_t last = first + t->windowsize - 1;
  if (last > t->blocks) last = t->blocks;
  if (retransmit) {
    int64_t upto = last < t->next - 1 ? last : t->next - 1;
    if (upto >= first) t->retransmits += upto - first + 1;
  }
  t->next = last + 1;
  arm(c, now, retransmit);
  return send_range(t, first, last);
}

static void finish(transfer_t *t, sender_clock *c, const char *outcome) {
  c->phase = 2;
  t->outcome = outcome;
}

static void read_failed(transfer_t *t, sender_clock *c) {
  send_error(t, 0, "error reading the file (see the server log)");
  finish(t, c, "read-error");
}

static void on_ack(transfer_t *t, sender_clock *c, uint16_t block, double now) {
  if (c->phase == 0) {
    if (block != 0) return;
    sample(t, c, now);
    c->phase = 1;
    c->tries = 0;
    t->progress_at = now;
    atomic_store(&t->answered, 1);
    if (send_window(t, c, 1, now, 0) < 0) read_failed(t, c);
    return;
  }
  if (c->phase != 1) return;
  int64_t base = atomic_load(&t->base);
  int64_t acked = base - 1 + (int64_t)(uint16_t)(block - (uint16_t)((base - 1) & 0xffff));
  if (acked > t->next - 1) return; /* not in this window: stale or bogus */
  if (acked == base - 1) {
    return; /* a duplicate: never answered, only the timer resends */
  }
  int whole = acked == t->next - 1;
  if (whole) sample(t, c, now);
  atomic_store(&t->base, acked + 1);
  c->tries = 0;
  t->progress_at = now;
  atomic_store(&t->answered, 1);
  if (acked + 1 > t->blocks) {
    finish(t, c, "complete");
    return;
  }
  if (send_window(t, c, acked + 1, now, !whole) < 0) read_failed(t, c);
}

static void on_tick(transfer_t *t, sender_clock *c, double now) {
  t->timeouts++;
  c->tries++;
  if (!atomic_load(&t->answered)) {
    if (c->tries > t->handshake_tries) {
      /* Perhaps a spoofed request: nothing more goes to that address. */
      snprintf(t->reason, sizeof t->reason, "the client never answered (%d retransmissions)", t->handshake_tries);
      finish(t, c, "timeout");
      return;
    }
  } else if (c->tries > t->retries && now - t->progress_at >= t->give_up_ms) {
    send_error(t, 0, "transfer timed out");
    snprintf(t->reason, sizeof t->reason, "no answer after %d retransmissions in %.0f s", c->tries - 1, (now - t->progress_at) / 1000);
    finish(t, c, "timeout");
    return;
  }
  c->rto = c->rto * 2 > t->max_rto ? t->max_rto : c->rto * 2;
  c->resent = 1;
  c->deadline = now + c->rto;
  if (c->phase == 0) {
    t->retransmits++;
    send_packet(t, t->oack, t->oack_len);
    return;
  }
  int64_t base = atomic_load(&t->base);
  t->retransmits += t->next - base;
  if (send_range(t, base, t->next - 1) < 0) read_failed(t, c);
}

static void client_error(transfer_t *t, sender_clock *c, const uint8_t *p, ssize_t len) {
  char msg[200];
  size_t n = 0;
  for (ssize_t i = 4; i < len && p[i] != 0 && n < sizeof msg - 1; i++) msg[n++] = p[i] >= 0x20 && p[i] <= 0x7e ? (char)p[i] : '?';
  msg[n] = 0;
  snprintf(t->reason, sizeof t->reason, "client sent ERROR: %s", msg);
  finish(t, c, "client-error");
}

static void begin(transfer_t *t) {
  sender_clock *c = &t->c;
  memset(c, 0, sizeof *c);
  c->rto = t->initial_rto < t->max_rto ? t->initial_rto : t->max_rto;
  double now = now_ms();
  t->progress_at = now;
  if (t->oack) {
    c->phase = 0;
    send_packet(t, t->oack, t->oack_len);
    arm(c, now, 0);
  } else {
    c->phase = 1;
    if (send_window(t, c, 1, now, 0) < 0) read_failed(t, c);
  }
}

static void on_packet(transfer_t *t, const uint8_t *pkt, ssize_t len, const struct sockaddr_in *from) {
  sender_clock *c = &t->c;
  double now = now_ms();
  if (from->sin_addr.s_addr != t->peer.sin_addr.s_addr || from->sin_port != t->peer.sin_port) {
    /* RFC 1350: another transfer id gets ERROR 5 and does not disturb this one. */
    int is_error = len >= 2 && pkt[0] == 0 && pkt[1] == 5;
    if (now - t->stranger_window > 1000) t->stranger_window = now, t->stranger_count = 0;
    /* A source outside the served networks may be forged: nothing is reflected to it. */
    int allowed = t->nallow == 0;
    uint32_t src = ntohl(from->sin_addr.s_addr);
    for (int i = 0; i < t->nallow && !allowed; i++) allowed = (src & t->allow[2 * i + 1]) == t->allow[2 * i];
    if (!is_error && allowed && from->sin_family == AF_INET && t->stranger_count++ < STRANGER_ERRORS_PER_SECOND) {
      static const uint8_t tid[] = "\0\5\0\5unknown transfer ID";
      while (sendto(t->sock, tid, sizeof tid, 0, (const struct sockaddr *)from, sizeof *from) < 0 && errno == EINTR) {
      }
      t->unknown_tid_sent++;
    }
    return;
  }
  if (len < 4 || pkt[0] != 0) return;
  if (pkt[1] == 4) on_ack(t, c, (uint16_t)((pkt[2] << 8) | pkt[3]), now);
  else if (pkt[1] == 5) client_error(t, c, pkt, len);
  /* anything else (DATA, another RRQ) is not part of a read transfer */
}

/* abort() was called: the transfer ends (ERROR 0 first when asked). 1 when it did. */
static int take_abort(transfer_t *t) {
  int mode = atomic_load(&t->abort_mode);
  if (!mode) return 0;
  if (mode == 1) send_error(t, 0, t->abort_msg);
  snprintf(t->reason, sizeof t->reason, "%s", t->abort_msg);
  finish(t, &t->c, "aborted");
  return 1;
}

/* The retransmission clock ran out. An ACK already waiting is read before
   the timer fires (as the Node path does): a thread descheduled past its
   deadline must not resend. */
static void on_due(transfer_t *t, double now) {
  uint8_t pkt[1024];
  struct sockaddr_in from;
  socklen_t fl = sizeof from;
  ssize_t len = recvfrom(t->sock, pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
  if (len >= 0) on_packet(t, pkt, len, &from);
  else on_tick(t, &t->c, now);
}

/* The transfer is over: its result goes to JS (deliver(), on the JS thread). */
static void transfer_done(transfer_t *t) {
  atomic_fetch_sub(&running, 1);
  /* deliver() may free t before the release below: keep the function here. */
  napi_threadsafe_function tsfn = t->tsfn;
  napi_call_threadsafe_function(tsfn, t, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
}

/*
 * A transfer's thread: a blocking recvfrom per ACK, with SO_RCVTIMEO as the
 * retransmission clock. The timeout is rounded up to 10 ms so that it rarely
 * changes (set only then); waking a little after the deadline is as precise
 * as the Node path's tick.
 *
 * With few transfers running (at most half the cores) and a client that
 * answers within SPIN_RTT_US, the thread polls the socket for up to that long
 * before it sleeps: a sleeping thread's wake-up (and an idle core's) costs
 * more than a loopback or LAN round trip, and a lock-step transfer runs about
 * 2.5x as fast for a core's time (docs/benchmarks.md). Slower clients (most
 * PXE ROMs over a real LAN) and busy servers never spin.
 */
static void run_transfer(transfer_t *t) {
  sender_clock *c = &t->c;
  int timeo_ms = -1;
  uint8_t pkt[1024];
  while (c->phase != 2) {
    if (take_abort(t)) break;
    double now = now_ms();
    double wait = c->deadline - now;
    if (wait <= 0) {
      on_due(t, now);
      continue;
    }
    int ms = ((int)ceil(wait) + 9) / 10 * 10;
    if (ms != timeo_ms) {
      struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
      setsockopt(t->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      timeo_ms = ms;
    }
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t len = -1;
    if (t->busy_poll && c->phase == 1 && (!c->have_srtt || c->srtt * 1000 <= SPIN_RTT_US) && atomic_load(&running) <= spin_max) {
      double until = now + SPIN_RTT_US / 1000.0;
      do {
        fl = sizeof from;
        len = recvfrom(t->sock, pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
      } while (len < 0 && errno == EAGAIN && now_ms() < until && !atomic_load(&t->abort_mode));
    }
    if (len < 0 && !atomic_load(&t->abort_mode)) {
      fl = sizeof from;
      len = recvfrom(t->sock, pkt, sizeof pkt, 0, (struct sockaddr *)&from, &fl);
    }
    /* abort() sets the mode, then shuts the receive side down, which wakes recvfrom. */
    if (atomic_load(&t->abort_mode)) continue;
    if (len >= 0) on_packet(t, pkt, len, &from);
  }
  transfer_done(t);
}

/*
 * Transfer threads are kept for reuse: making one (clone, a stack mapped,
 * and unmapped at its end) cost ~0.1 ms a transfer, which a PXE boot's short
 * files (loader modules, configs, many 404s) pay one after another. A
 * finished thread waits up to POOL_IDLE_MS for the next transfer; at most
 * POOL_MAX_IDLE wait at once.
 */
#define POOL_MAX_IDLE 32
#define POOL_IDLE_MS 10000

typedef struct worker {
  pthread_cond_t cv;
  transfer_t *job;   /* set by assign(), under pool_lock */
  int idle;          /* on the idle list */
  struct worker *next;
} worker_t;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static worker_t *idle_list;
static int idle_count;

static void unlink_idle(worker_t *w) {
  for (worker_t **p = &idle_list; *p; p = &(*p)->next) {
    if (*p == w) {
      *p = w->next;
      idle_count--;
      break;
    }
  }
  w->idle = 0;
  w->next = NULL;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  pthread_mutex_lock(&pool_lock);
  for (;;) {
    while (!w->job) {
      struct timespec until;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_sec += POOL_IDLE_MS / 1000;
      int r = pthread_cond_timedwait(&w->cv, &pool_lock, &until);
      /* Taken off the idle list by acquire_worker(): its job is on the way. */
      if (r == ETIMEDOUT && !w->job && w->idle) {
        unlink_idle(w);
        goto out;
      }
    }
    transfer_t *t = w->job;
    w->job = NULL;
    pthread_mutex_unlock(&pool_lock);
    run_transfer(t);
    pthread_mutex_lock(&pool_lock);
    if (idle_count >= POOL_MAX_IDLE) break;
    w->idle = 1;
    w->next = idle_list;
    idle_list = w;
    idle_count++;
  }
out:
  pthread_mutex_unlock(&pool_lock);
  pthread_cond_destroy(&w->cv);
  free(w);
  return NULL;
}

/* An idle worker, or a new one waiting for its job; NULL when no thread can be made. */
static worker_t *acquire_worker(void) {
  pthread_mutex_lock(&pool_lock);
  worker_t *w = idle_list;
  if (w) unlink_idle(w);
  pthread_mutex_unlock(&pool_lock);
  if (w) return w;
  w = calloc(1, sizeof *w);
  if (!w) return NULL;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t th;
  int err = pthread_create(&th, &attr, worker_main, w);
  pthread_attr_destroy(&attr);
  if (err) {
    pthread_cond_destroy(&w->cv);
    free(w);
    return NULL;
  }
  return w;
}

/* Hands t to w; the pool lock orders everything done to t before this ahead of w's run. */
static void assign(worker_t *w, transfer_t *t) {
  atomic_fetch_add(&running, 1);
  pthread_mutex_lock(&pool_lock);
  w->job = t;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&pool_lock);
}

/* Many transfers per thread once many run at once (see the file). */
#include "evworkers.c"

static void set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, key, n);
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, key, v);
}

/* On the JS thread: close the transfer's descriptors, then call done(result). */
static void deliver(napi_env env, napi_value done, void *context, void *data) {
  (void)context;
  transfer_t *t = data;
  t->finished = 1;
  close(t->sock);
  /* The thread is done with the buffers: free them now, not when the JS handle is
     collected (a flood of short transfers would pin them until a GC V8 does not
     know it owes). */
  free(t->buf);
  t->buf = NULL;
  free(t->oack);
  t->oack = NULL;
  for (int i = 0; i < t->nsegs; i++) {
    free(t->segs[i].data);
    t->segs[i].data = NULL;
  }
  if (env && done) {
    napi_value res, undef;
    napi_create_object(env, &res);
    set_str(env, res, "outcome", t->outcome ? t->outcome : "aborted");
    if (t->reason[0]) set_str(env, res, "reason", t->reason);
    int64_t base = atomic_load(&t->base);
    double acked = t->outcome && strcmp(t->outcome, "complete") == 0 ? (double)t->size : (double)((base - 1) * (int64_t)t->blksize);
    if (acked > (double)t->size) acked = (double)t->size;
    set_num(env, res, "bytesAcked", acked);
    set_num(env, res, "retransmits", (double)t->retransmits);
    set_num(env, res, "timeouts", (double)t->timeouts);
    set_num(env, res, "unknownTidSent", (double)t->unknown_tid_sent);
    set_num(env, res, "errorsSent", (double)t->errors_sent);
    /* An ERROR from the client's port (a UEFI size probe) is an answer too: only a client that
       got the OACK or DATA 1 knows that port. Told in the result only: the flag answered() reads
       moves the transfer to a full slot, which one that has ended must not take. */
    int by_error = t->outcome && strcmp(t->outcome, "client-error") == 0;
    napi_value answered;
    napi_get_boolean(env, atomic_load(&t->answered) != 0 || by_error, &answered);
    napi_set_named_property(env, res, "answered", answered);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, done, 1, &res, NULL);
  }
  transfer_unref(t);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  transfer_unref(data);
}


#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) return throw_err(env, "tftp-pump: " #call); \
  } while (0)


static int get_ipv4(napi_env env, napi_value obj, const char *key, struct in_addr *out) {
  napi_value v;
  char s[64];
  size_t n;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  if (napi_get_value_string_utf8(env, v, s, sizeof s, &n) != napi_ok) return -1;
  return inet_pton(AF_INET, s, out) == 1 ? 0 : -1;
}


/* A boolean option; dflt when absent or not a boolean. */
static int get_flag(napi_env env, napi_value obj, const char *key, int dflt) {
  napi_value v;
  bool b;
  if (!has(env, obj, key) || napi_get_named_property(env, obj, key, &v) != napi_ok || napi_get_value_bool(env, v, &b) != napi_ok) return dflt;
  return b;
}

/* Copies opts.segments into t; -1 with msg set on a bad entry. */
static int read_segments(napi_env env, napi_value opts, transfer_t *t, const char **msg) {
  napi_value arr;
  *msg = "opts.segments must be an array of {fd, offset, length}, {data} or {zero}";
  if (napi_get_named_property(env, opts, "segments", &arr) != napi_ok) return -1;
  if (read_segment_array(env, arr, &t->segs, &t->nsegs) < 0) return -1;
  int64_t total = 0;
  for (int i = 0; i < t->nsegs; i++) total += t->segs[i].length;
  if (total != t->size) {
    *msg = "opts.segments do not add up to opts.size";
    return -1;
  }
  return 0;
}

/* A transfer that never started: its socket (if any) closed, its memory freed, msg thrown. */
static napi_value abandon(napi_env env, transfer_t *t, const char *msg) {
  if (t->sock >= 0) close(t->sock);
  transfer_unref(t);
  return throw_err(env, msg);
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return throw_err(env, "tftp-pump: start(opts, done)");
  if (spin_max < 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    spin_max = cpus / 2 < 1 ? 1 : (int)(cpus / 2);
  }
  napi_value opts = argv[0];
  transfer_t *t = calloc(1, sizeof *t);
  if (!t) return throw_err(env, "tftp-pump: out of memory");
  t->sock = -1;
  atomic_init(&t->refs, 1);
  atomic_init(&t->base, 1);
  atomic_init(&t->abort_mode, 0);
  atomic_init(&t->answered, 0);
  const char *bad = NULL;
  struct in_addr local;
  double port, size, blksize, windowsize, retries;
  if (get_ipv4(env, opts, "local", &local) < 0) bad = "opts.local must be an IPv4 address";
  else if (get_ipv4(env, opts, "peer", &t->peer.sin_addr) < 0) bad = "opts.peer must be an IPv4 address";
  else if (get_num(env, opts, "port", &port) < 0 || port < 1 || port > 65535) bad = "opts.port must be 1-65535";
  else if (get_num(env, opts, "size", &size) < 0 || size < 0 || size > 9007199254740991.0) bad = "opts.size must be a byte count";
  else if (get_num(env, opts, "blksize", &blksize) < 0 || blksize < 8 || blksize > 65464) bad = "opts.blksize must be 8-65464";
  else if (get_num(env, opts, "windowsize", &windowsize) < 0 || windowsize < 1 || windowsize > 65535) bad = "opts.windowsize must be 1-65535";
  else if (get_num(env, opts, "initialRtoMs", &t->initial_rto) < 0 || get_num(env, opts, "minRtoMs", &t->min_rto) < 0 ||
           get_num(env, opts, "maxRtoMs", &t->max_rto) < 0 || t->min_rto < 1 || t->max_rto < t->min_rto || t->initial_rto < 1)
    bad = "opts.initialRtoMs, minRtoMs, maxRtoMs must be >= 1 ms with min <= max";
  else if (get_num(env, opts, "retries", &retries) < 0 || retries < 1) bad = "opts.retries must be >= 1";
  if (bad) return abandon(env, t, bad);
  t->busy_poll = get_flag(env, opts, "busyPoll", 1);
  double give_up = 0, handshake = retries;
  if (has(env, opts, "giveUpMs") && (get_num(env, opts, "giveUpMs", &give_up) < 0 || give_up < 0)) return abandon(env, t, "opts.giveUpMs must be >= 0");
  if (has(env, opts, "handshakeTries") && (get_num(env, opts, "handshakeTries", &handshake) < 0 || handshake < 1)) return abandon(env, t, "opts.handshakeTries must be >= 1");
  t->give_up_ms = give_up;
  t->handshake_tries = (int)handshake;
  double gso_blocks = 1;
  if (has(env, opts, "gsoBlocks") && get_num(env, opts, "gsoBlocks", &gso_blocks) < 0) gso_blocks = 1;
  t->peer.sin_family = AF_INET;
  t->peer.sin_port = htons((uint16_t)port);
  t->size = (int64_t)size;
  t->blksize = (int)blksize;
  t->windowsize = (int)windowsize;
  t->retries = (int)retries;
  t->blocks = t->size / t->blksize + 1;
  if (read_segments(env, opts, t, &bad) < 0) return abandon(env, t, bad);
  if (has(env, opts, "strangers")) {
    napi_value arr;
    uint32_t n = 0;
    bool is_arr = false;
    napi_get_named_property(env, opts, "strangers", &arr);
    if (napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, arr, &n) != napi_ok || n % 2) {
      return abandon(env, t, "opts.strangers must be an array of network, mask pairs");
    }
    t->allow = calloc(n ? n : 1, sizeof *t->allow);
    if (!t->allow) return abandon(env, t, "tftp-pump: out of memory");
    for (uint32_t i = 0; i < n; i++) {
      napi_value v;
      uint32_t x;
      if (napi_get_element(env, arr, i, &v) != napi_ok || napi_get_value_uint32(env, v, &x) != napi_ok) return abandon(env, t, "opts.strangers must hold numbers");
      t->allow[i] = x;
    }
    t->nallow = (int)(n / 2);
  }
  if (has(env, opts, "oack")) {
    napi_value b;
    void *p;
    size_t len;
    bool isbuf = false;
    napi_get_named_property(env, opts, "oack", &b);
    napi_valuetype ty;
    napi_typeof(env, b, &ty);
    if (ty != napi_undefined && ty != napi_null) {
      if (napi_is_buffer(env, b, &isbuf) != napi_ok || !isbuf || napi_get_buffer_info(env, b, &p, &len) != napi_ok || len == 0) {
        return abandon(env, t, "opts.oack must be a Buffer");
      }
      t->oack = malloc(len);
      if (!t->oack) return abandon(env, t, "tftp-pump: out of memory");
      memcpy(t->oack, p, len);
      t->oack_len = len;
    }
  }
  int64_t chunk = (TARGET_CHUNK + t->blksize - 1) / t->blksize;
  t->buf_cap_blocks = t->windowsize > chunk ? t->windowsize : chunk;
  t->buf = malloc((size_t)(t->buf_cap_blocks * t->blksize));
  if (!t->buf) return abandon(env, t, "tftp-pump: out of memory for the read-ahead buffer");

  t->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in la = {.sin_family = AF_INET, .sin_addr = local, .sin_port = 0};
  if (t->sock < 0 || bind(t->sock, (struct sockaddr *)&la, sizeof la) < 0) {
    char m[160];
    snprintf(m, sizeof m, "cannot open a transfer socket: %s", strerror(errno));
    return abandon(env, t, m);
  }
  /* Windows go out gso_blocks at a time (JS decides: gso.ts windowBatch). */
  if (gso_blocks > 1) {
    int seg = t->blksize + 4;
    if (setsockopt(t->sock, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg) == 0) t->gso = gso_blocks > MAX_BATCH ? MAX_BATCH : gso_blocks;
  }

  napi_value name;
  napi_create_string_utf8(env, "tftp-pump", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, deliver, &t->tsfn) != napi_ok) {
    return abandon(env, t, "tftp-pump: done must be a function");
  }
  atomic_store(&t->refs, 2); /* the thread's (until deliver) and the JS handle's */
  napi_value handle;
  if (napi_create_external(env, t, finalize_handle, NULL, &handle) != napi_ok) {
    atomic_store(&t->refs, 1);
    napi_release_threadsafe_function(t->tsfn, napi_tsfn_abort);
    return abandon(env, t, "tftp-pump: napi_create_external");
  }
  /* The worker is found first, so that a failure leaves the request to the
     Node path with nothing sent. Then the first packet (OACK or DATA 1) goes
     out from here: a sleeping thread's wake-up waits for a core (on an idle
     virtual CPU, ~0.1 ms), and the client would wait with it. Beyond
     `threads` transfers at once, the event workers take them (evworkers.c). */
  double threads = DEDICATED_DEFAULT;
  if (has(env, opts, "threads") && (get_num(env, opts, "threads", &threads) < 0 || threads < 0)) threads = DEDICATED_DEFAULT;
  evworker_t *ew = atomic_load(&running) >= (int)threads ? ev_acquire() : NULL;
  if (ew) {
    begin(t);
    ev_assign(ew, t);
    return handle;
  }
  worker_t *w = acquire_worker();
  if (!w) {
    t->finished = 1;
    close(t->sock);
    napi_release_threadsafe_function(t->tsfn, napi_tsfn_abort);
    transfer_unref(t); /* the thread's; the handle's goes with the handle */
    return throw_err(env, "cannot start a transfer thread");
  }
  begin(t);
  assign(w, t);
  return handle;
}

static transfer_t *handle_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  void *p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok) return NULL;
  return p;
}

static napi_value js_abort(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  transfer_t *t = handle_arg(env, info, 3, argv);
  if (!t) return throw_err(env, "tftp-pump: abort(handle, message, notify)");
  if (t->finished || atomic_load(&t->abort_mode)) return NULL;
  size_t n = 0;
  napi_get_value_string_utf8(env, argv[1], t->abort_msg, sizeof t->abort_msg, &n);
  bool notify = true;
  napi_get_value_bool(env, argv[2], &notify);
  atomic_store(&t->abort_mode, notify ? 1 : 2);
  /* Wakes the thread's recvfrom (Linux wakes sleepers even on an unconnected
     UDP socket, where the call itself answers ENOTCONN); sends still work. */
  shutdown(t->sock, SHUT_RD);
  return NULL;
}

static napi_value js_base(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  transfer_t *t = handle_arg(env, info, 1, argv);
  if (!t) return throw_err(env, "tftp-pump: base(handle)");
  napi_create_double(env, (double)atomic_load(&t->base), &out);
  return out;
}

static napi_value js_answered(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  transfer_t *t = handle_arg(env, info, 1, argv);
  if (!t) return throw_err(env, "tftp-pump: answered(handle)");
  napi_get_boolean(env, atomic_load(&t->answered) != 0, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"answered", NULL, js_answered, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, js_abort, NULL, NULL, NULL, napi_default, NULL},
      {"base", NULL, js_base, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

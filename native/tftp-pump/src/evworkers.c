// Event workers: many TFTP transfers per thread, for when many run at once.
// Included by pump.c (it uses the transfer state machine's static functions).
//
// A thread per transfer sleeps in recvfrom between blocks, so every block of
// a lock-step transfer costs a wake-up and a context switch. With a rack
// booting at once (bench/storm: 300 simulated blades) that was a third of
// the server's CPU (perf: finish_task_switch, 33%). Here a few threads (one
// per core, at most 8) each wait in epoll_wait on all their transfers'
// sockets: a wake-up serves every ACK that arrived meanwhile, and under a
// storm each one brings dozens. The state machine is the same as the
// dedicated threads' (on_packet, on_due, take_abort); the clock is a scan of
// the worker's transfers when the earliest deadline seen in the last scan
// (or of a transfer taken since) comes, at most every SCAN_MS (the dedicated
// threads round their timeouts up to 10 ms too). A deadline an ACK moves
// nearer (a shorter timeout once the round trip is measured) moves the scan
// with it, so the scan may come early, never late. (A scan every
// 5 ms touched all 500 transfers of a worker 200 times a second: bench/storm
// at N = 1,000, perf: ev_main 4% of the server's CPU, in cache misses.)
// abort() wakes the transfer's socket (shutdown), so aborts are seen at
// once as events. A transfer stays on the worker it started on.
//
// pump.c's js_start() gives a new transfer a thread of its own while fewer
// than `threads` (opts.threads) run, and an event worker beyond that: with
// few transfers a dedicated thread is as fast (and may busy-poll), with many
// the wake-ups add up.
#include "epoll-thread.h"

/* Transfers on dedicated threads before new ones go to the event workers. */
#define DEDICATED_DEFAULT 32
#define EV_MAX_WORKERS 8
#define SCAN_MS 5.0
/* The longest wait between scans (a deadline is never further away than max_rto). */
#define SCAN_MAX_MS 1000.0
/* Datagrams read from one socket per wake-up (a window's ACKs, a stranger). */
#define READS_PER_EVENT 8

typedef struct ev_slot {
  transfer_t *t;
  int idx; /* in the worker's list */
} ev_slot_t;

typedef struct evworker {
  int epfd, evfd;
  double next_due; /* worker thread only: the next scan */
  pthread_mutex_t lock;
  transfer_t **incoming; /* handed over by js_start, under lock */
  int nin, capin;
  ev_slot_t **list; /* worker thread only */
  int n, cap;
  atomic_int load; /* transfers it has or was given, for choosing the least loaded */
} evworker_t;

static evworker_t ev_workers[EV_MAX_WORKERS];
static int ev_count = -1;
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;

static void ev_end(evworker_t *w, ev_slot_t *s) {
  epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->t->sock, NULL);
  ev_slot_t *last = w->list[--w->n];
  w->list[s->idx] = last;
  last->idx = s->idx;
  atomic_fetch_sub(&w->load, 1);
  transfer_t *t = s->t;
  free(s);
  transfer_done(t);
}

static void ev_take_incoming(evworker_t *w) {
  uint64_t x;
  while (read(w->evfd, &x, sizeof x) > 0) {
  }
  pthread_mutex_lock(&w->lock);
  for (int i = 0; i < w->nin; i++) {
    transfer_t *t = w->incoming[i];
    ev_slot_t *s = calloc(1, sizeof *s);
    if (w->n == w->cap) {
      int cap = w->cap ? w->cap * 2 : 64;
      ev_slot_t **l = realloc(w->list, (size_t)cap * sizeof *l);
      if (l) w->list = l, w->cap = cap;
    }
    if (!s || w->n == w->cap) {
      /* No memory for its bookkeeping: the transfer ends (the client is told). */
      free(s);
      snprintf(t->abort_msg, sizeof t->abort_msg, "server out of memory");
      atomic_store(&t->abort_mode, 1);
      take_abort(t);
      atomic_fetch_sub(&w->load, 1);
      transfer_done(t);
      continue;
    }
    s->t = t;
    s->idx = w->n;
    w->list[w->n++] = s;
    if (t->c.deadline < w->next_due) w->next_due = t->c.deadline;
    /* Level-triggered: an ACK that came before this is reported at once. */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, t->sock, &ev);
  }
  w->nin = 0;
  pthread_mutex_unlock(&w->lock);
}

static void *ev_main(void *arg) {
  evworker_t *w = arg;
  struct epoll_event evs[256];
  uint8_t pkt[1024];
  double last_scan = 0;
  w->next_due = now_ms() + SCAN_MAX_MS;
  for (;;) {
    int timeout = -1;
    if (w->n) {
      double due = w->next_due > last_scan + SCAN_MS ? w->next_due : last_scan + SCAN_MS;
      double wait = due - now_ms();
      timeout = wait <= 0 ? 0 : (int)ceil(wait);
    }
    int got = epoll_wait(w->epfd, evs, 256, timeout);
    for (int i = 0; i < got; i++) {
      ev_slot_t *s = evs[i].data.ptr;
      if (!s) {
        ev_take_incoming(w);
        continue;
      }
      transfer_t *t = s->t;
      if (!take_abort(t)) {
        for (int k = 0; k < READS_PER_EVENT && t->c.phase != 2; k++) {
          struct sockaddr_in from;
          socklen_t fl = sizeof from;
          ssize_t len = recvfrom(t->sock, pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
          if (len < 0) break;
          on_packet(t, pkt, len, &from);
        }
      }
      /* A socket is reported once per epoll_wait: s is not in the rest of this batch. */
      if (t->c.phase == 2) ev_end(w, s);
      /* A measured round trip may bring the deadline nearer than the scan planned for. */
      else if (t->c.deadline < w->next_due) w->next_due = t->c.deadline;
    }
    /* The clock (and aborts) of them all, when the earliest deadline comes. */
    double now = now_ms();
    if (!w->n || now < w->next_due || now < last_scan + SCAN_MS) continue;
    last_scan = now;
    double next = now + SCAN_MAX_MS;
    for (int i = 0; i < w->n;) {
      ev_slot_t *s = w->list[i];
      transfer_t *t = s->t;
      if (!take_abort(t) && t->c.deadline <= now) on_due(t, now);
      if (t->c.phase == 2) {
        ev_end(w, s); /* moves the last slot into i */
        continue;
      }
      if (t->c.deadline < next) next = t->c.deadline;
      i++;
    }
    w->next_due = next;
  }
  return NULL;
}

/* The least loaded event worker, the workers started on first use; NULL when none can be. */
static evworker_t *ev_acquire(void) {
  pthread_mutex_lock(&ev_lock);
  if (ev_count < 0) {
    int want = threads_for_cores(EV_MAX_WORKERS);
    ev_count = 0;
    for (int i = 0; i < want; i++) {
      evworker_t *w = &ev_workers[ev_count];
      memset(w, 0, sizeof *w);
      pthread_mutex_init(&w->lock, NULL);
      if (start_epoll_thread(&w->epfd, &w->evfd, ev_main, w) < 0) break;
      ev_count++;
    }
  }
  evworker_t *best = NULL;
  for (int i = 0; i < ev_count; i++)
    if (!best || atomic_load(&ev_workers[i].load) < atomic_load(&best->load)) best = &ev_workers[i];
  if (best) atomic_fetch_add(&best->load, 1);
  pthread_mutex_unlock(&ev_lock);
  return best;
}

/* Hands t (begun) to w: its lock orders everything done to t before this ahead of the worker's run. */
static void ev_assign(evworker_t *w, transfer_t *t) {
  atomic_fetch_add(&running, 1);
  pthread_mutex_lock(&w->lock);
  if (w->nin == w->capin) {
    int cap = w->capin ? w->capin * 2 : 64;
    transfer_t **l = realloc(w->incoming, (size_t)cap * sizeof *l);
    if (l) w->incoming = l, w->capin = cap;
  }
  int ok = w->nin < w->capin;
  if (ok) w->incoming[w->nin++] = t;
  pthread_mutex_unlock(&w->lock);
  if (!ok) {
    /* No memory to hand it over: it ends here, on the JS thread, as a dedicated thread would. */
    snprintf(t->abort_msg, sizeof t->abort_msg, "server out of memory");
    atomic_store(&t->abort_mode, 1);
    take_abort(t);
    atomic_fetch_sub(&w->load, 1);
    transfer_done(t);
    return;
  }
  uint64_t one = 1;
  ssize_t r = write(w->evfd, &one, sizeof one);
  (void)r;
}

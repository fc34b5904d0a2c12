// Shared by the addon's event threads (evworkers.c: TFTP transfers,
// sendfile.c: HTTP bodies): an epoll set with an eventfd to be woken by, and
// a detached thread that runs on it.
#ifndef RACKBOOT_EPOLL_THREAD_H
#define RACKBOOT_EPOLL_THREAD_H
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Threads to start: one per core, at most max. */
static int threads_for_cores(int max) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus < 1 ? 1 : cpus > max ? max : (int)cpus;
}

/* *epfd holds *evfd (reported with data.ptr NULL); fn(arg) runs on a
   detached thread. 0, or -1 with nothing left open. */
static int start_epoll_thread(int *epfd, int *evfd, void *(*fn)(void *), void *arg) {
  *epfd = epoll_create1(EPOLL_CLOEXEC);
  *evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  int ok = *epfd >= 0 && *evfd >= 0 && epoll_ctl(*epfd, EPOLL_CTL_ADD, *evfd, &ev) == 0 && pthread_create(&th, &attr, fn, arg) == 0;
  pthread_attr_destroy(&attr);
  if (ok) return 0;
  if (*epfd >= 0) close(*epfd);
  if (*evfd >= 0) close(*evfd);
  return -1;
}
#endif

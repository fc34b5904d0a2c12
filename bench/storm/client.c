// bench/storm's client side: N network-boot clients in one process, each
// behaving on the wire as its firmware does (bench/storm.ts starts it in the
// client namespace and reads its report).
//
// Why C and one process: at N = 1,000 a storm is ~11 million lock-step TFTP
// blocks, each a DATA in and an ACK out on the client side. A Node client
// costs a system call and a call into JavaScript per datagram (~10 µs here),
// about a core by itself, on a 2-core machine that must also run the server.
// Here every client's packets go through a few shared sockets, read with
// recvmmsg and answered with sendmmsg (IP_PKTINFO sets and tells each
// client's own address), so a block costs the client side a few hundred
// nanoseconds of its own plus the kernel's delivery. What goes on the wire
// is what the firmware sends: each client its own MAC (DHCP frames are built
// by hand, Ethernet source included), its own leased address (added to the
// interface when its ACK arrives), a new local port per file, the firmware's
// options and timeouts.
//
// The firmware modelled (see docs/benchmarks.md, "Boot storm", for sources):
//   bios  a PXE 2.1 ROM: DHCP 93=0, 94, 97, 60 PXEClient:Arch:00000, the
//         first offer with a boot file; the loader by TFTP (tsize, blksize
//         1456, lock-step, 4 s per packet, 6 tries); then PXELINUX: ldlinux.c32,
//         its config (option 209, else pxelinux.cfg/<uuid>, 01-<mac>, hex
//         address, default), kernel and RAM disk (tsize, blksize 1408,
//         lock-step, its TimeoutTable of 55 ms ticks).
//   uefi  EDK2 (OVMF): DHCP 93=7, offers collected until the first timeout;
//         the loader's size asked (tsize 0, blksize 1468, windowsize 4), that
//         transfer aborted, then read with blksize 1468 and windowsize 4
//         (PcdPxeTftpWindowSize), 4 s per packet, 6 tries; then syslinux.efi
//         as PXELINUX above, with ldlinux.e64.
//   http  iPXE: DHCP with user class "iPXE" and option 175, then the boot
//         file (an http:// script), its kernel and initrd over HTTP/1.1.
// DHCP retransmits after 4, 8, 16 and 32 s (PXE 2.1, EDK2's mPxeDhcpTimeout)
// and gives up after the last. A client that gives up is a failure.
//
// Input (argv[1], a file): lines
//   iface NAME | spread-ms N | seed N | max-seconds N | client KIND MAC UUIDHEX
// Output: one JSON object per client on stdout, then a {"summary": ...} line;
// progress on stderr.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { K_BIOS, K_UEFI, K_HTTP };
static const char *KIND_NAME[] = {"bios", "uefi", "http"};

enum phase {
  P_WAIT,      /* not powered on yet */
  P_DISCOVER,  /* DHCPDISCOVER sent */
  P_REQUEST,   /* DHCPREQUEST sent */
  P_TFTP,      /* a TFTP file */
  P_HTTP,      /* an HTTP file */
  P_HTTP_WAIT, /* iPXE's script: sleep 10 before trying again */
  P_DONE,
  P_FAILED
};

/* What the current file is for: decides what comes next. */
enum step { S_LOADER_PROBE, S_LOADER, S_LDLINUX, S_CONFIG, S_KERNEL, S_INITRD, S_SCRIPT };

/* How a firmware waits and retries (seconds per try; 0 ends the list). */
typedef struct {
  int blksize;     /* asked */
  int windowsize;  /* asked; 1: option not sent */
  int tsize;       /* ask tsize 0 */
  const double *timeouts;
} tftp_profile;

/* PXE base code (BIOS ROM, EDK2's Mtftp4): 4 s per packet, 6 tries (PXEBC_MTFTP_TIMEOUT/RETRIES). */
static const double ROM_TIMEOUTS[] = {4, 4, 4, 4, 4, 4, 0};
/* PXELINUX / syslinux.efi (core/fs/pxe/tftp.c TimeoutTable), in 55 ms ticks. */
static const int PXELINUX_TICKS[] = {2, 2, 3, 3, 4, 5, 6, 7, 9, 10, 12, 15, 18, 21, 26, 31, 37, 44, 53, 64, 77, 92, 110, 132, 159, 191, 229, 255, 255, 255, 255, 0};
static double PXELINUX_TIMEOUTS[sizeof PXELINUX_TICKS / sizeof PXELINUX_TICKS[0]];
static const double DHCP_TIMEOUTS[] = {4, 8, 16, 32, 0};

static const tftp_profile BIOS_ROM = {1456, 1, 1, ROM_TIMEOUTS};
static const tftp_profile EDK2_PROBE = {1468, 4, 1, ROM_TIMEOUTS};
static const tftp_profile EDK2_READ = {1468, 4, 0, ROM_TIMEOUTS};
static const tftp_profile PXELINUX = {1408, 1, 1, PXELINUX_TIMEOUTS};

#define MAX_FILES 16
#define NSOCK 16 /* one shared UDP socket per file index: a new local port per file, as the firmware */
#define TEXT_MAX 8192
#define HTTP_IDLE_S 30.0

typedef struct {
  char name[96];
  double ms;
  uint64_t bytes;
} file_rec;

typedef struct client {
  int idx;
  enum kind kind;
  uint8_t mac[6];
  uint8_t uuid[16];
  uint32_t xid;
  enum phase phase;
  enum step step;
  double start_at, t_on, t_dhcp, t_end, deadline, phase_t0;
  int try_idx; /* index into the current timeout list */
  /* DHCP */
  int collecting;
  uint32_t offer_ip, offer_server, offer_siaddr;
  int have_offer;
  uint32_t ip, mask, server, next_server;
  char bootfile[256], cfgfile[128], prefix[128];
  int has_cfgfile, has_prefix;
  /* TFTP */
  const tftp_profile *prof;
  char cur[256];
  int sock_k, file_count;
  uint16_t tid;       /* server's port; 0 until its first answer */
  int have_tid, got_oack, blksize, windowsize;
  uint32_t last_block; /* last block received in order (32-bit: counts past 65535) */
  int in_window;
  uint64_t fbytes;
  int keep_text;
  char *text;
  int text_len;
  int cfg_try; /* PXELINUX config walk position */
  char kernel[256], initrd[256];
  /* HTTP */
  int tcp;
  char url[256];
  int http_state; /* 0 connecting, 1 headers, 2 body */
  char hbuf[4096];
  int hlen;
  int64_t clen;
  uint64_t body;
  int http_status, http_tries;
  double last_io;
  /* record */
  int dhcp_retx, tftp_retx, tftp_dup, http_retries;
  uint64_t total_bytes;
  char fail[200];
  file_rec files[MAX_FILES];
  int nfiles;
  double file_t0;
} client_t;

static client_t *clients;
static int nclients;
static char ifname[IFNAMSIZ] = "eth0";
static int ifindex;
static double spread_ms = 1000, max_seconds = 900;
static unsigned seed = 1;
static double t0;
static int ep, pkt_fd, nl_fd;
static int udp[NSOCK];
static uint16_t udp_port[NSOCK];
static int remaining;
static uint64_t rcv_truncated, stray_packets, nl_errors;

/* ---- small helpers ---- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
static double rel(void) { return now_s() - t0; }

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "storm-client: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static unsigned rnd_state;
static unsigned rnd(void) {
  rnd_state = rnd_state * 1103515245u + 12345u;
  return rnd_state >> 1;
}

static void fail(client_t *c, const char *fmt, ...) {
  if (c->phase == P_DONE || c->phase == P_FAILED) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->fail, sizeof c->fail, fmt, ap);
  va_end(ap);
  c->phase = P_FAILED;
  c->t_end = rel();
  if (c->tcp >= 0) {
    close(c->tcp);
    c->tcp = -1;
  }
  remaining--;
}

static void ep_add(int fd, uint32_t events, uint64_t tag) {
  struct epoll_event ev = {.events = events, .data.u64 = tag};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
}

/* Tags: low values are sockets, 1<<32 | idx a client's TCP socket. */
#define TAG_PKT 1
#define TAG_NL 2
#define TAG_UDP 16
#define TAG_TCP (1ull << 32)

/* An address -> client map (open addressing). */
#define MAP_SIZE 8192
static int addr_map[MAP_SIZE];
static uint32_t addr_key[MAP_SIZE];
static void map_put(uint32_t a, int idx) {
  unsigned h = (a * 2654435761u) & (MAP_SIZE - 1);
  while (addr_map[h] >= 0 && addr_key[h] != a) h = (h + 1) & (MAP_SIZE - 1);
  addr_key[h] = a;
  addr_map[h] = idx;
}
static int map_get(uint32_t a) {
  unsigned h = (a * 2654435761u) & (MAP_SIZE - 1);
  while (addr_map[h] >= 0) {
    if (addr_key[h] == a) return addr_map[h];
    h = (h + 1) & (MAP_SIZE - 1);
  }
  return -1;
}

/* ---- DHCP: frames built by hand, so each client has its own Ethernet source ---- */

static uint16_t csum(const void *data, size_t len, uint32_t sum) {
  const uint8_t *p = data;
  for (; len > 1; len -= 2, p += 2) sum += (uint32_t)(p[0] << 8 | p[1]);
  if (len) sum += (uint32_t)(p[0] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static int opt_put(uint8_t *o, int n, int code, const void *data, int len) {
  o[n++] = (uint8_t)code;
  o[n++] = (uint8_t)len;
  memcpy(o + n, data, (size_t)len);
  return n + len;
}

static void dhcp_send(client_t *c, int type) {
  uint8_t frame[1024];
  memset(frame, 0, sizeof frame);
  struct ether_header *eh = (void *)frame;
  memset(eh->ether_dhost, 0xff, 6);
  memcpy(eh->ether_shost, c->mac, 6);
  eh->ether_type = htons(ETHERTYPE_IP);
  uint8_t *ip = frame + 14, *udph = ip + 20, *b = udph + 8;
  b[0] = 1; /* BOOTREQUEST */
  b[1] = 1;
  b[2] = 6;
  uint32_t xid = htonl(c->xid);
  memcpy(b + 4, &xid, 4);
  double secs = rel() - c->t_on;
  uint16_t s = htons((uint16_t)(secs < 0 ? 0 : secs));
  memcpy(b + 8, &s, 2);
  b[10] = 0x80; /* broadcast flag: firmware has no address to receive a unicast on */
  memcpy(b + 28, c->mac, 6);
  uint8_t *o = b + 236;
  o[0] = 99, o[1] = 130, o[2] = 83, o[3] = 99;
  int n = 4;
  uint8_t t = (uint8_t)type;
  n = opt_put(o, n, 53, &t, 1);
  if (type == 3) {
    n = opt_put(o, n, 50, &c->offer_ip, 4);
    n = opt_put(o, n, 54, &c->offer_server, 4);
  }
  uint16_t mms = htons(c->kind == K_UEFI ? 1472 : 1260);
  n = opt_put(o, n, 57, &mms, 2);
  if (c->kind == K_HTTP) {
    static const uint8_t prl[] = {1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133, 134, 135, 175, 203};
    n = opt_put(o, n, 55, prl, sizeof prl);
    uint8_t cid[7] = {1};
    memcpy(cid + 1, c->mac, 6);
    n = opt_put(o, n, 61, cid, 7);
  } else {
    static const uint8_t prl[] = {1, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135};
    n = opt_put(o, n, 55, prl, sizeof prl);
  }
  uint8_t uuid[17] = {0};
  memcpy(uuid + 1, c->uuid, 16);
  n = opt_put(o, n, 97, uuid, 17);
  uint8_t arch[2] = {0, c->kind == K_UEFI ? 7 : 0};
  n = opt_put(o, n, 93, arch, 2);
  static const uint8_t nii_bios[3] = {1, 2, 1}, nii_uefi[3] = {1, 3, 0};
  n = opt_put(o, n, 94, c->kind == K_UEFI ? nii_uefi : nii_bios, 3);
  const char *vc = c->kind == K_UEFI ? "PXEClient:Arch:00007:UNDI:003000" : "PXEClient:Arch:00000:UNDI:002001";
  n = opt_put(o, n, 60, vc, (int)strlen(vc));
  if (c->kind == K_HTTP) {
    n = opt_put(o, n, 77, "iPXE", 4);
    static const uint8_t ipxe[] = {19, 1, 1, 21, 1, 1}; /* bzimage, http */
    n = opt_put(o, n, 175, ipxe, sizeof ipxe);
  }
  o[n++] = 255;
  int blen = 236 + n;
  if (blen < 300) blen = 300; /* BOOTP minimum */
  int ulen = 8 + blen, iplen = 20 + ulen;
  ip[0] = 0x45;
  ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen;
  ip[8] = 64;
  ip[9] = 17;
  memset(ip + 16, 0xff, 4); /* 0.0.0.0 -> 255.255.255.255 */
  uint16_t ic = csum(ip, 20, 0);
  ip[10] = (uint8_t)(ic >> 8), ip[11] = (uint8_t)ic;
  udph[0] = 0, udph[1] = 68, udph[2] = 0, udph[3] = 67;
  udph[4] = (uint8_t)(ulen >> 8), udph[5] = (uint8_t)ulen;
  /* pseudo header: src 0, dst ffffffff, proto 17, length */
  uint32_t ps = 0xffff + 0xffff + 17 + (uint32_t)ulen;
  uint16_t uc = csum(udph, (size_t)ulen, ps);
  if (uc == 0) uc = 0xffff;
  udph[6] = (uint8_t)(uc >> 8), udph[7] = (uint8_t)uc;
  struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
  memset(to.sll_addr, 0xff, 6);
  if (sendto(pkt_fd, frame, (size_t)(14 + iplen), 0, (struct sockaddr *)&to, sizeof to) < 0) {
    /* a lost frame: the retransmission timer covers it */
  }
}

static void dhcp_begin(client_t *c) {
  c->phase = P_DISCOVER;
  c->try_idx = 0;
  c->have_offer = 0;
  c->collecting = c->kind == K_UEFI;
  c->deadline = rel() + DHCP_TIMEOUTS[0];
  dhcp_send(c, 1);
}

static void start_files(client_t *c);

/* The netlink request adds the leased address before the call returns. */
static void add_address(client_t *c) {
  struct {
    struct nlmsghdr nh;
    struct ifaddrmsg ifa;
    char attrs[64];
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_type = RTM_NEWADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
  req.nh.nlmsg_seq = (uint32_t)c->idx + 1;
  req.ifa.ifa_family = AF_INET;
  uint32_t m = ntohl(c->mask);
  int prefix = 0;
  while (prefix < 32 && (m & (0x80000000u >> prefix))) prefix++;
  req.ifa.ifa_prefixlen = (uint8_t)(prefix ? prefix : 32);
  req.ifa.ifa_index = (uint32_t)ifindex;
  int len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
  for (int type = IFA_LOCAL; type <= IFA_ADDRESS + 1; type++) {
    if (type != IFA_LOCAL && type != IFA_ADDRESS) continue;
    struct rtattr *rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(len));
    rta->rta_type = (unsigned short)type;
    rta->rta_len = RTA_LENGTH(4);
    memcpy(RTA_DATA(rta), &c->ip, 4);
    len = NLMSG_ALIGN(len) + RTA_ALIGN(rta->rta_len);
  }
  req.nh.nlmsg_len = (uint32_t)len;
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  if (sendto(nl_fd, &req, (size_t)len, 0, (struct sockaddr *)&to, sizeof to) < 0) nl_errors++;
}

static void on_dhcp(const uint8_t *b, int len) {
  if (len < 240 || b[0] != 2) return;
  uint32_t xid;
  memcpy(&xid, b + 4, 4);
  xid = ntohl(xid);
  /* xid = index + 1 in the low bits, a random high part (see main) */
  int idx = (int)(xid & 0xffff) - 1;
  if (idx < 0 || idx >= nclients) return;
  client_t *c = &clients[idx];
  if (c->xid != xid || memcmp(b + 28, c->mac, 6) != 0) return;
  if (c->phase != P_DISCOVER && c->phase != P_REQUEST) return;
  if (b[236] != 99 || b[237] != 130 || b[238] != 83 || b[239] != 99) return;
  int type = 0;
  uint32_t sid = 0, mask = htonl(0xffffff00);
  char file[256] = "", cfg[128] = "", pfx[128] = "";
  int has_file = 0, has_cfg = 0, has_pfx = 0;
  for (int i = 240; i < len;) {
    int code = b[i];
    if (code == 255) break;
    if (code == 0) {
      i++;
      continue;
    }
    if (i + 1 >= len) break;
    int l = b[i + 1];
    if (i + 2 + l > len) break;
    const uint8_t *v = b + i + 2;
    if (code == 53 && l >= 1) type = v[0];
    else if (code == 54 && l == 4) memcpy(&sid, v, 4);
    else if (code == 1 && l == 4) memcpy(&mask, v, 4);
    else if (code == 67 && l > 0) {
      int k = l < 255 ? l : 255;
      memcpy(file, v, (size_t)k);
      file[k] = 0;
      has_file = 1;
    } else if (code == 209 && l > 0 && l < 127) {
      memcpy(cfg, v, (size_t)l);
      cfg[l] = 0;
      has_cfg = 1;
    } else if (code == 210 && l > 0 && l < 127) {
      memcpy(pfx, v, (size_t)l);
      pfx[l] = 0;
      has_pfx = 1;
    }
    i += 2 + l;
  }
  if (!has_file && b[108]) {
    memcpy(file, b + 108, 127);
    file[127] = 0;
    has_file = 1;
  }
  uint32_t yiaddr, siaddr;
  memcpy(&yiaddr, b + 16, 4);
  memcpy(&siaddr, b + 20, 4);
  if (c->phase == P_DISCOVER && type == 2) {
    if (c->have_offer) return; /* the first offer is the one taken */
    c->have_offer = 1;
    c->offer_ip = yiaddr;
    c->offer_server = sid;
    c->offer_siaddr = siaddr;
    if (c->collecting) return; /* EDK2: offers are collected until the first timeout */
    c->phase = P_REQUEST;
    c->try_idx = 0;
    c->deadline = rel() + DHCP_TIMEOUTS[0];
    dhcp_send(c, 3);
  } else if (c->phase == P_REQUEST && type == 5) {
    c->ip = yiaddr;
    c->mask = mask;
    c->server = sid;
    c->next_server = siaddr ? siaddr : sid;
    snprintf(c->bootfile, sizeof c->bootfile, "%s", file);
    c->has_cfgfile = has_cfg;
    c->has_prefix = has_pfx;
    snprintf(c->cfgfile, sizeof c->cfgfile, "%s", cfg);
    snprintf(c->prefix, sizeof c->prefix, "%s", pfx);
    c->t_dhcp = rel();
    if (!has_file || !file[0]) {
      fail(c, "dhcp: the ACK names no boot file");
      return;
    }
    add_address(c);
    map_put(c->ip, c->idx);
    start_files(c);
  } else if (c->phase == P_REQUEST && type == 6) {
    c->dhcp_retx++;
    dhcp_begin(c); /* NAK: start over */
  }
}

static void dhcp_timeout(client_t *c) {
  if (c->phase == P_DISCOVER && c->collecting) {
    c->collecting = 0;
    if (c->have_offer) {
      c->phase = P_REQUEST;
      c->try_idx = 0;
      c->deadline = rel() + DHCP_TIMEOUTS[0];
      dhcp_send(c, 3);
      return;
    }
  }
  double next = DHCP_TIMEOUTS[++c->try_idx];
  if (next == 0) {
    fail(c, "dhcp: no %s after %d tries (4, 8, 16, 32 s)", c->phase == P_DISCOVER ? "offer" : "ack", c->try_idx);
    return;
  }
  c->dhcp_retx++;
  c->deadline = rel() + next;
  dhcp_send(c, c->phase == P_DISCOVER ? 1 : 3);
}

/* ---- TFTP: lock-step (or EDK2's window), through the shared sockets ---- */

/* ACKs and RRQs queued per socket, sent with sendmmsg after each batch of input. */
#define OUTQ 256
typedef struct {
  struct mmsghdr msg[OUTQ];
  struct iovec iov[OUTQ];
  struct sockaddr_in to[OUTQ];
  char ctl[OUTQ][CMSG_SPACE(sizeof(struct in_pktinfo))];
  uint8_t buf[OUTQ][600];
  int n;
} outq_t;
static outq_t outq[NSOCK];

static void flush_sock(int k) {
  outq_t *q = &outq[k];
  int done = 0;
  while (done < q->n) {
    int r = sendmmsg(udp[k], q->msg + done, (unsigned)(q->n - done), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      done++; /* that datagram is lost; timers cover it */
      continue;
    }
    done += r;
  }
  q->n = 0;
}

static void queue_udp(client_t *c, const void *data, size_t len, uint16_t port) {
  outq_t *q = &outq[c->sock_k];
  if (q->n == OUTQ) flush_sock(c->sock_k);
  int i = q->n++;
  if (len > sizeof q->buf[i]) len = sizeof q->buf[i];
  memcpy(q->buf[i], data, len);
  q->iov[i].iov_base = q->buf[i];
  q->iov[i].iov_len = len;
  q->to[i].sin_family = AF_INET;
  q->to[i].sin_port = htons(port);
  q->to[i].sin_addr.s_addr = c->next_server;
  struct msghdr *m = &q->msg[i].msg_hdr;
  memset(m, 0, sizeof *m);
  m->msg_name = &q->to[i];
  m->msg_namelen = sizeof q->to[i];
  m->msg_iov = &q->iov[i];
  m->msg_iovlen = 1;
  m->msg_control = q->ctl[i];
  m->msg_controllen = sizeof q->ctl[i];
  struct cmsghdr *cm = CMSG_FIRSTHDR(m);
  cm->cmsg_level = IPPROTO_IP;
  cm->cmsg_type = IP_PKTINFO;
  cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
  struct in_pktinfo pi = {.ipi_spec_dst.s_addr = c->ip};
  memcpy(CMSG_DATA(cm), &pi, sizeof pi);
}

static void send_rrq(client_t *c) {
  uint8_t p[512];
  int n = 0;
  p[n++] = 0, p[n++] = 1;
  n += snprintf((char *)p + n, 300, "%s", c->cur) + 1;
  n += snprintf((char *)p + n, 16, "octet") + 1;
  if (c->prof->tsize) {
    n += snprintf((char *)p + n, 16, "tsize") + 1;
    n += snprintf((char *)p + n, 16, "0") + 1;
  }
  n += snprintf((char *)p + n, 16, "blksize") + 1;
  n += snprintf((char *)p + n, 16, "%d", c->prof->blksize) + 1;
  if (c->prof->windowsize > 1) {
    n += snprintf((char *)p + n, 16, "windowsize") + 1;
    n += snprintf((char *)p + n, 16, "%d", c->prof->windowsize) + 1;
  }
  queue_udp(c, p, (size_t)n, 69);
}

static void send_ack(client_t *c, uint32_t block) {
  uint8_t p[4] = {0, 4, (uint8_t)(block >> 8), (uint8_t)block};
  queue_udp(c, p, 4, c->tid);
}

static void send_error(client_t *c, int code, const char *msg) {
  uint8_t p[128];
  p[0] = 0, p[1] = 5, p[2] = (uint8_t)(code >> 8), p[3] = (uint8_t)code;
  int n = 4 + snprintf((char *)p + 4, 100, "%s", msg) + 1;
  queue_udp(c, p, (size_t)n, c->tid);
}

static void tftp_get(client_t *c, enum step step, const tftp_profile *prof, const char *name) {
  c->phase = P_TFTP;
  c->step = step;
  c->prof = prof;
  snprintf(c->cur, sizeof c->cur, "%s", name);
  c->sock_k = c->file_count++ % NSOCK;
  c->have_tid = 0;
  c->got_oack = 0;
  c->blksize = 512;
  c->windowsize = 1;
  c->last_block = 0;
  c->in_window = 0;
  c->fbytes = 0;
  c->try_idx = 0;
  c->keep_text = step == S_CONFIG || step == S_SCRIPT;
  c->text_len = 0;
  c->file_t0 = rel();
  c->deadline = c->file_t0 + prof->timeouts[0];
  send_rrq(c);
}

static void record_file(client_t *c, uint64_t bytes) {
  if (c->nfiles < MAX_FILES) {
    file_rec *f = &c->files[c->nfiles++];
    snprintf(f->name, sizeof f->name, "%s", c->cur);
    f->ms = (rel() - c->file_t0) * 1000;
    f->bytes = bytes;
  }
  c->total_bytes += bytes;
}

static void done_ok(client_t *c) {
  c->phase = P_DONE;
  c->t_end = rel();
  remaining--;
}

/* The directory of the boot file: where PXELINUX looks for its files without option 210. */
static void loader_prefix(client_t *c) {
  if (c->has_prefix) return;
  const char *slash = strrchr(c->bootfile, '/');
  size_t n = slash ? (size_t)(slash - c->bootfile + 1) : 0;
  if (n >= sizeof c->prefix) n = sizeof c->prefix - 1;
  memcpy(c->prefix, c->bootfile, n);
  c->prefix[n] = 0;
}

static void path_of(client_t *c, char *out, size_t cap, const char *name) {
  if (name[0] == '/') snprintf(out, cap, "%s", name);
  else snprintf(out, cap, "%s%s", c->prefix, name);
}

/* PXELINUX's config names when DHCP named none: uuid, 01-mac, hex address shortened, default. */
static int config_name(client_t *c, int k, char *out, size_t cap) {
  char name[128];
  if (k == 0) {
    const uint8_t *u = c->uuid;
    snprintf(name, sizeof name, "pxelinux.cfg/%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8],
             u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  } else if (k == 1) {
    const uint8_t *m = c->mac;
    snprintf(name, sizeof name, "pxelinux.cfg/01-%02x-%02x-%02x-%02x-%02x-%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  } else if (k >= 2 && k <= 9) {
    char hex[9];
    snprintf(hex, sizeof hex, "%08X", ntohl(c->ip));
    hex[8 - (k - 2)] = 0;
    snprintf(name, sizeof name, "pxelinux.cfg/%s", hex);
  } else if (k == 10) {
    snprintf(name, sizeof name, "pxelinux.cfg/default");
  } else {
    return 0;
  }
  path_of(c, out, cap, name);
  return 1;
}

static void next_config(client_t *c) {
  char path[256];
  if (c->has_cfgfile) {
    if (c->cfg_try++ > 0) {
      fail(c, "pxelinux: no config at %s", c->cur);
      return;
    }
    path_of(c, path, sizeof path, c->cfgfile);
  } else if (!config_name(c, c->cfg_try++, path, sizeof path)) {
    fail(c, "pxelinux: no config file found");
    return;
  }
  tftp_get(c, S_CONFIG, &PXELINUX, path);
}

/* KERNEL/LINUX and INITRD (or initrd= in APPEND) of the default label. */
static void parse_config(client_t *c) {
  c->kernel[0] = c->initrd[0] = 0;
  char *save = NULL;
  c->text[c->text_len] = 0;
  for (char *line = strtok_r(c->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    while (isspace((unsigned char)*line)) line++;
    char key[16] = "", arg[256] = "";
    if (sscanf(line, "%15s %255s", key, arg) < 2) continue;
    for (char *k = key; *k; k++) *k = (char)tolower((unsigned char)*k);
    if (!c->kernel[0] && (!strcmp(key, "kernel") || !strcmp(key, "linux"))) path_of(c, c->kernel, sizeof c->kernel, arg);
    else if (!c->initrd[0] && !strcmp(key, "initrd")) path_of(c, c->initrd, sizeof c->initrd, arg);
    else if (!c->initrd[0] && !strcmp(key, "append")) {
      char *p = strstr(line, "initrd=");
      if (p) {
        char v[256];
        if (sscanf(p + 7, "%255[^ ,\t\r]", v) == 1) path_of(c, c->initrd, sizeof c->initrd, v);
      }
    }
  }
}

static void http_get(client_t *c, enum step step, const char *url);

/* What comes after a file: the firmware's next step. */
static void file_done(client_t *c) {
  record_file(c, c->fbytes);
  char path[256];
  switch (c->step) {
    case S_LOADER_PROBE:
      tftp_get(c, S_LOADER, &EDK2_READ, c->bootfile);
      break;
    case S_LOADER:
      loader_prefix(c);
      path_of(c, path, sizeof path, c->kind == K_UEFI ? "ldlinux.e64" : "ldlinux.c32");
      tftp_get(c, S_LDLINUX, &PXELINUX, path);
      break;
    case S_LDLINUX:
      c->cfg_try = 0;
      next_config(c);
      break;
    case S_CONFIG:
      parse_config(c);
      if (!c->kernel[0]) {
        fail(c, "pxelinux: config %s names no kernel", c->cur);
        return;
      }
      tftp_get(c, S_KERNEL, &PXELINUX, c->kernel);
      break;
    case S_KERNEL:
      if (!c->initrd[0]) {
        done_ok(c);
        return;
      }
      tftp_get(c, S_INITRD, &PXELINUX, c->initrd);
      break;
    case S_INITRD:
      done_ok(c);
      break;
    case S_SCRIPT:
      break; /* HTTP: see http_done */
  }
}

static void tftp_error_in(client_t *c, const uint8_t *p, int len) {
  int code = len >= 4 ? (p[2] << 8 | p[3]) : -1;
  char msg[120] = "";
  if (len > 4) {
    int n = len - 4 < 119 ? len - 4 : 119;
    memcpy(msg, p + 4, (size_t)n);
    msg[n] = 0;
  }
  if (c->step == S_CONFIG && code == 1 && !c->has_cfgfile) {
    record_file(c, 0);
    next_config(c);
    return;
  }
  fail(c, "tftp: %s: ERROR %d %s", c->cur, code, msg);
}

/* An OACK: the options granted; the firmware then ACKs block 0. */
static void tftp_oack(client_t *c, const uint8_t *p, int len) {
  c->got_oack = 1;
  const char *s = (const char *)p + 2, *end = (const char *)p + len;
  while (s < end) {
    const char *k = s;
    s += strnlen(s, (size_t)(end - s)) + 1;
    if (s >= end) break;
    const char *v = s;
    s += strnlen(s, (size_t)(end - s)) + 1;
    if (!strcasecmp(k, "blksize")) c->blksize = atoi(v);
    else if (!strcasecmp(k, "windowsize")) c->windowsize = atoi(v);
  }
  if (c->blksize < 8 || c->blksize > 1500) {
    fail(c, "tftp: %s: OACK blksize %d", c->cur, c->blksize);
    return;
  }
  if (c->windowsize < 1) c->windowsize = 1;
  if (c->step == S_LOADER_PROBE) {
    /* EDK2's GetInfo: the size is known; the transfer is aborted. */
    send_error(c, 8, "User aborted the transfer");
    file_done(c);
    return;
  }
  send_ack(c, 0);
}

static void tftp_data(client_t *c, const uint8_t *p, int len) {
  uint16_t blk = (uint16_t)(p[2] << 8 | p[3]);
  int payload = len - 4;
  if (c->step == S_LOADER_PROBE) {
    /* No OACK: the server ignored the options. EDK2 gets no size; abort and read anyway. */
    send_error(c, 8, "User aborted the transfer");
    file_done(c);
    return;
  }
  uint16_t expect = (uint16_t)(c->last_block + 1);
  if (blk != expect) {
    /* A resent or early block. PXELINUX ACKs what it got; EDK2 ACKs the last in order. */
    c->tftp_dup++;
    if (c->prof == &PXELINUX) send_ack(c, blk);
    else send_ack(c, c->last_block);
    return;
  }
  if (!c->got_oack && c->last_block == 0) c->blksize = 512; /* options ignored */
  c->last_block++;
  c->fbytes += (uint64_t)payload;
  if (c->keep_text && c->text_len + payload < TEXT_MAX) {
    memcpy(c->text + c->text_len, p + 4, (size_t)payload);
    c->text_len += payload;
  }
  c->try_idx = 0;
  c->deadline = rel() + c->prof->timeouts[0];
  int last = payload < c->blksize;
  if (last || ++c->in_window >= c->windowsize) {
    c->in_window = 0;
    send_ack(c, c->last_block);
  }
  if (last) file_done(c);
}

static void on_udp(int k, const uint8_t *p, int len, uint32_t dst, uint32_t src, uint16_t sport) {
  int idx = map_get(dst);
  if (idx < 0) {
    stray_packets++;
    return;
  }
  client_t *c = &clients[idx];
  if (c->phase != P_TFTP || c->sock_k != k || src != c->next_server) {
    stray_packets++; /* an earlier file's late packet: that port is closed on a real client */
    return;
  }
  if (len < 4 || p[0] != 0) return;
  if (!c->have_tid) {
    c->have_tid = 1;
    c->tid = sport;
  } else if (sport != c->tid) {
    stray_packets++;
    return;
  }
  switch (p[1]) {
    case 3:
      tftp_data(c, p, len);
      break;
    case 5:
      tftp_error_in(c, p, len);
      break;
    case 6:
      if (!c->got_oack && c->last_block == 0) tftp_oack(c, p, len);
      else if (c->last_block == 0) send_ack(c, 0); /* OACK again: our ACK 0 was lost */
      break;
  }
}

static void tftp_timeout(client_t *c) {
  double next = c->prof->timeouts[++c->try_idx];
  if (next == 0) {
    fail(c, "tftp: %s: no answer after %d tries (block %u)", c->cur, c->try_idx, c->last_block);
    return;
  }
  c->tftp_retx++;
  c->deadline = rel() + next;
  if (!c->have_tid) send_rrq(c); /* the request again, from the same port */
  else send_ack(c, c->last_block); /* the last ACK (ACK 0 after an OACK) */
}

/* ---- HTTP (iPXE) ---- */

static int parse_url(const char *url, uint32_t *addr, uint16_t *port, const char **path) {
  if (strncmp(url, "http://", 7)) return -1;
  const char *h = url + 7;
  const char *slash = strchr(h, '/');
  char host[64];
  size_t hl = slash ? (size_t)(slash - h) : strlen(h);
  if (hl >= sizeof host) return -1;
  memcpy(host, h, hl);
  host[hl] = 0;
  *port = 80;
  char *colon = strchr(host, ':');
  if (colon) {
    *colon = 0;
    *port = (uint16_t)atoi(colon + 1);
  }
  struct in_addr a;
  if (inet_pton(AF_INET, host, &a) != 1) return -1;
  *addr = a.s_addr;
  *path = slash ? slash : "/";
  return 0;
}

static void http_start(client_t *c) {
  uint32_t addr;
  uint16_t port;
  const char *path;
  if (parse_url(c->url, &addr, &port, &path) < 0) {
    fail(c, "http: cannot use the URL '%s'", c->url);
    return;
  }
  c->tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = c->ip};
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = addr};
  if (c->tcp < 0 || bind(c->tcp, (struct sockaddr *)&me, sizeof me) < 0) {
    fail(c, "http: socket: %s", strerror(errno));
    return;
  }
  if (connect(c->tcp, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS) {
    fail(c, "http: connect: %s", strerror(errno));
    return;
  }
  c->phase = P_HTTP;
  c->http_state = 0;
  c->hlen = 0;
  c->clen = -1;
  c->body = 0;
  c->last_io = rel();
  c->deadline = c->last_io + HTTP_IDLE_S;
  ep_add(c->tcp, EPOLLOUT | EPOLLIN, TAG_TCP | (uint64_t)c->idx);
}

static void http_get(client_t *c, enum step step, const char *url) {
  c->step = step;
  snprintf(c->url, sizeof c->url, "%s", url);
  snprintf(c->cur, sizeof c->cur, "%s", url);
  c->keep_text = step == S_SCRIPT;
  c->text_len = 0;
  c->http_tries = 0;
  c->file_t0 = rel();
  http_start(c);
}

/* iPXE: `kernel [--opts] URL ...` and `initrd [--opts] URL`. */
static void parse_script(client_t *c) {
  c->kernel[0] = c->initrd[0] = 0;
  c->text[c->text_len] = 0;
  char *save = NULL;
  for (char *line = strtok_r(c->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *t, *s2 = NULL;
    char *cmd = strtok_r(line, " \t\r", &s2);
    if (!cmd) continue;
    int is_k = !strcmp(cmd, "kernel") || !strcmp(cmd, "chain"), is_i = !strcmp(cmd, "initrd");
    if (!is_k && !is_i) continue;
    while ((t = strtok_r(NULL, " \t\r", &s2))) {
      if (t[0] == '-') {
        if (!strcmp(t, "--name") || !strcmp(t, "-n")) strtok_r(NULL, " \t\r", &s2);
        continue;
      }
      break;
    }
    if (!t) continue;
    if (is_k && !c->kernel[0]) snprintf(c->kernel, sizeof c->kernel, "%s", t);
    if (is_i && !c->initrd[0]) snprintf(c->initrd, sizeof c->initrd, "%s", t);
  }
}

static void http_close(client_t *c) {
  if (c->tcp >= 0) {
    close(c->tcp); /* also leaves the epoll set */
    c->tcp = -1;
  }
}

/* A failed attempt: iPXE's script says `|| goto retry` (sleep 10, again); the script itself is not retried. */
static void http_attempt_failed(client_t *c, const char *why) {
  http_close(c);
  if (c->step == S_SCRIPT || ++c->http_tries > 2) {
    fail(c, "http: %s: %s", c->url, why);
    return;
  }
  c->http_retries++;
  c->phase = P_HTTP_WAIT;
  c->deadline = rel() + 10;
}

static void http_done(client_t *c) {
  http_close(c);
  record_file(c, c->body);
  switch (c->step) {
    case S_SCRIPT:
      parse_script(c);
      if (!c->kernel[0]) {
        fail(c, "http: the script names no kernel");
        return;
      }
      http_get(c, S_KERNEL, c->kernel);
      break;
    case S_KERNEL:
      if (!c->initrd[0]) done_ok(c);
      else http_get(c, S_INITRD, c->initrd);
      break;
    default:
      done_ok(c);
      break;
  }
}

static uint8_t scratch[1 << 20];

static void on_tcp(client_t *c, uint32_t events) {
  if (c->phase != P_HTTP || c->tcp < 0) return;
  if (c->http_state == 0 && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->tcp, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
      http_attempt_failed(c, strerror(err));
      return;
    }
    uint32_t addr;
    uint16_t port;
    const char *path;
    parse_url(c->url, &addr, &port, &path);
    char host[32];
    inet_ntop(AF_INET, &addr, host, sizeof host);
    char req[600];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nConnection: keep-alive\r\nUser-Agent: iPXE/1.21.1+\r\nHost: %s:%u\r\n\r\n", path, host, port);
    if (send(c->tcp, req, (size_t)n, MSG_NOSIGNAL) != n) {
      http_attempt_failed(c, "cannot send the request");
      return;
    }
    c->http_state = 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_TCP | (uint64_t)c->idx};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->tcp, &ev);
    return;
  }
  for (int rounds = 0; rounds < 4; rounds++) {
    ssize_t r = recv(c->tcp, scratch, sizeof scratch, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      http_attempt_failed(c, strerror(errno));
      return;
    }
    c->last_io = rel();
    c->deadline = c->last_io + HTTP_IDLE_S;
    const uint8_t *d = scratch;
    size_t n = (size_t)r;
    if (r == 0) {
      if (c->http_state == 2 && c->clen < 0) {
        http_done(c); /* no length: the body ends with the connection */
        return;
      }
      http_attempt_failed(c, "connection closed early");
      return;
    }
    if (c->http_state == 1) {
      size_t room = sizeof c->hbuf - 1 - (size_t)c->hlen;
      size_t take = n < room ? n : room;
      memcpy(c->hbuf + c->hlen, d, take);
      c->hlen += (int)take;
      c->hbuf[c->hlen] = 0;
      char *end = strstr(c->hbuf, "\r\n\r\n");
      if (!end) {
        if (c->hlen >= (int)sizeof c->hbuf - 1) http_attempt_failed(c, "headers too long");
        return;
      }
      size_t hdr = (size_t)(end - c->hbuf) + 4;
      c->http_status = atoi(c->hbuf + 9);
      char *cl = strcasestr(c->hbuf, "\r\ncontent-length:");
      c->clen = cl ? strtoll(cl + 17, NULL, 10) : -1;
      if (c->http_status != 200) {
        char why[32];
        snprintf(why, sizeof why, "status %d", c->http_status);
        http_attempt_failed(c, why);
        return;
      }
      c->http_state = 2;
      /* the part of this read after the headers is body */
      size_t consumed = hdr - ((size_t)c->hlen - take);
      d += consumed;
      n -= consumed;
    }
    if (c->keep_text && c->text_len + (int)n < TEXT_MAX) {
      memcpy(c->text + c->text_len, d, n);
      c->text_len += (int)n;
    }
    c->body += n;
    if (c->clen >= 0 && (int64_t)c->body >= c->clen) {
      http_done(c);
      return;
    }
  }
}

/* ---- the boot sequence ---- */

static void start_files(client_t *c) {
  if (c->kind == K_HTTP) {
    if (strncmp(c->bootfile, "http://", 7)) {
      fail(c, "dhcp: boot file '%s' is not an http:// URL", c->bootfile);
      return;
    }
    http_get(c, S_SCRIPT, c->bootfile);
  } else if (c->kind == K_UEFI) {
    tftp_get(c, S_LOADER_PROBE, &EDK2_PROBE, c->bootfile);
  } else {
    tftp_get(c, S_LOADER, &BIOS_ROM, c->bootfile);
  }
}

static void on_timer(client_t *c) {
  switch (c->phase) {
    case P_WAIT:
      c->t_on = rel();
      dhcp_begin(c);
      break;
    case P_DISCOVER:
    case P_REQUEST:
      dhcp_timeout(c);
      break;
    case P_TFTP:
      tftp_timeout(c);
      break;
    case P_HTTP:
      http_attempt_failed(c, "no data for 30 s");
      break;
    case P_HTTP_WAIT:
      http_start(c);
      break;
    default:
      break;
  }
}

/* ---- setup and the loop ---- */

static void read_input(const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) die("%s: %s", file, strerror(errno));
  char line[512];
  int cap = 0;
  while (fgets(line, sizeof line, f)) {
    char key[32], a[64], b[64], u[64];
    int n = sscanf(line, "%31s %63s %63s %63s", key, a, b, u);
    if (n < 2) continue;
    if (!strcmp(key, "iface")) snprintf(ifname, sizeof ifname, "%s", a);
    else if (!strcmp(key, "spread-ms")) spread_ms = atof(a);
    else if (!strcmp(key, "seed")) seed = (unsigned)atol(a);
    else if (!strcmp(key, "max-seconds")) max_seconds = atof(a);
    else if (!strcmp(key, "client") && n == 4) {
      if (nclients == cap) {
        cap = cap ? cap * 2 : 256;
        clients = realloc(clients, (size_t)cap * sizeof *clients);
      }
      client_t *c = &clients[nclients];
      memset(c, 0, sizeof *c);
      c->idx = nclients;
      c->kind = !strcmp(a, "uefi") ? K_UEFI : !strcmp(a, "http") ? K_HTTP : K_BIOS;
      if (sscanf(b, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &c->mac[0], &c->mac[1], &c->mac[2], &c->mac[3], &c->mac[4], &c->mac[5]) != 6) die("bad MAC %s", b);
      for (int i = 0; i < 16; i++)
        if (sscanf(u + 2 * i, "%2hhx", &c->uuid[i]) != 1) die("bad UUID %s", u);
      c->tcp = -1;
      c->text = malloc(TEXT_MAX + 1);
      nclients++;
    }
  }
  fclose(f);
  if (!nclients) die("no clients in %s", file);
  if (nclients > 65000) die("at most 65000 clients");
}

static int udp_socket(uint16_t *port) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, big = 16 << 20;
  setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0) setsockopt(s, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  struct sockaddr_in a = {.sin_family = AF_INET};
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind: %s", strerror(errno));
  socklen_t l = sizeof a;
  getsockname(s, (struct sockaddr *)&a, &l);
  *port = ntohs(a.sin_port);
  return s;
}

static void setup(void) {
  ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) die("no interface %s", ifname);
  ep = epoll_create1(EPOLL_CLOEXEC);
  pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IP));
  if (pkt_fd < 0) die("packet socket (needs root): %s", strerror(errno));
  /* UDP to port 68, not a fragment: DHCP replies only */
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 6), BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0), BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),  BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 68, 0, 1), BPF_STMT(BPF_RET | BPF_K, 0xffff),          BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  if (setsockopt(pkt_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) die("filter: %s", strerror(errno));
  int big = 16 << 20;
  setsockopt(pkt_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = ifindex};
  if (bind(pkt_fd, (struct sockaddr *)&ll, sizeof ll) < 0) die("bind packet socket: %s", strerror(errno));
  ep_add(pkt_fd, EPOLLIN, TAG_PKT);
  nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl_fd < 0) die("netlink: %s", strerror(errno));
  ep_add(nl_fd, EPOLLIN, TAG_NL);
  for (int k = 0; k < NSOCK; k++) {
    udp[k] = udp_socket(&udp_port[k]);
    ep_add(udp[k], EPOLLIN, TAG_UDP + (uint64_t)k);
  }
  for (int i = 0; i < MAP_SIZE; i++) addr_map[i] = -1;
  for (int i = 0; PXELINUX_TICKS[i]; i++) PXELINUX_TIMEOUTS[i] = PXELINUX_TICKS[i] * 0.055;
}

#define RBATCH 64
static struct mmsghdr rmsg[RBATCH];
static struct iovec riov[RBATCH];
static struct sockaddr_in rfrom[RBATCH];
static char rctl[RBATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
static uint8_t rbuf[RBATCH][2048];

static void drain_udp(int k) {
  for (int round = 0; round < 8; round++) {
    for (int i = 0; i < RBATCH; i++) {
      riov[i].iov_base = rbuf[i];
      riov[i].iov_len = sizeof rbuf[i];
      struct msghdr *m = &rmsg[i].msg_hdr;
      m->msg_name = &rfrom[i];
      m->msg_namelen = sizeof rfrom[i];
      m->msg_iov = &riov[i];
      m->msg_iovlen = 1;
      m->msg_control = rctl[i];
      m->msg_controllen = sizeof rctl[i];
      m->msg_flags = 0;
    }
    int n = recvmmsg(udp[k], rmsg, RBATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      struct msghdr *m = &rmsg[i].msg_hdr;
      if (m->msg_flags & MSG_TRUNC) {
        rcv_truncated++;
        continue;
      }
      uint32_t dst = 0;
      for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm))
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) dst = ((struct in_pktinfo *)CMSG_DATA(cm))->ipi_addr.s_addr;
      on_udp(k, rbuf[i], (int)rmsg[i].msg_len, dst, rfrom[i].sin_addr.s_addr, ntohs(rfrom[i].sin_port));
    }
    if (n < RBATCH) break;
  }
}

static void drain_pkt(void) {
  uint8_t f[2048];
  for (int i = 0; i < 256; i++) {
    struct sockaddr_ll from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(pkt_fd, f, sizeof f, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) return;
    if (from.sll_pkttype == PACKET_OUTGOING || n < 14 + 20 + 8) continue;
    int ihl = (f[14] & 0xf) * 4;
    if (n < 14 + ihl + 8) continue;
    on_dhcp(f + 14 + ihl + 8, (int)(n - 14 - ihl - 8));
  }
}

static void drain_nl(void) {
  char b[8192];
  for (;;) {
    ssize_t n = recv(nl_fd, b, sizeof b, 0);
    if (n <= 0) return;
    for (struct nlmsghdr *h = (void *)b; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        if (e->error && e->error != -EEXIST) {
          nl_errors++;
          if (nl_errors < 5) fprintf(stderr, "storm-client: adding an address failed: %s\n", strerror(-e->error));
        }
      }
    }
  }
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
    else putchar(*s);
  }
  putchar('"');
}

static void report(void) {
  for (int i = 0; i < nclients; i++) {
    client_t *c = &clients[i];
    char ip[32] = "";
    if (c->ip) inet_ntop(AF_INET, &c->ip, ip, sizeof ip);
    printf("{\"i\":%d,\"kind\":\"%s\",\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\",\"ip\":\"%s\",\"ok\":%s,\"on\":%.4f,\"dhcp\":%.4f,\"end\":%.4f,\"bytes\":%llu,", c->idx, KIND_NAME[c->kind],
           c->mac[0], c->mac[1], c->mac[2], c->mac[3], c->mac[4], c->mac[5], ip, c->phase == P_DONE ? "true" : "false", c->t_on, c->t_dhcp, c->t_end,
           (unsigned long long)c->total_bytes);
    printf("\"dhcpRetx\":%d,\"tftpRetx\":%d,\"tftpDup\":%d,\"httpRetries\":%d,\"fail\":", c->dhcp_retx, c->tftp_retx, c->tftp_dup, c->http_retries);
    if (c->phase == P_DONE) printf("null");
    else json_str(c->phase == P_FAILED ? c->fail : "still running at the end");
    printf(",\"files\":[");
    for (int f = 0; f < c->nfiles; f++) {
      printf("%s{\"name\":", f ? "," : "");
      json_str(c->files[f].name);
      printf(",\"ms\":%.1f,\"bytes\":%llu}", c->files[f].ms, (unsigned long long)c->files[f].bytes);
    }
    printf("]}\n");
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"summary\":{\"clients\":%d,\"wall\":%.3f,\"cpuUser\":%.3f,\"cpuSys\":%.3f,\"maxRssKb\":%ld,\"truncated\":%llu,\"stray\":%llu,\"netlinkErrors\":%llu}}\n", nclients, rel(),
         ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss, (unsigned long long)rcv_truncated,
         (unsigned long long)stray_packets, (unsigned long long)nl_errors);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: storm-client INPUT");
  setvbuf(stdout, NULL, _IOFBF, 1 << 20);
  read_input(argv[1]);
  setup();
  rnd_state = seed;
  for (int i = 0; i < nclients; i++) {
    client_t *c = &clients[i];
    /* xid: a random high half, the client's index + 1 below (replies are matched by it and by chaddr) */
    c->xid = (rnd() & 0xffff0000u) | (uint32_t)(i + 1);
    c->start_at = spread_ms > 0 ? (rnd() % (unsigned)(spread_ms * 1000)) / 1e6 : 0;
    c->phase = P_WAIT;
    c->deadline = c->start_at;
  }
  remaining = nclients;
  t0 = now_s();
  double next_scan = 0, next_progress = 2;
  struct epoll_event evs[256];
  while (remaining > 0) {
    double t = rel();
    if (t > max_seconds) break;
    int n = epoll_wait(ep, evs, 256, 5);
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag & TAG_TCP) on_tcp(&clients[tag & 0xffffffffu], evs[i].events);
      else if (tag == TAG_PKT) drain_pkt();
      else if (tag == TAG_NL) drain_nl();
      else if (tag >= TAG_UDP && tag < TAG_UDP + NSOCK) drain_udp((int)(tag - TAG_UDP));
    }
    t = rel();
    if (t >= next_scan) {
      next_scan = t + 0.005;
      for (int i = 0; i < nclients; i++) {
        client_t *c = &clients[i];
        if (c->phase != P_DONE && c->phase != P_FAILED && c->deadline <= t) on_timer(c);
      }
    }
    for (int k = 0; k < NSOCK; k++)
      if (outq[k].n) flush_sock(k);
    if (t >= next_progress) {
      next_progress = t + 2;
      int dh = 0, ok = 0, bad = 0;
      for (int i = 0; i < nclients; i++) {
        dh += clients[i].t_dhcp > 0;
        ok += clients[i].phase == P_DONE;
        bad += clients[i].phase == P_FAILED;
      }
      fprintf(stderr, "storm-client: %5.1f s: %d leased, %d booted, %d failed of %d\n", t, dh, ok, bad, nclients);
    }
  }
  report();
  return 0;
}

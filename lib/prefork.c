/* prefork.c: the pre-forked listener of prefork.h.  The parent's only
   state is its table of children and whether each is busy; children tell
   it "busy" and "idle" through a pipe (fixed 8-byte records, atomic), a
   second pipe that only the parent can write tells the children when it
   is gone (end of file), and signals reach the parent's poll() through a
   self-pipe: the one global of this module, as a signal handler needs. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "io.h"
#include "prefork.h"

#define THROTTLE_MS 1000             /* after a failed fork or a child that died young */
#define GRACE_MS 200                 /* every child busy: wait this long for one before a "busy" */

static int sigfd = -1;               /* write end of the self-pipe */

static void on_signal(int sig)
{
  unsigned char c = (unsigned char)sig;
  int e = errno;
  if (write(sigfd, &c, 1) == -1) { /* full: a wake-up is pending anyway */ }
  errno = e;
}

int prefork_listen(const char *spec)
{
  char host[256];
  const char *colon = strrchr(spec, ':'), *h = spec;
  size_t hl;
  struct addrinfo hints, *ai = 0;
  int fd, one = 1, e;
  if (!colon || !colon[1]) return errno = EINVAL, -1;
  hl = (size_t)(colon - spec);
  if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') { h = spec + 1; hl -= 2; }
  if (hl == 0 || hl >= sizeof host) return errno = EINVAL, -1;
  memcpy(host, h, hl);
  host[hl] = 0;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai) return errno = EINVAL, -1;
  fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd == -1
      || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1
      || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1
      || listen(fd, SOMAXCONN) == -1) {
    e = errno;
    if (fd != -1) close(fd);
    freeaddrinfo(ai);
    return errno = e, -1;
  }
  freeaddrinfo(ai);
  return fd;
}

static int name_of(const struct sockaddr_storage *ss, char *ip, size_t iplen, char *port, size_t portlen)
{
  char b[INET6_ADDRSTRLEN];
  unsigned p;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    if (!inet_ntop(AF_INET, &s4->sin_addr, b, sizeof b)) return -1;
    p = ntohs(s4->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    if (!inet_ntop(AF_INET6, &s6->sin6_addr, b, sizeof b)) return -1;
    p = ntohs(s6->sin6_port);
  } else
    return errno = EAFNOSUPPORT, -1;
  /* ::ffff:192.0.2.1 is an IPv4 client: say so the way tcpserver does. */
  if (!strncmp(b, "::ffff:", 7) && strchr(b + 7, '.')) memmove(b, b + 7, strlen(b + 7) + 1);
  if (ip && (size_t)snprintf(ip, iplen, "%s", b) >= iplen) return errno = ENAMETOOLONG, -1;
  if (port && (size_t)snprintf(port, portlen, "%u", p) >= portlen) return errno = ENAMETOOLONG, -1;
  return 0;
}

int prefork_names(int fd, char *rip, size_t riplen, char *lip, size_t liplen,
                  char *lport, size_t lportlen)
{
  struct sockaddr_storage ss;
  socklen_t n = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &n) == -1 || name_of(&ss, rip, riplen, 0, 0) == -1) return -1;
  n = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &n) == -1 || name_of(&ss, lip, liplen, lport, lportlen) == -1)
    return -1;
  return 0;
}

/* ---- the child -------------------------------------------------------- */

/* What a child tells: idle, busy, or retiring (its last session is
   ending: the parent may fork its successor at once). */
enum { K_IDLE, K_BUSY, K_RETIRING };
struct status { int pid; char state, pad[3]; };

static void tell(int fd, int state)
{
  struct status m;
  memset(&m, 0, sizeof m);
  m.pid = (int)getpid();
  m.state = (char)state;
  /* Blocks only if the parent stopped reading; it reads in every round. */
  if (write(fd, &m, sizeof m) == -1) { /* the parent is gone: we see it below */ }
}

void prefork_idle(struct prefork *p)
{
  if (p->told_idle) return;
  tell(p->stfd, p->used + 1 >= p->max_use ? K_RETIRING : K_IDLE);
  p->told_idle = 1;
}

static int child(struct prefork *p, int stfd, int alivefd, pid_t parent)
{
  p->stfd = stfd;
  p->used = 0;
#ifdef PR_SET_PDEATHSIG
  /* A parent killed outright takes its children along, at once: they hold
     the listening socket, and a restarted parent must be able to bind it.
     A session cut short is retried by its client; it had no 250 unless
     the message was durable (a duplicate at worst). */
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1) { /* the pipe below still tells */ }
#endif
  if (getppid() != parent) return PREFORK_CHILD;
  for (;;) {
    struct pollfd pf[2];
    int fd, r;
    pf[0].fd = p->lfd;
    pf[0].events = POLLIN;
    pf[1].fd = alivefd;
    pf[1].events = POLLIN;
    r = poll(pf, 2, p->max_idle > 0 ? p->max_idle * 1000 : -1);
    if (r == -1 && errno == EINTR) continue;
    if (r <= 0 || pf[1].revents) return PREFORK_CHILD;   /* idle, or the parent is gone */
    /* Other children may have been woken too: whoever loses gets EAGAIN. */
    fd = accept(p->lfd, 0, 0);
    if (fd == -1) continue;
    if (fd_cloexec(fd) == -1) {
      close(fd);
      continue;
    }
    tell(stfd, K_BUSY);
    p->told_idle = 0;
    p->serve(fd, p->arg);
    close(fd);
    if (++p->used >= p->max_use) return PREFORK_CHILD;
    if (!p->told_idle) tell(stfd, K_IDLE);
  }
}

/* ---- the parent ------------------------------------------------------- */

struct kid { pid_t pid; int state; struct timespec born; };

static long ms_since(const struct timespec *t)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static int pipe_ce(int fd[2], int nonblock_read)
{
  if (pipe(fd) == -1) return -1;
  if (fd_cloexec(fd[0]) == -1 || fd_cloexec(fd[1]) == -1
      || (nonblock_read && fd_nonblock(fd[0], 1) == -1)) {
    close(fd[0]);
    close(fd[1]);
    return -1;
  }
  return 0;
}

int prefork_run(struct prefork *p)
{
  int sp[2], st[2], al[2], stopping = 0, e;
  struct kid *kids;
  unsigned long nkid = 0, nidle = 0, nretiring = 0, i;
  struct timespec throttled = { 0, 0 }, full = { 0, 0 };
  struct sigaction sa;
  pid_t me = getpid();
  /* Room for max children and as many retiring ones. */
  if (!(kids = calloc(p->max ? 2 * p->max : 1, sizeof *kids))) return -1;
  if (pipe_ce(sp, 1) == -1) { free(kids); return -1; }
  if (pipe_ce(st, 1) == -1) { close(sp[0]); close(sp[1]); free(kids); return -1; }
  if (pipe_ce(al, 0) == -1) {
    close(sp[0]); close(sp[1]); close(st[0]); close(st[1]); free(kids);
    return -1;
  }
  fd_nonblock(sp[1], 1);
  sigfd = sp[1];
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, 0);
  sigaction(SIGTERM, &sa, 0);
  sigaction(SIGINT, &sa, 0);
  sigaction(SIGHUP, &sa, 0);

  while (!stopping) {
    struct pollfd pf[3];
    nfds_t np = 2;
    int watch, timeout = -1, r;
    long since = throttled.tv_sec ? ms_since(&throttled) : THROTTLE_MS;
    long waited = full.tv_sec ? ms_since(&full) : 0;
    /* A new child counts as idle until it says it is busy: so the parent
       forks one child per waiting connection, not one per wake-up.  With
       every child busy, a connection waits GRACE_MS for one to finish
       (its status may be on its way) before the parent refuses it. */
    if (nidle) full.tv_sec = full.tv_nsec = 0, waited = 0;
    watch = nidle == 0 && since >= THROTTLE_MS && (!full.tv_sec || waited >= GRACE_MS);
    if (nidle == 0 && since < THROTTLE_MS) timeout = (int)(THROTTLE_MS - since);
    else if (nidle == 0 && full.tv_sec && waited < GRACE_MS) timeout = (int)(GRACE_MS - waited);
    pf[0].fd = sp[0];
    pf[0].events = POLLIN;
    pf[1].fd = st[0];
    pf[1].events = POLLIN;
    if (watch) {
      pf[2].fd = p->lfd;
      pf[2].events = POLLIN;
      pf[2].revents = 0;
      np = 3;
    }
    r = poll(pf, np, timeout);
    if (r == -1 && errno != EINTR) break;
    if (r > 0 && pf[0].revents) {
      unsigned char sig[64];
      ssize_t k, j;
      while ((k = read(sp[0], sig, sizeof sig)) > 0)
        for (j = 0; j < k; j++)
          if (sig[j] != SIGCHLD) stopping = 1;
    }
    for (;;) {                        /* the dead */
      int ws;
      pid_t pid = waitpid(-1, &ws, WNOHANG);
      if (pid <= 0) break;
      for (i = 0; i < nkid; i++)
        if (kids[i].pid == pid) {
          int bad = !WIFEXITED(ws) || WEXITSTATUS(ws) != 0;
          if (bad && p->gone) p->gone(pid, ws, p->arg);
          /* Dying young and badly: do not fork again at once. */
          if (bad && ms_since(&kids[i].born) < THROTTLE_MS) clock_gettime(CLOCK_MONOTONIC, &throttled);
          if (kids[i].state == K_IDLE) nidle--;
          if (kids[i].state == K_RETIRING) nretiring--;
          kids[i] = kids[--nkid];
          break;
        }
    }
    for (;;) {                        /* busy and idle news */
      struct status m[64];
      ssize_t k = read(st[0], m, sizeof m), j;
      if (k <= 0) break;
      for (j = 0; j < k / (ssize_t)sizeof m[0]; j++)
        for (i = 0; i < nkid; i++)
          if (kids[i].pid == (pid_t)m[j].pid) {
            int was = kids[i].state, now = m[j].state;
            if (was == K_RETIRING || (now != K_IDLE && now != K_BUSY && now != K_RETIRING)) break;
            if (was == K_IDLE && now != K_IDLE) nidle--;
            if (was != K_IDLE && now == K_IDLE) nidle++;
            if (now == K_RETIRING) nretiring++;
            kids[i].state = now;
            break;
          }
    }
    if (stopping || !watch || r <= 0 || !pf[2].revents || nidle) continue;
    if (nkid - nretiring < p->max && nkid < 2 * p->max) {   /* the table's size */
      pid_t pid = fork();
      if (pid == -1) {
        clock_gettime(CLOCK_MONOTONIC, &throttled);
        continue;
      }
      if (pid == 0) {
        signal(SIGCHLD, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        close(sp[0]);
        close(sp[1]);
        close(st[0]);
        close(al[1]);
        free(kids);
        return child(p, st[1], al[0], me);
      }
      kids[nkid].pid = pid;
      kids[nkid].state = K_IDLE;
      clock_gettime(CLOCK_MONOTONIC, &kids[nkid].born);
      nkid++;
      nidle++;
    } else if (!full.tv_sec) {
      clock_gettime(CLOCK_MONOTONIC, &full);   /* the grace begins */
    } else {
      int fd = accept(p->lfd, 0, 0);   /* refused at once until a child is idle */
      if (fd != -1) {
        if (fd_cloexec(fd) == 0 && fd_nonblock(fd, 1) == 0) p->busy(fd, p->arg);
        close(fd);
      }
    }
  }
  e = errno;
  signal(SIGCHLD, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  /* Stop: children die with their sessions (SMTP clients retry; nothing
     was answered 250 that is not durable). */
  close(p->lfd);
  close(al[1]);
  for (i = 0; i < nkid; i++) kill(kids[i].pid, SIGTERM);
  for (i = 0; i < nkid; i++) waitpid(kids[i].pid, 0, 0);
  close(al[0]);
  close(st[0]);
  close(st[1]);
  close(sp[0]);
  close(sp[1]);
  sigfd = -1;
  free(kids);
  errno = e;
  return stopping ? 0 : -1;
}

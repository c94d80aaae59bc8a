#ifndef INJECTD_H
#define INJECTD_H
/* injectd.h: the engine of queue-inject's server form (queue-inject -d):
   its clients, their frames (injectp.h), and the group commit.  The
   program owns the listening socket, the signals and the poll() call;
   each round it asks injectd_pollfds what to wait for, polls, and hands
   the result to injectd_run, which reads, writes the messages into tmp/
   (inject.h), syncs, links, syncs new/ for a group and answers.  It never
   waits for the disk: fsyncs are in flight (injectsync.h) while the next
   messages are read.  No file is in new/ before its own fsync returned;
   no id is sent before the sync of new/ that covers its link returned.
   Events and warnings go to the log callback as lines of text.  A module:
   0/-1 with errno, never exits or prints. */
#include <poll.h>
#include <stddef.h>
#include <time.h>
#include "injectsync.h"

#define INJECTD_RBUF (64 * 1024)      /* read size per client */
#define INJECTD_IDLE 3600             /* seconds a client may stay silent */

struct injectd_conn;

struct injectd {
  int dirfd, newfd;                   /* spool/ (the caller's), spool/new/ */
  const char *spooldir, *host;        /* for the trigger; for Message-ID */
  unsigned long long max;             /* raw bytes of a message at most */
  size_t nconn, maxconn;
  struct injectd_conn *conns;
  struct injectsync sync;
  struct injectsync_done *done;
  unsigned long long serial;          /* fsync tags: 0 is the sync of new/ */
  unsigned long rounds;               /* rounds that started fsyncs */
  int dir_busy;                       /* a sync of new/ is in flight */
  void (*log)(void *arg, const char *line);
  void *arg;
};

/* Ready to serve up to maxconn clients on the spool at dirfd (its path
   spooldir).  log(arg, line) gets one line per event, without the
   program's name.  0, or -1 (ENOMEM, or open of new/). */
int injectd_init(struct injectd *d, int dirfd, const char *spooldir, const char *host,
                 unsigned long long max, size_t maxconn,
                 void (*log)(void *arg, const char *line), void *arg);
/* 1 if fsyncs run in flight together (Linux AIO), 0 if one after the other. */
int injectd_is_parallel(const struct injectd *d);
/* A new client on fd (connected; made non-blocking here).  When the
   server is full it is told "111 too many clients" and closed. */
void injectd_add(struct injectd *d, int fd);
int injectd_is_full(const struct injectd *d);
/* What to poll: at most maxconn + 1 entries into p; their number.  *ms:
   the poll time limit. */
size_t injectd_pollfds(struct injectd *d, struct pollfd *p, int *ms);
/* After poll: p[0..n) as filled by injectd_pollfds (n of them) with their
   revents; now: time(0). */
void injectd_run(struct injectd *d, const struct pollfd *p, size_t n, time_t now);
/* Stop: every client is told "111 server stopping" and closed; whatever
   was not committed is taken back. */
void injectd_stop(struct injectd *d);
#endif

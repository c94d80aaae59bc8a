#ifndef DQPOOL_H
#define DQPOOL_H
/* dqpool.h: deliver's running workers, one per outgoing connection
   (doc/programs/deliver.md): how many go to a destination, from which
   sending IP a new one binds, when the last one to a destination ended
   (delivery speed intervals), and which to ask to stop after its current
   transaction (SIGUSR1) to make room for mail of higher priority, for a
   prohibited time window that began, or for new settings.  deliver forks
   and reaps the workers; this module keeps their table.  Events go to
   p->log; nothing here exits. */
#include <stddef.h>
#include <sys/types.h>
#include "buf.h"
#include "dqsched.h"
#include "dqwork.h"
#include "dsetrun.h"

#define DQPOOL_LASTEND_MAX 256       /* destinations whose last end is remembered */

struct dqpool_worker {
  pid_t pid;
  int fd;                            /* result pipe, -1 after EOF */
  int reaped;
  char *key;                         /* destination */
  int yielded;                       /* asked (SIGUSR1) to stop after its transaction */
  struct dqwork_job job;
  struct buf in;
};

struct dqpool {
  struct dqpool_worker **w;          /* the running workers, n of at most max */
  size_t n, max;
  const struct dsetrun *ds;          /* delivery settings: windows, sending IPs */
  void (*log)(const char *line);
  struct {                           /* when a destination's last connection ended */
    char key[512];
    long long ms;                    /* monotonic ms, 0: free */
  } lastend[DQPOOL_LASTEND_MAX];
};

/* Room for max workers.  0 or -1 ENOMEM. */
int dqpool_init(struct dqpool *p, size_t max);
void dqpool_free(struct dqpool *p);
/* The number of workers sending to destination key. */
size_t dqpool_active(const struct dqpool *p, const char *key);
/* Milliseconds from now_ms (monotonic) until a new connection to key may
   start: interval after the last one to it ended (per-connection pacing
   covers the rest). */
long long dqpool_interval_left(const struct dqpool *p, const char *key, unsigned interval,
                               long long now_ms);
/* A connection to key ended at now_ms. */
void dqpool_lastend_note(struct dqpool *p, const char *key, long long now_ms);
/* The sending IP of a new connection of group gr into sj: of the IPs the
   destination may use (lib/dsetrun.h), the one with the fewest
   connections to it now. */
void dqpool_sending_ip(const struct dqpool *p, const struct dqsched_group *gr,
                       struct dqsched_job *sj);
/* Ask w to stop after its current transaction (SIGUSR1): what it has not
   tried stays pending, no attempt counted.  Once per worker. */
void dqpool_yield(struct dqpool *p, struct dqpool_worker *w, const char *why);
/* Ask each worker one of whose recipients without a result yet is now
   held by a prohibited time window (now: real clock) to stop. */
void dqpool_windows(struct dqpool *p, long long now);
/* Priority: mail of gr waits while every connection to its destination
   is busy; a connection whose mail is all of lower priority is asked to
   stop, so that the next plan sends the waiting mail first.  One at a
   time. */
void dqpool_make_room(struct dqpool *p, const struct dqsched_group *gr);
#endif

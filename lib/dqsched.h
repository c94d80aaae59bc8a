#ifndef DQSCHED_H
#define DQSCHED_H
/* dqsched.h: deliver's scheduler (doc/programs/deliver.md): the messages
   of queue/ in memory, oldest first;
   - plan/take: due recipients grouped by destination (tenant, composition,
     route or A-label domain) into worker jobs (lib/dqwork.h);
   - results: a worker's result lines become new recipient states and
     events, written in one transaction per batch; a message whose
     recipients are all final then leaves the spool (lib/dqdb.h).
   Functions return 0 or -1 with errno; -1 from one that writes db/ means
   the state in memory may be ahead of db/: the caller exits (a restart
   resumes from db/). */
#include <stddef.h>
#include "buf.h"
#include "dq.h"
#include "dqprep.h"
#include "dqwork.h"
#include "tbl.h"

struct dsetrun;                      /* lib/dsetrun.h */

#define DQSCHED_PICKUP_BATCH 200     /* messages in one pickup transaction */
#define DQSCHED_JOB_MAXMSG 50        /* messages in one worker job (connection) */
#define DQSCHED_JOB_MINMSG 10        /* a job is not split below this to open more connections */
#define DQSCHED_BAD_MAX 10000        /* unreadable new/ files remembered */

struct dqsched {
  struct tbl *db;
  char spooldir[4096], dbdir[4096];
  struct dq_msg *head, *tail;        /* every message in queue/, oldest first */
  size_t nmsg;
  long long period, interval;        /* retry defaults (tenant settings win) */
  char **bad;                        /* new/ ids that could not be read */
  size_t nbad;
  const struct dqprep_env *prep_env; /* for the workers' settings (lib/dqprep.h) */
  struct dsetrun *dset;              /* delivery settings (lib/dsetrun.h); 0: none */
  /* The unsubscribe filter whose list applies to recipient idx of m (at
     pickup), or 0: only entries for all mail apply.  May be 0. */
  const char *(*unsub_filter)(struct dqsched *q, const struct dq_msg *m, size_t idx);
  /* One line per event / warning; the caller prints them. */
  void (*log)(const char *line);
  void (*warn)(const char *what, const char *arg, int err);
};

struct dqsched_group {
  char *key, *dest;
  int is_route;
  struct dqprep_conf *prep;          /* settings of the group's tenant/composition */
  unsigned maxconn, interval, nips;  /* delivery speed (maxconn 0: deliver's default) */
  unsigned char prio;                /* the highest priority of its items */
  size_t jobmax;                     /* items of the next job taken; 0: DQSCHED_JOB_MAXMSG */
  struct dqwork_item *item;          /* by priority, highest first, then oldest first */
  size_t nitem, cap, taken;
};
struct dqsched_plan {
  struct dqsched_group *group;
  size_t ngroup, cap;
  void *index;                       /* key -> group */
};
struct dqsched_job {
  char *key;                         /* destination key, malloc'd */
  struct dqwork_job job;             /* dest and items malloc'd */
};

struct dqsched_upd;
struct dqsched_batch {
  struct dqsched_upd *u;
  size_t n, cap;
};

/* Opening, pickup and resume: lib/dqdb.h. */

/* Group the recipients due at now; *next gets the earliest later due time
   (0 if none).  Recipients whose domain has no A-label form fail here
   (status 9).  0 or -1. */
int dqsched_plan(struct dqsched *q, long long now, struct dqsched_plan *p, long long *next);
/* Move up to DQSCHED_JOB_MAXMSG items of group g into j, marking their
   recipients busy.  1 done, 0 nothing left, -1 ENOMEM. */
int dqsched_take(struct dqsched_plan *p, size_t g, struct dqsched_job *j);
void dqsched_plan_free(struct dqsched_plan *p);
/* A job that never ran: its recipients are free again. */
void dqsched_job_free(struct dqsched *q, struct dqsched_job *j);
/* A worker has finished: recipients of job still busy are deferred with
   why, or, with why 0 (shutdown), left pending as they were.  Frees the
   job's items.  0 or -1. */
int dqsched_job_done(struct dqsched *q, struct dqwork_job *job, const char *why);

void dqsched_batch_init(struct dqsched_batch *b);
/* Apply one result line of a worker running job.  0, or -1 EINVAL when it
   names no busy recipient of that job. */
int dqsched_result(struct dqsched *q, struct dqsched_batch *b,
                   const struct dqwork_job *job, const struct dq_result *r);
/* Write the batch's events and rows in one transaction, then remove the
   messages that became final.  Frees the batch.  0 or -1. */
int dqsched_batch_commit(struct dqsched *q, struct dqsched_batch *b);
#endif

#ifndef DSETRUN_H
#define DSETRUN_H
/* dsetrun.h: deliver's compiled copy of the delivery settings (lib/dset.h
   and the scalar settings of table "setting"), loaded by the parent before
   it forks workers and reloaded when the settings generation changes; and
   what deliver asks of it:
   - at pickup: forwarding (copies as extra recipients, or the recipient
     rewritten), before the "queued" events are recorded;
   - per message and recipient (dsetrun_classify, stamped with the serial
     of the load): priority, speed filter, window filter, unsubscribe filter;
   - at planning: whether a recipient is held by a prohibited time window
     and until when, the speed limits and sending IPs of a destination;
   - in the worker (a copy of the parent's memory): step 1 of lib/dqprep.h,
     the header changes (Received removal, List-Unsubscribe).
   Local time: the tenant's setting "timezone" (default Asia/Tokyo), through
   a function deliver's main gives (the library reads no environment); the
   offset is taken once a minute, so a DST change shows within a minute.
   Functions return 0 or -1 with errno; they never print or exit. */
#include <stddef.h>
#include "buf.h"
#include "dq.h"
#include "dset.h"
#include "filter.h"
#include "tbl.h"
#include "verp.h"

enum dsetrun_received { DSETRUN_RCVD_ABBREVIATED, DSETRUN_RCVD_NORMAL, DSETRUN_RCVD_NONE,
                        DSETRUN_RCVD_DELETE_ALL };

struct dsetrun_filter {
  struct dset_filter def;
  struct filter *f, *x;              /* conditions, exclusions; f 0: never matches */
  struct dset_window merged[2 * DSET_WINDOWS_MAX];   /* windows: sorted, merged, within a day */
  size_t nmerged;
};

struct dsetrun_part {                /* one tenant's composition */
  char *tenant, *comp;
  struct dsetrun_filter *fl[DSET_NKIND];
  size_t nfl[DSET_NKIND];
  struct dset_speed dflt;
  char **ip;                         /* sending IPs */
  size_t nip;
  char *tz;                          /* IANA name */
  long gmtoff;                       /* seconds east of UTC at the last tick */
  int received;                      /* enum dsetrun_received */
  char *unsub_url, *unsub_mailto;    /* 0: defaults */
};

/* Seconds east of UTC of time zone tz at time t; 0 and -1 if unknown. */
typedef int dsetrun_tz_fn(const char *tz, long long t, long *off);

struct dsetrun {
  unsigned long long gen;            /* generation loaded */
  unsigned serial;                   /* loads so far (classification stamp), from 1 */
  struct dsetrun_part *p;
  size_t np;
  long long clock_offset;            /* added to the clock for windows (tests) */
  long long tick_minute;             /* minute of the last tick */
  dsetrun_tz_fn *tz;                 /* 0: every zone is UTC */
  struct verp_key key;               /* unsubscribe secret; n 0: no List-Unsubscribe */
  const char *hostname;              /* default unsubscribe URL host */
  void (*log)(const char *line);     /* forwarding lines; may be 0 */
};

void dsetrun_init(struct dsetrun *r);
void dsetrun_free(struct dsetrun *r);
/* Load when the generation in db/ differs from r->gen (always, the first
   time).  1 loaded, 0 unchanged, -1 (the old copy stays). */
int dsetrun_refresh(struct dsetrun *r, struct tbl *t);
const struct dsetrun_part *dsetrun_part(const struct dsetrun *r, const char *tenant,
                                        const char *comp);

/* Forwarding of message m (header in msg[0..len)), once, at pickup: a copy
   adds the forwarding address as a recipient (unless it is one already),
   a rewrite replaces the recipient.  Forwarded recipients are not
   forwarded again.  1 changed, 0 not, -1 ENOMEM. */
int dsetrun_forward(const struct dsetrun *r, struct dq_msg *m, const char *msg, size_t len);
/* Set every recipient's prio, speed, hold and unsub, and m->dsgen.  msg 0:
   the header could not be read (header filters then match nothing).  0 or
   -1 ENOMEM. */
int dsetrun_classify(const struct dsetrun *r, struct dq_msg *m, const char *msg, size_t len);
/* The same, reading the header from the spool file at path (at most
   DSETRUN_HEADER_MAX bytes of it); a file that cannot be read classifies
   as if it had no header.  0 or -1 ENOMEM. */
#define DSETRUN_HEADER_MAX (256 * 1024)
int dsetrun_classify_file(const struct dsetrun *r, struct dq_msg *m, const char *path);
/* The name of recipient idx's unsubscribe filter, or 0 (none, or not
   classified under r). */
const char *dsetrun_unsub_name(const struct dsetrun *r, const struct dq_msg *m, size_t idx);
/* Take the time zone offsets again if the minute changed. */
void dsetrun_tick(struct dsetrun *r, long long now);
/* 0 if recipient idx may go now, else the time (real clock) its window ends. */
long long dsetrun_hold(const struct dsetrun *r, const struct dq_msg *m, size_t idx, long long now);
/* Seconds of window time of recipient idx's window filter between from and
   to: time that does not count against the retry period. */
long long dsetrun_held(const struct dsetrun *r, const struct dq_msg *m, size_t idx,
                       long long from, long long to);
/* The speed limits of recipient idx (its filter, else the composition's
   default, else maxconn defconn, no interval, every IP). */
void dsetrun_speed(const struct dsetrun *r, const struct dq_msg *m, size_t idx,
                   unsigned defconn, struct dset_speed *out);
/* The sending IPs destination dest of m's composition uses: nips of the
   pool (0: all), the same ones for the same destination.  Pointers into
   r, at most max, in *ips; their number (0: no pool, bind nothing). */
size_t dsetrun_ips(const struct dsetrun *r, const struct dq_msg *m, unsigned nips,
                   const char *dest, const char **ips, size_t max);

/* Step 1 of lib/dqprep.h for recipient idx of m: remove every Received
   field (setting received=delete-all); add List-Unsubscribe and
   List-Unsubscribe-Post (unsubscribe filter), replacing fields of those
   names.  bounce_domain gives the default mailto (unsubscribe@DOMAIN).
   msg[0..len) is the message as it is now.  1 with the new message in out,
   0 nothing to change, -1 ENOMEM. */
int dsetrun_rewrite(const struct dsetrun *r, const struct dq_msg *m, size_t idx,
                    const char *bounce_domain, const char *msg, size_t len, struct buf *out);
int dsetrun_received(const char *s);            /* setting value -> enum, -1 */
#endif

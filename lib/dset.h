#ifndef DSET_H
#define DSET_H
/* dset.h: the delivery settings of a tenant's composition that are lists
   (doc/settings.md): filter lists in order -- delivery speed, priority,
   prohibited time windows, forwarding, one-click unsubscribe -- the default
   delivery speed and the pool of sending IPs, in table "dset"; the checks
   every writer (cmcctl, later the console and the API) runs before saving;
   and the settings generation, a counter every change of a delivery
   setting increments so that deliver reloads without a restart.

   Table "dset" (fields NUL-separated):
     \0 "generation"                   -> decimal counter
     TENANT COMP "f" KIND NNNN         -> filter record (NNNN: position, 0001..)
     TENANT COMP "d"                   -> default speed record
     TENANT COMP "i" ADDRESS           -> "" (a sending IP)
   A record is a list of "key=value" NUL-terminated items (dset.c).
   Scalar settings (timezone, received, retry_period, ...) stay in table
   "setting" (lib/tenant.h); dset_value_ok checks them.
   Functions return 0 or -1 with errno (EINVAL with the reason in err,
   ENOENT unknown tenant, EDEADLK/EAGAIN as tbl.h); never print or exit. */
#include <stddef.h>
#include "buf.h"
#include "filter.h"
#include "tbl.h"

#define DSET_TABLE "dset"
enum dset_kind { DSET_SPEED, DSET_PRIO, DSET_WINDOW, DSET_FORWARD, DSET_UNSUB, DSET_NKIND };

#define DSET_FILTERS_MAX 200         /* filters in one list */
#define DSET_WINDOWS_MAX 8           /* time windows in one filter */
#define DSET_IPS_MAX 64              /* sending IPs of a composition */
#define DSET_MAXCONN_MIN 1           /* connections per destination */
#define DSET_MAXCONN_MAX 100
#define DSET_INTERVAL_MAX 10000      /* ms between messages; 0 none, else >= 10 */
#define DSET_INTERVAL_MIN 10
#define DSET_PRIO_DEFAULT 50
#define DSET_UNSUB_PATTERN_MAX 100   /* console spec 2: unsubscribe pattern */
#define DSET_ADDR_MAX 254            /* forwarding address, unsubscribe mailto */
#define DSET_URL_MAX 1000            /* unsubscribe URL */
#define DSET_RETRY_PERIOD_MIN 60
#define DSET_RETRY_PERIOD_MAX (120 * 3600)
#define DSET_RETRY_INTERVAL_MIN 1
#define DSET_RETRY_INTERVAL_MAX 3600

struct dset_window {
  unsigned from, to;                 /* minutes after midnight; from inclusive, to exclusive */
};

struct dset_filter {
  char *name;
  size_t ncond, nxcond;              /* conditions, OR-ed; exclusions (windows only) */
  char *header[FILTER_COND_MAX], *pattern[FILTER_COND_MAX];
  char *xheader[FILTER_COND_MAX], *xpattern[FILTER_COND_MAX];
  unsigned maxconn, interval, nips;  /* speed (nips 0: every IP of the pool) */
  unsigned prio;                     /* priority 1..99 */
  size_t nwin;                       /* windows */
  struct dset_window win[DSET_WINDOWS_MAX];
  char *addr;                        /* forwarding address */
  int rewrite;                       /* forward: 1 rewrite the recipient, 0 send a copy */
};

struct dset_speed {                  /* the default for destinations no filter takes */
  unsigned maxconn, interval, nips;  /* maxconn 0: deliver's CMC_DELIVER_MAXCONN */
};

const char *dset_kind_name(enum dset_kind k);       /* "speed", "priority", ... */
int dset_kind_parse(const char *s);                  /* -1 if unknown */

void dset_filter_init(struct dset_filter *f);
void dset_filter_free(struct dset_filter *f);
/* 0 if f is a valid filter of kind k; -1 EINVAL with the reason in err
   (every pattern is compiled here: a bad one is refused with PCRE2's
   message and offset). */
int dset_filter_check(enum dset_kind k, const struct dset_filter *f, struct buf *err);
/* Fill f from command words (doc/programs/cmcctl.md):
     NAME [-h HEADER] [-p PATTERN]... [-x HEADER] [-X PATTERN]...
     speed: -m MAXCONN [-i MS] [-n NIPS]    priority: -P PRIORITY
     window: -w HH:MM-HH:MM ...             forward: -a ADDRESS [-M copy|rewrite]
   -p adds a condition on the last -h (speed: always the recipient, "To").
   0, or -1 EINVAL with the reason in err.  Not checked: dset_filter_check. */
int dset_filter_args(enum dset_kind k, int argc, char **argv, struct dset_filter *f,
                     struct buf *err);
/* The same words back (values with spaces are not quoted), appended. */
int dset_filter_format(enum dset_kind k, const struct dset_filter *f, struct buf *out);
int dset_filter_encode(const struct dset_filter *f, struct buf *out);
int dset_filter_decode(struct dset_filter *f, const char *p, size_t n);  /* EINVAL, ENOMEM */
/* "HH:MM-HH:MM" -> w; 0 or -1 EINVAL (from == to is refused). */
int dset_window_parse(const char *s, struct dset_window *w);

/* --- the table --- */
/* Save f (checked first) into the list of kind k: a filter of the same
   name is replaced where it stands, a new one goes at the end.  0 or -1. */
int dset_filter_put(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                    const struct dset_filter *f, struct buf *err);
/* 0 deleted, 1 no such filter, -1. */
int dset_filter_del(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                    const char *name);
/* Move filter name to position pos (1 = first; past the end = last).
   0, 1 no such filter, -1. */
int dset_filter_move(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                     const char *name, size_t pos);
/* fn for each filter of kind k of tenant (comp 0: every composition), in
   order; pos counts from 1 in each composition.  fn non-zero stops. */
typedef int dset_filter_fn(void *ctx, const char *comp, size_t pos, const struct dset_filter *f);
int dset_filter_list(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                     dset_filter_fn *fn, void *ctx);

int dset_speed_check(const struct dset_speed *s, struct buf *err);
int dset_speed_set(struct tbl *t, const char *tenant, const char *comp,
                   const struct dset_speed *s, struct buf *err);
int dset_speed_unset(struct tbl *t, const char *tenant, const char *comp);  /* 1 if unset */
/* 0 found, 1 unset (s zeroed), -1. */
int dset_speed_get(struct tbl *t, const char *tenant, const char *comp, struct dset_speed *s);

/* Sending IPs: IPv4 or IPv6 addresses in text form (stored canonical). */
int dset_ip_add(struct tbl *t, const char *tenant, const char *comp, const char *ip,
                struct buf *err);                    /* 1 if it was there */
int dset_ip_del(struct tbl *t, const char *tenant, const char *comp, const char *ip); /* 1 absent */
typedef int dset_ip_fn(void *ctx, const char *comp, const char *ip);
int dset_ip_list(struct tbl *t, const char *tenant, const char *comp, dset_ip_fn *fn, void *ctx);

/* The generation: dset_touch increments it (for writers of table
   "setting" and "route", whose changes deliver must see too). */
int dset_touch(struct tbl *t);
int dset_generation(struct tbl *t, unsigned long long *gen);   /* 0 when never set */

/* Scalar settings of table "setting" that have rules: timezone (an IANA
   name with a file under zoneinfo), received (abbreviated, normal, none,
   delete-all), retry_period and retry_interval (seconds, see the limits
   above), unsubscribe_url (https://...), unsubscribe_mailto (an address).
   1 if key=value may be saved (other keys: always), 0 with the reason. */
int dset_value_ok(const char *key, const char *value, struct buf *err);
/* A record's fields, for lib/dset*.c: "k=v" and a NUL appended to out.
   0 or -1 (ENOMEM). */
int dset_item(struct buf *out, const char *k, const char *v);
int dset_itemu(struct buf *out, const char *k, unsigned v);
#define DSET_ZONEINFO "/usr/share/zoneinfo"
#define DSET_TIMEZONE_DEFAULT "Asia/Tokyo"
#endif

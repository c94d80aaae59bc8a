#ifndef SUPPRESS_H
#define SUPPRESS_H
/* suppress.h: the two lists that stop mail before it is sent, per tenant
   and server composition (doc/tables.md):
   - the suppression list ("配信停止", Delivery Blocking; api.md 5.3):
     addresses that failed with one of the tenant's suppress_statuses (default
     2, user unknown), added by deliver, or by an operator; mail to them is
     recorded as failed with status 10 and never sent.  A released entry
     stays in the table, marked removed (the API lists those on request);
   - the unsubscribe list (api.md 5.4): addresses that unsubscribed, per
     unsubscribe filter name ("" for all mail of the composition); mail to
     them gets status 11.
   Addresses are given in internal form (lib/addr.h) and compared without
   regard to case (their addr_key is the table key).
   Tables (fields \0-separated, dull):
     suppress  TENANT COMP ADDRKEY         -> "1" STATUS OCCURRED CREATED REMOVED ID ADDRESS
     unsub     TENANT COMP ADDRKEY FILTER  -> "1" CREATED ADDRESS
   CREATED and REMOVED are unix seconds (REMOVED 0: listed); OCCURRED counts
   the failures that added the address.  x may be 0 (a transaction of its
   own).  Functions return as said, -1 with errno (EINVAL bad name or
   address, else as tbl.h); they never print or exit. */
#include <stddef.h>
#include "buf.h"
#include "tbl.h"

#define SUPPRESS_FILTER_MAX 200      /* bytes of an unsubscribe filter name */
#define SUPPRESS_ID_LEN 13

struct suppress_rec {
  const char *tenant, *comp;
  const char *addr;                  /* as first recorded */
  int status;                        /* error status that added it (10 when by hand) */
  unsigned long occurred;
  long long created, removed;        /* removed 0: on the list */
  const char *id;                    /* opaque, stable per address */
};

/* Add addr (or count one more occurrence; a removed entry comes back with
   created = now).  0 added, 1 was listed already, -1. */
int suppress_add(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                 const char *addr, int status, long long now);
/* Release addr (marked removed at now).  0 released, 1 not listed, -1. */
int suppress_del(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                 const char *addr, long long now);
/* 1 if addr is listed (not removed), 0 if not, -1. */
int suppress_check(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                   const char *addr);
/* Walk the entries of tenant/comp (comp 0: every composition) whose
   address contains sub (0 or "": all; case ignored), listed ones, or with
   removed only the removed ones.  fn non-zero stops (as tbl_walk). */
typedef int suppress_fn(void *ctx, const struct suppress_rec *r);
int suppress_list(struct tbl *t, const char *tenant, const char *comp, const char *sub,
                  int removed, suppress_fn *fn, void *ctx);

/* Should an address that failed with status err be added automatically?
   setting_auto: the tenant setting suppress_auto (0: unset = on);
   setting_statuses: suppress_statuses, e.g. "2" or "1,2,9" (0: unset =
   "2").  1 yes, 0 no. */
int suppress_wanted(const char *setting_auto, const char *setting_statuses, int err);
/* Is value acceptable for the setting key (suppress_auto: on|off;
   suppress_statuses: error statuses 1..99 separated by commas)?  1 yes (or
   not a setting of this module), 0 no with the reason in err. */
int suppress_setting_ok(const char *key, const char *value, struct buf *err);

struct suppress_unsub {
  const char *tenant, *comp, *addr, *filter;
  long long created;
};
/* filter: the unsubscribe filter's name, "" for all mail.  0 added, 1 was there, -1. */
int suppress_unsub_add(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                       const char *addr, const char *filter, long long now);
/* filter 0: every entry of addr.  0 removed (some), 1 none, -1. */
int suppress_unsub_del(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                       const char *addr, const char *filter);
/* 1 if addr unsubscribed from all mail ("") or from filter (0: no
   filter applies to this mail), 0 if not, -1. */
int suppress_unsub_check(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                         const char *addr, const char *filter);
typedef int suppress_unsub_fn(void *ctx, const struct suppress_unsub *u);
/* As suppress_list; filter 0: every filter, else that one only. */
int suppress_unsub_list(struct tbl *t, const char *tenant, const char *comp, const char *sub,
                        const char *filter, suppress_unsub_fn *fn, void *ctx);
#endif

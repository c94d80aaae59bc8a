#ifndef TBL_H
#define TBL_H
/* tbl.h: the Berkeley DB environment under $CMC_HOME/db and its tables.
   The only module that includes <db.h>.  One transactional environment
   (locking, logging, recovery) shared by every process; tables are btrees
   named by a short string and opened on first use.

   Errors: -1 with errno: EDEADLK for a deadlock or lock timeout (abort the
   transaction and retry it), EAGAIN when the environment needs recovery
   (close and open again), others as the system gave them. */
#include <stddef.h>
#include "buf.h"

struct tbl;                      /* an open environment */
struct tbl_txn;

#define TBL_RECOVER 1            /* run recovery now (the s6 oneshot, make run, tests) */

int tbl_open(struct tbl **t, const char *dbdir, int flags);
void tbl_close(struct tbl *t);
int tbl_checkpoint(struct tbl *t);          /* checkpoint and remove old logs */
/* Write dirty cache pages until pct percent of the cache is clean, so that
   readers find clean pages to evict instead of writing writers' pages
   themselves; *wrote (may be 0) the pages written.  0 or -1. */
int tbl_trickle(struct tbl *t, int pct, int *wrote);
/* Berkeley DB's last message for t ("" if none), for diagnostics. */
const char *tbl_lasterror(const struct tbl *t);
/* A number no other process with the environment open gets from its own
   handle: pid in the high 32 bits, a counter of this handle below. */
unsigned long long tbl_uniq(struct tbl *t);
/* A thread watches every call into Berkeley DB: one that lasts longer
   than this (default 60 s), or that waits in regions recovery has
   replaced, ends the process with 111 (see doc/tables.md).  0: default. */
void tbl_set_stuck(struct tbl *t, unsigned seconds);

int tbl_begin(struct tbl *t, struct tbl_txn **x);
int tbl_commit(struct tbl_txn *x);          /* durable (log fsynced) on 0 */
/* Committed (atomic, visible, recovered in order) but not yet durable: the
   log reaches the disk with a later durable commit or a checkpoint.  For
   work that is redone if a crash loses it (purges). */
int tbl_commit_lazy(struct tbl_txn *x);
void tbl_abort(struct tbl_txn *x);

/* x may be 0: the operation is then its own transaction.
   tbl_get: 0 found (value in v, replacing its content), 1 absent, -1 error. */
int tbl_get(struct tbl *t, struct tbl_txn *x, const char *table,
            const void *k, size_t kn, struct buf *v);
/* tbl_get_rmw: tbl_get taking the write lock at once (read for update),
   so that two writers updating one row queue instead of deadlocking on
   the lock upgrade.  Meant for x != 0. */
int tbl_get_rmw(struct tbl *t, struct tbl_txn *x, const char *table,
                const void *k, size_t kn, struct buf *v);
int tbl_put(struct tbl *t, struct tbl_txn *x, const char *table,
            const void *k, size_t kn, const void *v, size_t vn);
/* tbl_add: like put, but 1 (nothing written) if the key exists. */
int tbl_add(struct tbl *t, struct tbl_txn *x, const char *table,
            const void *k, size_t kn, const void *v, size_t vn);
int tbl_del(struct tbl *t, struct tbl_txn *x, const char *table,
            const void *k, size_t kn);           /* 0 deleted, 1 absent */

/* Walk keys >= from (from may be 0: the first key), in key order, while
   fn returns 0.  fn returning > 0 stops the walk with that value returned;
   < 0 stops it with -1.  n limits the keys visited (0: no limit).
   With reverse, walks keys <= from downward (from 0: the last key). */
typedef int tbl_fn(void *ctx, const void *k, size_t kn, const void *v, size_t vn);
int tbl_walk(struct tbl *t, struct tbl_txn *x, const char *table,
             const void *from, size_t fromn, int reverse, tbl_fn *fn, void *ctx);
#endif

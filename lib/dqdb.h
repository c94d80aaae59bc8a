#ifndef DQDB_H
#define DQDB_H
/* dqdb.h: deliver's queue on disk -- the spool's new/ and queue/ and the
   table "queue" of db/ (record: dq.h) -- and the transaction discipline
   (lib/dqdb.c).  Commit points:
   - pickup: the "queued" events and the row of new/ID commit in one
     transaction (several messages per transaction), then new/ID is renamed
     to queue/ID; a crash between leaves a row for a file still in new/,
     and the next pickup only renames it (no second "queued" event);
   - results (lib/dqsched_result.c): events and rows commit first; a message whose
     recipients are all final is then unlinked from queue/, and its row is
     deleted once the unlink is durable; resume finishes either step.
   Transactions are retried on EDEADLK; on EAGAIN (recovery needed) the
   environment is closed and opened again first. */
#include <stddef.h>
#include "dq.h"
#include "dqsched.h"
#include "event.h"
#include "tbl.h"

#define DQDB_TABLE "queue"
#define DQDB_SUPPRESSED_TEXT "not sent: the address is on the suppression list"
#define DQDB_UNSUBSCRIBED_TEXT "not sent: the address is on the unsubscribe list"
#define DQDB_TXN_TRIES 50

/* --- for deliver --- */
int dqdb_open(struct dqsched *q, const char *spooldir, const char *dbdir);
void dqdb_close(struct dqsched *q);
/* At start: rows and files of queue/ back into memory; final leftovers
   removed; files without a row taken anew.  0 or -1. */
int dqdb_resume(struct dqsched *q);
/* Take everything in new/.  The number of messages taken, or -1. */
long dqdb_pickup(struct dqsched *q);

/* --- for lib/dqsched*.c --- */
typedef int dqdb_fn(struct dqsched *q, struct tbl_txn *x, void *ctx);
/* Run fn inside a transaction until it commits (fn may run several times:
   it only writes, from what it is given).  0 or -1. */
int dqdb_txn(struct dqsched *q, dqdb_fn *fn, void *ctx);
/* q->db usable for a read outside a transaction: 0, or -1 (reopen failed). */
int dqdb_ready(struct dqsched *q);
/* After a failed read: reopen when errno says recovery is needed. */
void dqdb_read_failed(struct dqsched *q);
int dqdb_path(char *out, size_t n, const struct dqsched *q, const char *sub, const char *id);
int dqdb_sync(const struct dqsched *q, const char *sub);   /* fsync spooldir/sub */
void dqdb_list_add(struct dqsched *q, struct dq_msg *m);
void dqdb_list_del(struct dqsched *q, struct dq_msg *m);
/* e filled with what every event of recipient idx of m carries. */
void dqdb_event(struct event *e, const struct dq_msg *m, size_t idx);
int dqdb_put(struct dqsched *q, struct tbl_txn *x, const struct dq_msg *m);

struct dqdb_keys {                   /* a list of row keys (spool ids) */
  char **k;
  size_t n, cap;
};
int dqdb_keys_add(struct dqdb_keys *l, const char *k, size_t n);
void dqdb_keys_free(struct dqdb_keys *l);
/* Delete the rows of l in one transaction.  0 or -1. */
int dqdb_del(struct dqsched *q, struct dqdb_keys *l);
#endif

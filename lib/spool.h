#ifndef SPOOL_H
#define SPOOL_H
/* spool.h: the mail spool under $CMC_HOME/spool (doc/spool.md).

     tmp/ID     being written by queue-inject; swept when older than 36 h
     new/ID     durable, complete; deliver has not taken it yet
     queue/ID   deliver recorded its "queued" events; recipient state in db
     bounce/ID  mail the receiving server took ("O bounce"), moved here from
                new/ by deliver, read as a bounce, then removed (doc/bounces.md)
     unmatched/ID  such mail that matched no message: kept for the operator
     trigger    FIFO: queue-inject writes a byte after each commit

   A spool file is the envelope wire form of envelope.h (with the Q id and
   S accept-time fields) followed by the message, CRLF line ends, not
   dot-stuffed.  A state change is one rename() or link(); a file is only
   removed when every recipient has a final state in db/. */
#include <stddef.h>
#include "buf.h"
#include "envelope.h"

#define SPOOL_ID_MAX 40
#define SPOOL_TMP_MAXAGE (36 * 3600)   /* tmp/ leftovers older than this are swept */
#define SPOOL_WRITE_DEADLINE (24 * 3600) /* queue-inject's alarm() */

/* A fresh unique id: <hex usec time><hex pid><hex counter>, [0-9A-F] only. */
int spool_newid(char *id, size_t n);
int spool_id_ok(const char *id);                 /* 1 if id has the form above */
/* Create tmp/ new/ queue/ and the trigger FIFO under spooldir (mode 0700). */
int spool_init(const char *spooldir);
/* Nudge deliver: one byte to the FIFO, never blocking; no reader is fine. */
int spool_trigger(const char *spooldir);
/* Remove files in tmp/ last changed more than SPOOL_TMP_MAXAGE seconds
   before now: leftovers of writers that died.  Number removed, or -1. */
int spool_sweep(const char *spooldir, long long now);
/* Read a spool file into b and parse its envelope into e; *msgoff is where
   the message starts in b.  0, or -1 (errno from open/read, EINVAL bad file). */
int spool_read(const char *path, struct buf *b, struct envelope *e, size_t *msgoff);
#endif

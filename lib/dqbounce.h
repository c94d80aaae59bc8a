#ifndef DQBOUNCE_H
#define DQBOUNCE_H
/* dqbounce.h: late bounces, as deliver's parent handles them
   (doc/bounces.md).  The receiving server (smtp-recv -m) takes mail for
   the bounce domains and queue-inject commits it like any other, marked
   "O bounce" in its envelope; deliver's pickup moves such files from new/
   to spool/bounce/ (dqbounce_take) and this module then reads them:

     for each envelope recipient (a VERP address, lib/verp.h):
       the message and recipient it names are found among the events of
       the message (the tenant in the envelope) by their MAC;
       the bounce is taken apart (lib/bounce.h) and classified
       (lib/classify.h);
       a "failed" event with that error status is recorded for the
       original recipient -- also after it "succeeded" -- and the address
       goes on the suppression list when the tenant's settings say so;
     mail to unsubscribe@BOUNCE-DOMAIN with a genuine token in its Subject
     (lib/dsetunsub.h) puts the recipient on the unsubscribe list;
     auto-replies, success notices and delay notices change nothing.

   The file is then removed -- or, when any recipient could not be matched
   (bad MAC, unknown or purged message, postmaster mail, not a bounce),
   moved whole to spool/unmatched/ for the operator to look at.  Events
   commit before the file goes: a crash in between means the file is read
   again, and a recipient whose last event is already "failed" is not
   recorded twice.  Functions return 0 (or a count) or -1 with errno. */
#include <stddef.h>
#include "classify.h"
#include "dqsched.h"
#include "verp.h"

#define DQBOUNCE_BATCH 50            /* files read in one call */

struct bounce;
struct dqbounce {
  struct dqsched *q;                 /* db, spool directory, log */
  const struct classify *cls;
  const struct verp_key *verp;       /* the VERP secret */
  const struct verp_key *unsub;      /* the unsubscribe secret, or 0 */
  struct bounce *b;                  /* parser state, reused */
};

/* Create spool/bounce and spool/unmatched if missing.  0 or -1. */
int dqbounce_init(struct dqbounce *d, struct dqsched *q, const struct classify *cls,
                  const struct verp_key *verp, const struct verp_key *unsub);
void dqbounce_free(struct dqbounce *d);
/* Move new/ID (a file whose envelope says "O bounce") to bounce/ID.  0 or -1. */
int dqbounce_take(struct dqsched *q, const char *id);
/* Handle up to DQBOUNCE_BATCH files of spool/bounce/.  The number handled
   (more may wait when it is DQBOUNCE_BATCH), or -1 when the database could
   not be written (the files stay for the next call). */
long dqbounce_run(struct dqbounce *d);
#endif

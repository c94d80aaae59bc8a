#ifndef DQSCHED_RESULT_H
#define DQSCHED_RESULT_H
/* dqsched_result.h: the scheduler's internal entry into its results, for
   lib/dqsched*.c only (everyone else goes through dqsched.h). */
#include <stddef.h>
#include "dq.h"
#include "dqsched.h"

/* The state change of recipient idx of m by a result of kind (DQ_SUCCEEDED,
   DQ_FAILED, DQ_DEFERRED) with error status err, made in memory; its event
   (and suppression entry) queued in b for dqsched_batch_commit.  0 or -1
   (ENOMEM). */
int dqsched_apply(struct dqsched *q, struct dqsched_batch *b, struct dq_msg *m,
                  size_t idx, int kind, int err, const char *reply,
                  const char *remote, const char *local_ip);
#endif

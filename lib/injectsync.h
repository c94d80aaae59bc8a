#ifndef INJECTSYNC_H
#define INJECTSYNC_H
/* injectsync.h: fsyncs started now and finished later, for queue-inject's
   group commit.  One after the other, each fsync of a file waits for its
   own flush of the disk's cache; in flight together (Linux AIO,
   IOCB_CMD_FSYNC, run by the kernel's workers) their flushes are merged
   by the block layer, and the caller's poll() loop goes on meanwhile: a
   completion makes injectsync_fd() readable.  Where the kernel cannot (no
   AIO, or no AIO fsync for this file system) injectsync_start does the
   fsync at once and keeps its result for injectsync_reap: slower, the
   same guarantee, the same use.  A module: 0/-1 with errno, never exits
   or prints. */
#include <stddef.h>

struct injectsync_done {
  unsigned long long tag;            /* as given to injectsync_start */
  int err;                           /* 0, or the errno of the fsync */
};

struct injectsync {
  unsigned long ctx;                 /* aio_context_t; 0: at once */
  int efd;                           /* eventfd told of completions, or -1 */
  unsigned max;                      /* in flight at most */
  size_t inflight;                   /* started, not reaped */
  struct injectsync_done *done;      /* at once: results not yet reaped */
  size_t ndone;
};

/* Get ready for up to max fsyncs in flight.  0, or -1 (ENOMEM). */
int injectsync_init(struct injectsync *s, unsigned max);
void injectsync_free(struct injectsync *s);
/* 1 if fsyncs run in flight together (AIO), 0 if at once. */
int injectsync_is_parallel(const struct injectsync *s);
/* Start an fsync of fd (which may be closed afterwards: the kernel holds
   it); its result comes back from injectsync_reap with tag.  0, or -1
   when nothing was started (errno; then the caller syncs as it can). */
int injectsync_start(struct injectsync *s, int fd, unsigned long long tag);
/* Results ready now, at most max, without waiting.  Their number. */
size_t injectsync_reap(struct injectsync *s, struct injectsync_done *d, size_t max);
/* What to poll() for POLLIN while fsyncs are in flight (-1: none needed). */
int injectsync_fd(const struct injectsync *s);
/* 1 if injectsync_reap has results without waiting (poll with timeout 0). */
int injectsync_has_done(const struct injectsync *s);
#endif

#ifndef INJECTSYNC_H
#define INJECTSYNC_H
/* injectsync.h: fsync several files at once, for queue-inject's group
   commit.  One after the other, each fsync of a file waits for its own
   flush of the disk's cache; started together (Linux AIO, IOCB_CMD_FSYNC,
   run by the kernel's workers), their flushes are merged by the block
   layer, so a group costs about one flush instead of one per file.  Where
   the kernel cannot (no AIO, or no AIO fsync for this file system), the
   files are synced one after the other: slower, the same guarantee.
   A module: 0/-1 with errno, never exits or prints. */
#include <stddef.h>

struct injectsync {
  unsigned long ctx;                 /* aio_context_t; 0: one after the other */
  unsigned max;                      /* files at most in flight */
};

/* Get ready for up to max files in flight.  Always 0: without AIO the
   module falls back to plain fsync. */
int injectsync_init(struct injectsync *s, unsigned max);
void injectsync_free(struct injectsync *s);
/* fsync fds[0..n), waiting until every one is done; err[i] gets 0 or the
   errno of fds[i].  0 if all succeeded, else -1. */
int injectsync_files(struct injectsync *s, const int *fds, int *err, size_t n);
/* 1 if files are synced together (AIO), 0 if one after the other. */
int injectsync_is_parallel(const struct injectsync *s);
#endif

/* injectsync.c: fsync of many files at once through Linux AIO (the
   io_setup/io_submit/io_getevents system calls; no libaio needed), with
   plain fsync one after the other as the fall-back (injectsync.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/aio_abi.h>
#include "injectsync.h"

int injectsync_init(struct injectsync *s, unsigned max)
{
  aio_context_t ctx = 0;
  s->ctx = 0;
  s->max = max ? max : 1;
  if (syscall(SYS_io_setup, s->max, &ctx) == 0) s->ctx = (unsigned long)ctx;
  return 0;
}

void injectsync_free(struct injectsync *s)
{
  if (s->ctx) syscall(SYS_io_destroy, (aio_context_t)s->ctx);
  s->ctx = 0;
}

int injectsync_is_parallel(const struct injectsync *s) { return s->ctx != 0; }

static int one_by_one(const int *fds, int *err, size_t n)
{
  size_t i;
  int r = 0;
  for (i = 0; i < n; i++) {
    err[i] = fsync(fds[i]) == 0 ? 0 : errno;
    if (err[i]) r = -1;
  }
  return r;
}

int injectsync_files(struct injectsync *s, const int *fds, int *err, size_t n)
{
  struct iocb *cb = 0, **cbp = 0;
  struct io_event *ev = 0;
  size_t done = 0, i;
  int r = 0;
  if (!s->ctx || n == 1) return one_by_one(fds, err, n);
  if (!(cb = calloc(s->max, sizeof *cb)) || !(cbp = calloc(s->max, sizeof *cbp))
      || !(ev = calloc(s->max, sizeof *ev))) {
    free(cb);
    free(cbp);
    return one_by_one(fds, err, n);
  }
  while (done < n) {
    size_t k = n - done < s->max ? n - done : s->max, got = 0;
    long sub;
    for (i = 0; i < k; i++) {
      memset(&cb[i], 0, sizeof cb[i]);
      cb[i].aio_data = done + i;
      cb[i].aio_lio_opcode = IOCB_CMD_FSYNC;
      cb[i].aio_fildes = (uint32_t)fds[done + i];
      cbp[i] = &cb[i];
    }
    sub = syscall(SYS_io_submit, (aio_context_t)s->ctx, (long)k, cbp);
    if (sub <= 0) {
      /* EINVAL: no AIO fsync here (old kernel, file system): never again. */
      if (sub == -1 && errno == EINVAL) injectsync_free(s);
      if (one_by_one(fds + done, err + done, n - done) == -1) r = -1;
      break;
    }
    while (got < (size_t)sub) {
      long e = syscall(SYS_io_getevents, (aio_context_t)s->ctx, (long)((size_t)sub - got),
                       (long)((size_t)sub - got), ev, (struct timespec *)0);
      if (e == -1) {
        if (errno == EINTR) continue;
        /* Cannot learn the outcome: count them all as failed, and wait
           for what is in flight by dropping the context. */
        for (i = done; i < n; i++) err[i] = errno ? errno : EIO;
        injectsync_free(s);
        r = -1;
        goto out;
      }
      for (i = 0; i < (size_t)e; i++) {
        size_t at = (size_t)ev[i].data;
        err[at] = ev[i].res < 0 ? (int)-ev[i].res : 0;
        if (err[at]) r = -1;
      }
      got += (size_t)e;
    }
    done += (size_t)sub;
  }
out:
  free(cb);
  free(cbp);
  free(ev);
  return r;
}

/* injectsync.c: fsyncs in flight through Linux AIO (the io_setup,
   io_submit and io_getevents system calls; no libaio needed), completions
   told through an eventfd; plain fsync at once as the fall-back
   (injectsync.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <linux/aio_abi.h>
#include "injectsync.h"

int injectsync_init(struct injectsync *s, unsigned max)
{
  aio_context_t ctx = 0;
  memset(s, 0, sizeof *s);
  s->efd = -1;
  s->max = max ? max : 1;
  if (!(s->done = calloc(s->max, sizeof *s->done))) return -1;
  s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->efd != -1 && syscall(SYS_io_setup, s->max, &ctx) == 0) s->ctx = (unsigned long)ctx;
  return 0;
}

void injectsync_free(struct injectsync *s)
{
  /* io_destroy waits for what is in flight. */
  if (s->ctx) syscall(SYS_io_destroy, (aio_context_t)s->ctx);
  if (s->efd != -1) close(s->efd);
  free(s->done);
  s->ctx = 0;
  s->efd = -1;
  s->done = 0;
}

int injectsync_is_parallel(const struct injectsync *s) { return s->ctx != 0; }
int injectsync_fd(const struct injectsync *s) { return s->ctx && s->inflight ? s->efd : -1; }
int injectsync_has_done(const struct injectsync *s) { return s->ndone > 0; }

int injectsync_start(struct injectsync *s, int fd, unsigned long long tag)
{
  if (s->inflight + s->ndone >= s->max) return errno = EAGAIN, -1;
  if (s->ctx) {
    struct iocb cb, *cbp = &cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_data = tag;
    cb.aio_lio_opcode = IOCB_CMD_FSYNC;
    cb.aio_fildes = (uint32_t)fd;
    cb.aio_flags = IOCB_FLAG_RESFD;
    cb.aio_resfd = (uint32_t)s->efd;
    if (syscall(SYS_io_submit, (aio_context_t)s->ctx, 1L, &cbp) == 1) {
      s->inflight++;
      return 0;
    }
    /* EINVAL: no AIO fsync here (old kernel, file system).  Whatever is
       in flight still completes; new ones are done at once from now on. */
    if (errno != EINVAL || s->inflight) return -1;
    syscall(SYS_io_destroy, (aio_context_t)s->ctx);
    s->ctx = 0;
  }
  s->done[s->ndone].tag = tag;
  s->done[s->ndone].err = fsync(fd) == 0 ? 0 : errno;
  s->ndone++;
  return 0;
}

size_t injectsync_reap(struct injectsync *s, struct injectsync_done *d, size_t max)
{
  struct io_event ev[64];
  struct timespec zero = { 0, 0 };
  size_t n = 0, i;
  while (n < max && s->ndone) d[n++] = s->done[--s->ndone];
  if (s->ctx && s->inflight) {
    uint64_t count;
    if (read(s->efd, &count, sizeof count) == -1) { /* nothing new, or already counted */ }
    while (n < max && s->inflight) {
      long want = (long)(max - n < 64 ? max - n : 64);
      long got = syscall(SYS_io_getevents, (aio_context_t)s->ctx, 0L, want, ev, &zero);
      if (got <= 0) break;
      for (i = 0; i < (size_t)got; i++) {
        d[n].tag = ev[i].data;
        d[n].err = ev[i].res < 0 ? (int)-ev[i].res : 0;
        n++;
      }
      s->inflight -= (size_t)got;
    }
  }
  return n;
}

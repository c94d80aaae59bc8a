#ifndef IO_H
#define IO_H
/* io.h: small fd helpers.  All return 0 (or a count) on success, -1 with errno. */
#include <stddef.h>
#include <sys/types.h>
#include "buf.h"

int write_all(int fd, const void *p, size_t n);          /* retries EINTR, short writes */
ssize_t read_retry(int fd, void *p, size_t n);           /* read(2) retrying EINTR */
/* Append all of fd to b.  More than max bytes: -1 with errno EFBIG
   (b then holds max+1 bytes, the rest unread). */
int read_all(int fd, struct buf *b, size_t max);
int file_read(const char *path, struct buf *b, size_t max); /* whole file into b */
/* Write buf to path atomically: path.tmp.PID, fsync, rename, fsync dir. */
int file_write_atomic(const char *path, const void *p, size_t n, int mode);
int fsync_at(int dirfd, const char *dir);                /* fsync directory dir under dirfd */
int fsync_dir(const char *path);                        /* fsync directory path */
int fd_nonblock(int fd, int on);
int fd_cloexec(int fd);
/* Make directory path and its parents (mode for new ones); existing is fine. */
int mkdir_p(const char *path, int mode);
#endif

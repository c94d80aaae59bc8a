/* io.c: fd helpers (see io.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io.h"

int write_all(int fd, const void *p, size_t n)
{
  const char *s = p;
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w == -1) {
      if (errno == EINTR) continue;
      return -1;
    }
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

ssize_t read_retry(int fd, void *p, size_t n)
{
  ssize_t r;
  do r = read(fd, p, n); while (r == -1 && errno == EINTR);
  return r;
}

int read_all(int fd, struct buf *b, size_t max)
{
  size_t start = b->len;
  for (;;) {
    ssize_t r;
    if (buf_ready(b, 65536) == -1) return -1;
    r = read_retry(fd, b->s + b->len, b->cap - b->len - 1);
    if (r == -1) return -1;
    if (r == 0) break;
    b->len += (size_t)r;
    b->s[b->len] = 0;
    if (b->len - start > max) {
      buf_trunc(b, start + max + 1);
      return errno = EFBIG, -1;
    }
  }
  return 0;
}

int file_read(const char *path, struct buf *b, size_t max)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int r, e;
  if (fd == -1) return -1;
  r = read_all(fd, b, max);
  e = errno;
  close(fd);
  errno = e;
  return r;
}

int fsync_at(int dirfd, const char *dir)
{
  int fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r, e;
  if (fd == -1) return -1;
  r = fsync(fd);
  e = errno;
  close(fd);
  errno = e;
  return r;
}

int fsync_dir(const char *path) { return fsync_at(AT_FDCWD, path); }

int file_write_atomic(const char *path, const void *p, size_t n, int mode)
{
  char tmp[4096], dir[4096];
  const char *slash;
  int fd, e;
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return errno = ENAMETOOLONG, -1;
  slash = strrchr(path, '/');
  if (!slash) { dir[0] = '.'; dir[1] = 0; }
  else {
    size_t dl = (size_t)(slash - path);
    if (dl >= sizeof dir) return errno = ENAMETOOLONG, -1;
    if (dl == 0) dl = 1;
    memcpy(dir, path, dl);
    dir[dl] = 0;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd == -1) return -1;
  if (write_all(fd, p, n) == -1 || fsync(fd) == -1) goto fail;
  if (close(fd) == -1) { fd = -1; goto fail; }
  fd = -1;
  if (rename(tmp, path) == -1) goto fail;
  return fsync_dir(dir);
fail:
  e = errno;
  if (fd != -1) close(fd);
  unlink(tmp);
  errno = e;
  return -1;
}

int fd_nonblock(int fd, int on)
{
  int fl = fcntl(fd, F_GETFL);
  if (fl == -1) return -1;
  return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

int fd_cloexec(int fd)
{
  int fl = fcntl(fd, F_GETFD);
  if (fl == -1) return -1;
  return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int mkdir_p(const char *path, int mode)
{
  char p[4096];
  size_t n = strlen(path), i;
  if (n == 0 || n >= sizeof p) return errno = ENAMETOOLONG, -1;
  memcpy(p, path, n + 1);
  for (i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != 0) continue;
    p[i] = 0;
    if (mkdir(p, (mode_t)mode) == -1 && errno != EEXIST) return -1;
    p[i] = i < n ? '/' : 0;
  }
  return 0;
}

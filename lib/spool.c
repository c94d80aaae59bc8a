/* spool.c: ids, layout, trigger and reading of the mail spool (spool.h,
   doc/spool.md).  Writing a spool file is queue-inject's job alone; this
   module only names files, creates the directories, nudges deliver and
   reads a committed file back.  Returns 0/-1 with errno, never exits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include "io.h"
#include "spool.h"

/* Fixed widths keep ids sortable by time and easy to check:
   13 hex digits of microseconds since 1970 (enough until year 2112),
   8 of the pid, 4 of a per-process counter. */
#define ID_TIME_DIGITS 13
#define ID_PID_DIGITS 8
#define ID_COUNT_DIGITS 4
#define ID_LEN (ID_TIME_DIGITS + ID_PID_DIGITS + ID_COUNT_DIGITS)

int spool_newid(char *id, size_t n)
{
  /* The only state in this module: two ids made by one process within the
     same microsecond differ by this counter.  Across processes the pid
     differs; O_EXCL and link() catch whatever slips through. */
  static unsigned counter;
  struct timeval tv;
  unsigned long long usec;
  int r;
  if (gettimeofday(&tv, 0) == -1) return -1;
  usec = (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec;
  counter = (counter + 1) & 0xffff;
  r = snprintf(id, n, "%013llX%08lX%04X", usec & 0xfffffffffffffULL,
               (unsigned long)getpid() & 0xffffffffUL, counter);
  if (r < 0 || (size_t)r >= n) return errno = ENAMETOOLONG, -1;
  return 0;
}

int spool_id_ok(const char *id)
{
  size_t i;
  for (i = 0; i < ID_LEN; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
      return 0;
  return id[ID_LEN] == 0;
}

int spool_init(const char *spooldir)
{
  static const char *const sub[] = { "tmp", "new", "queue", "bounce", "unmatched" };
  char p[4096];
  size_t i;
  int r;
  if (mkdir_p(spooldir, 0700) == -1) return -1;
  for (i = 0; i < sizeof sub / sizeof sub[0]; i++) {
    r = snprintf(p, sizeof p, "%s/%s", spooldir, sub[i]);
    if (r < 0 || (size_t)r >= sizeof p) return errno = ENAMETOOLONG, -1;
    if (mkdir(p, 0700) == -1 && errno != EEXIST) return -1;
  }
  r = snprintf(p, sizeof p, "%s/trigger", spooldir);
  if (r < 0 || (size_t)r >= sizeof p) return errno = ENAMETOOLONG, -1;
  if (mkfifo(p, 0600) == -1) {
    struct stat st;
    if (errno != EEXIST) return -1;
    if (stat(p, &st) == -1) return -1;
    if (!S_ISFIFO(st.st_mode)) return errno = EEXIST, -1;
  }
  return fsync_dir(spooldir);
}

int spool_trigger(const char *spooldir)
{
  char p[4096];
  int fd, r, e;
  r = snprintf(p, sizeof p, "%s/trigger", spooldir);
  if (r < 0 || (size_t)r >= sizeof p) return errno = ENAMETOOLONG, -1;
  /* O_NONBLOCK: open fails with ENXIO when deliver is not running, and a
     full FIFO (EAGAIN) means deliver has nudges enough already. */
  fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd == -1) return errno == ENXIO ? 0 : -1;
  do r = (int)write(fd, "", 1); while (r == -1 && errno == EINTR);
  e = errno;
  close(fd);
  if (r == -1 && e != EAGAIN) return errno = e, -1;
  return 0;
}

int spool_sweep(const char *spooldir, long long now)
{
  char p[4096];
  struct dirent *de;
  struct stat st;
  DIR *d;
  int dfd, n = 0, r, e;
  r = snprintf(p, sizeof p, "%s/tmp", spooldir);
  if (r < 0 || (size_t)r >= sizeof p) return errno = ENAMETOOLONG, -1;
  if (!(d = opendir(p))) return -1;
  dfd = dirfd(d);
  /* SPOOL_TMP_MAXAGE is longer than queue-inject's deadline, so whatever is
     this old belongs to no living writer. */
  while ((errno = 0, de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) continue;
    if (!S_ISREG(st.st_mode) || (long long)st.st_mtime > now - SPOOL_TMP_MAXAGE) continue;
    if (unlinkat(dfd, de->d_name, 0) == 0) n++;
  }
  e = errno;
  closedir(d);
  if (e) return errno = e, -1;
  return n;
}

int spool_read(const char *path, struct buf *b, struct envelope *e, size_t *msgoff)
{
  struct stat st;
  long used;
  int fd, r, err;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd == -1) return -1;
  /* One allocation of the known size; read_all still copes if it grew. */
  if (fstat(fd, &st) == -1) goto fail;
  if (st.st_size > 0 && buf_ready(b, (size_t)st.st_size) == -1) goto fail;
  b->len = 0;
  r = read_all(fd, b, (size_t)-1 / 2);
  err = errno;
  close(fd);
  if (r == -1) return errno = err, -1;
  if (!b->s && buf_ready(b, 0) == -1) return -1;
  used = envelope_parse(e, b->s, b->len);
  if (used < 0) return -1;
  /* What only queue-inject writes must be there: a reader trusts nobody. */
  if (!e->id || !spool_id_ok(e->id) || e->accepted < 0) {
    envelope_free(e);
    return errno = EINVAL, -1;
  }
  *msgoff = (size_t)used;
  return 0;
fail:
  err = errno;
  close(fd);
  return errno = err, -1;
}

/* unit-spool: lib/spool.c: id form and uniqueness, layout, trigger with
   and without a reader, reading a spool file back, sweeping tmp/. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "io.h"
#include "spool.h"
#include "tap.h"

static char dir[256];

static int put(const char *sub, const char *name, const void *p, size_t n)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
  return file_write_atomic(path, p, n, 0600);
}

int main(void)
{
  char id[SPOOL_ID_MAX + 1], id2[SPOOL_ID_MAX + 1], path[512], small[8];
  struct buf b = BUF_ZERO;
  struct envelope e;
  struct stat st;
  struct timespec old[2];
  size_t off;
  int fd, i, same = 0;
  char c;
  static const char good[] = "Tacme\0Cdefault\0S1700000000\0Q0123456789ABCDEF012345678\0"
                             "Fs@example.com\0Rr@example.org\0\0Subject: x\r\n\r\nbody\r\n";
  static const char noq[] = "Tacme\0Cdefault\0S1700000000\0Fs@example.com\0Rr@example.org\0\0body\r\n";

  plan(22);
  snprintf(dir, sizeof dir, "%s/unit-spool.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(dir)) return 1;
  strncat(dir, "/spool", sizeof dir - strlen(dir) - 1);

  ok(spool_newid(id, sizeof id) == 0 && strlen(id) == 25, "newid: 25 characters");
  ok(spool_id_ok(id), "newid: its id passes spool_id_ok");
  for (i = 0; i < 1000; i++) {
    if (spool_newid(id2, sizeof id2) == -1 || !strcmp(id, id2)) same++;
    memcpy(id, id2, sizeof id);
  }
  ok(same == 0, "newid: 1000 ids in a row all differ");
  ok(spool_newid(small, sizeof small) == -1 && errno == ENAMETOOLONG, "newid: short buffer refused");
  ok(!spool_id_ok("0123456789abcdef012345678"), "id_ok: lower case refused");
  ok(!spool_id_ok("0123456789ABCDEF01234567"), "id_ok: too short refused");
  ok(!spool_id_ok("0123456789ABCDEF0123456789"), "id_ok: too long refused");
  ok(!spool_id_ok("../23456789ABCDEF012345678"), "id_ok: path characters refused");

  ok(spool_init(dir) == 0, "init: creates the layout");
  snprintf(path, sizeof path, "%s/trigger", dir);
  ok(stat(path, &st) == 0 && S_ISFIFO(st.st_mode), "init: trigger is a FIFO");
  snprintf(path, sizeof path, "%s/queue", dir);
  ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700, "init: queue/ mode 0700");
  ok(spool_init(dir) == 0, "init: running it again is fine");

  ok(spool_trigger(dir) == 0, "trigger: no reader is fine");
  snprintf(path, sizeof path, "%s/trigger", dir);
  fd = open(path, O_RDONLY | O_NONBLOCK);
  ok(fd != -1 && spool_trigger(dir) == 0 && read(fd, &c, 1) == 1, "trigger: a reader gets a byte");
  if (fd != -1) close(fd);

  put("new", "0123456789ABCDEF012345678", good, sizeof good - 1);
  snprintf(path, sizeof path, "%s/new/0123456789ABCDEF012345678", dir);
  ok(spool_read(path, &b, &e, &off) == 0, "read: a good file");
  ok(e.id && !strcmp(e.id, "0123456789ABCDEF012345678") && e.accepted == 1700000000 && e.nrcpt == 1,
     "read: Q, S and R come back");
  ok(off < b.len && !memcmp(b.s + off, "Subject: x\r\n", 12), "read: msgoff is the message start");
  envelope_free(&e);
  put("new", "X", noq, sizeof noq - 1);
  snprintf(path, sizeof path, "%s/new/X", dir);
  ok(spool_read(path, &b, &e, &off) == -1 && errno == EINVAL, "read: a file without Q is EINVAL");
  snprintf(path, sizeof path, "%s/new/none", dir);
  ok(spool_read(path, &b, &e, &off) == -1 && errno == ENOENT, "read: a missing file is ENOENT");

  put("tmp", "fresh", "x", 1);
  put("tmp", "stale", "x", 1);
  snprintf(path, sizeof path, "%s/tmp/stale", dir);
  old[0].tv_sec = old[1].tv_sec = time(0) - SPOOL_TMP_MAXAGE - 60;
  old[0].tv_nsec = old[1].tv_nsec = 0;
  utimensat(AT_FDCWD, path, old, 0);
  ok(spool_sweep(dir, (long long)time(0)) == 1, "sweep: removes one stale file");
  ok(access(path, F_OK) == -1, "sweep: the stale one is gone");
  snprintf(path, sizeof path, "%s/tmp/fresh", dir);
  ok(access(path, F_OK) == 0, "sweep: the fresh one stays");

  buf_free(&b);
  *strrchr(dir, '/') = 0;
  {
    /* Clean up the temporary tree without a shell. */
    static const char *const files[] = { "spool/new/0123456789ABCDEF012345678", "spool/new/X",
      "spool/tmp/fresh", "spool/trigger", "spool/tmp", "spool/new", "spool/queue", "spool", "" };
    for (i = 0; files[i][0]; i++) {
      snprintf(path, sizeof path, "%s/%s", dir, files[i]);
      if (unlink(path) == -1) rmdir(path);
    }
    rmdir(dir);
  }
  return done();
}

/* unit-inject: lib/injectp.c (frame heads: encoding, parsing, every
   malformed head), lib/inject.c (a message written as it arrives, in
   pieces of any size, is the same file; added fields; limits; abort leaves
   nothing; the file goes to new/ only by inject_link) and lib/injectsync.c
   (fsyncs started together come back, each with its tag and outcome). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <poll.h>
#include "inject.h"
#include "injectp.h"
#include "injectsync.h"
#include "io.h"
#include "tap.h"

static char dir[200];
static int dfd;

static int parse_is(const char *p, long want, char type, unsigned long long len)
{
  char t = 0;
  unsigned long long l = 0;
  long r = injectp_parse(p, strlen(p), &t, &l);
  if (r != want) return 0;
  return r <= 0 || (t == type && l == len);
}

/* Write msg through inject in pieces of step bytes (0: all at once); the
   message part of new/ID into out.  0, or -1 with errno. */
static int through(const char *msg, size_t n, size_t step, struct buf *out, char id[SPOOL_ID_MAX + 1])
{
  struct inject j;
  struct envelope e;
  char path[512];
  size_t i;
  memset(&e, 0, sizeof e);
  e.tenant = "acme";
  e.composition = "default";
  e.sender = "s@example.com";
  e.nrcpt = 1;
  e.rcpt = (const char *[]){ "r@example.org" };
  e.accepted = 1700000000;
  if (inject_open(&j, dfd, "unit.test", 1 << 20) == -1 || inject_head(&j, &e) == -1) return -1;
  for (i = 0; i < n; i += step ? step : n)
    if (inject_feed(&j, msg + i, step && n - i > step ? step : n - i) == -1) goto fail;
  if (inject_end(&j) == -1 || inject_sync(&j) == -1 || inject_link(&j) == -1) goto fail;
  snprintf(id, SPOOL_ID_MAX + 1, "%s", j.id);   /* id: SPOOL_ID_MAX + 1 bytes */
  inject_done(&j);
  snprintf(path, sizeof path, "%s/new/%s", dir, id);
  buf_trunc(out, 0);
  if (file_read(path, out, 1 << 24) == -1) return -1;
  for (i = 0; i + 1 < out->len && (out->s[i] || out->s[i + 1]); i++)
    ;
  i = i + 1 < out->len ? i + 2 : 0;    /* the message follows the envelope's "\0\0" */
  memmove(out->s, out->s + i, out->len - i);
  out->len -= i;
  out->s[out->len] = 0;
  return 0;
fail:
  inject_abort(&j);
  return -1;
}

/* out without its Date: line (its value is the clock's). */
static void no_date(struct buf *b)
{
  char *d = strstr(b->s, "Date: ");
  char *e = d ? strstr(d, "\r\n") : 0;
  if (!e) return;
  memmove(d, e + 2, b->len - (size_t)(e + 2 - b->s) + 1);
  b->len -= (size_t)(e + 2 - d);
}

/* Files in dir/sub; with rm, removed (and the directory too). */
static int files(const char *sub, int rm)
{
  char path[512];
  struct dirent *de;
  DIR *d;
  int n = 0;
  snprintf(path, sizeof path, "%s/%s", dir, sub);
  if (!(d = opendir(path))) return -1;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.') {
      n++;
      if (rm) unlinkat(dirfd(d), de->d_name, 0);
    }
  closedir(d);
  if (rm) rmdir(path);
  return n;
}
#define count_files(sub) files((sub), 0)

int main(void)
{
  char head[INJECTP_HEAD_MAX + 1], id[SPOOL_ID_MAX + 1], want[512];
  struct buf a = BUF_ZERO, b = BUF_ZERO, big = BUF_ZERO;
  struct inject j;
  struct envelope e;
  size_t n, i;
  int same;
  static const char msg[] = "Subject: a\nX-Two: b\r\n\r\nl1\nl2\rl3\r\nl4";

  plan(35);
  snprintf(dir, sizeof dir, "%s/unit-inject.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(dir)) return 1;
  snprintf(want, sizeof want, "%s/tmp", dir); mkdir(want, 0700);
  snprintf(want, sizeof want, "%s/new", dir); mkdir(want, 0700);
  dfd = open(dir, O_RDONLY | O_DIRECTORY);

  /* frame heads */
  n = injectp_head(head, 'E', 12); head[n] = 0;
  ok(!strcmp(head, "E12\n"), "head E12");
  n = injectp_head(head, 'D', 0); head[n] = 0;
  ok(!strcmp(head, "D0\n"), "head D0");
  n = injectp_head(head, '.', 5); head[n] = 0;
  ok(!strcmp(head, ".\n"), "head of the end has no length");
  ok(parse_is("E12\nxyz", 4, 'E', 12), "parse E12");
  ok(parse_is("D0\n", 3, 'D', 0), "parse D0");
  ok(parse_is("D1234567890\n", 12, 'D', 1234567890ULL), "parse 10 digits");
  ok(parse_is(".\n", 2, '.', 0), "parse the end");
  ok(parse_is("", 0, 0, 0) && parse_is("E1", 0, 0, 0) && parse_is(".", 0, 0, 0)
     && parse_is("D1234567890", 0, 0, 0), "incomplete heads ask for more");
  ok(parse_is("X1\n", -1, 0, 0) && parse_is("e1\n", -1, 0, 0), "unknown types refused");
  ok(parse_is("E\n", -1, 0, 0), "no digits refused");
  ok(parse_is("E012\n", -1, 0, 0) && parse_is("D00\n", -1, 0, 0), "leading zeros refused");
  ok(parse_is("D12345678901", -1, 0, 0), "11 digits refused");
  ok(parse_is("E-1\n", -1, 0, 0) && parse_is("E 1\n", -1, 0, 0) && parse_is("E1x\n", -1, 0, 0),
     "signs, spaces, letters refused");
  ok(parse_is(".x", -1, 0, 0) && parse_is("..\n", -1, 0, 0), "a bad end refused");

  /* the message, whole and in pieces */
  ok(through(msg, sizeof msg - 1, 0, &a, id) == 0, "a message written at once");
  no_date(&a);
  snprintf(want, sizeof want, "Subject: a\r\nX-Two: b\r\nMessage-ID: <%s@unit.test>\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\n", id);
  ok(!strcmp(a.s, want), "normalised: CRLF, Message-ID and Date at the header's end");
  same = 1;
  for (i = 1; i <= 7; i++) {
    if (through(msg, sizeof msg - 1, i, &b, id) == -1) { same = 0; break; }
    no_date(&b);
    snprintf(want, sizeof want, "Subject: a\r\nX-Two: b\r\nMessage-ID: <%s@unit.test>\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\n", id);
    if (strcmp(b.s, want)) same = 0;
  }
  ok(same, "the same file whatever the pieces (1..7 bytes)");
  ok(through("no header here\nsecond\n", 22, 3, &a, id) == 0, "a message without a header");
  no_date(&a);
  snprintf(want, sizeof want, "Message-ID: <%s@unit.test>\r\n\r\nno header here\r\nsecond\r\n", id);
  ok(!strcmp(a.s, want), "... gets the fields and a blank line before its text");
  ok(through("Date: x\r\nMessage-ID: <k@x>\r\n\r\nbody\r\n", 37, 5, &a, id) == 0
     && !strcmp(a.s, "Date: x\r\nMessage-ID: <k@x>\r\n\r\nbody\r\n"), "with Date and Message-ID: byte for byte");
  ok(through("", 0, 0, &a, id) == 0 && strstr(a.s, "Message-ID: <") == a.s + strcspn(a.s, "M"),
     "an empty message gets the two fields only");
  for (i = 0; i < 15000; i++) buf_printf(&big, "line %06zu xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", i);
  ok(through(big.s, big.len, 4093, &a, id) == 0 && a.len > big.len + 15000, "a big message across many flushes");
  no_date(&a);
  same = !memcmp(a.s + strlen("Message-ID: <") + strlen(id) + strlen("@unit.test>\r\n\r\n"), "line 000000 ", 12)
         && a.len > 58 && !memcmp(a.s + a.len - 58, "line 014999 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", 58);
  ok(same, "... whole, first line to last");

  /* limits and undo */
  memset(&e, 0, sizeof e);
  e.tenant = "acme";
  e.composition = "default";
  e.sender = "s@example.com";
  e.nrcpt = 1;
  e.rcpt = (const char *[]){ "r@example.org" };
  e.accepted = -1;
  e.id = "0123";
  ok(inject_open(&j, dfd, "unit.test", 10) == 0 && inject_head(&j, &e) == -1 && errno == EINVAL,
     "an envelope with an id is refused");
  e.id = 0;
  ok(inject_head(&j, &e) == 0 && inject_feed(&j, "12345", 5) == 0 && inject_feed(&j, "678901", 6) == -1
     && errno == EFBIG, "over the limit: EFBIG");
  ok(count_files("tmp") == 1, "tmp/ID exists while it is written");
  inject_abort(&j);
  ok(count_files("tmp") == 0, "inject_abort removes it");
  ok(inject_open(&j, dfd, "bad host", 100) == 0 && inject_head(&j, &e) == 0
     && (inject_feed(&j, "x\n", 2) == -1 || inject_end(&j) == -1) && errno == EINVAL,
     "a bad host name for Message-ID: EINVAL");
  inject_abort(&j);
  n = (size_t)count_files("new");
  ok(inject_open(&j, dfd, "unit.test", 100) == 0 && inject_head(&j, &e) == 0 && inject_feed(&j, "x\n", 2) == 0
     && inject_end(&j) == 0 && inject_sync(&j) == 0 && (size_t)count_files("new") == n,
     "nothing in new/ before inject_link");
  ok(inject_link(&j) == 0 && (size_t)count_files("new") == n + 1 && count_files("tmp") == 0, "inject_link puts it there");
  inject_abort(&j);                   /* the commit abandoned: the name goes */

  /* fsyncs in flight together */
  {
    struct injectsync is;
    struct injectsync_done d[8];
    int fds[5], seen = 0, errs = 0, k;
    size_t got = 0, r;
    ok(injectsync_init(&is, 6) == 0, "injectsync_init");
    for (k = 0; k < 5; k++) {
      snprintf(want, sizeof want, "%s/tmp/s%d", dir, k);
      fds[k] = open(want, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (write(fds[k], "data\n", 5) != 5) fds[k] = -1;
    }
    for (k = 0; k < 5; k++)
      if (injectsync_start(&is, fds[k], (unsigned long long)k + 1) == -1) errs++;
    ok(errs == 0, "five fsyncs started");
    for (k = 0; k < 5; k++) close(fds[k]);          /* the kernel holds them */
    for (k = 0; k < 1000 && got < 5; k++) {
      struct pollfd pf;
      pf.fd = injectsync_fd(&is);
      pf.events = POLLIN;
      if (!injectsync_has_done(&is) && pf.fd != -1) poll(&pf, 1, 1000);
      r = injectsync_reap(&is, d, 8);
      for (i = 0; i < r; i++) {
        if (d[i].tag >= 1 && d[i].tag <= 5 && !d[i].err) seen |= 1 << d[i].tag;
        else errs++;
      }
      got += r;
    }
    ok(got == 5 && seen == 0x3e && errs == 0, "each comes back once, with its tag, done");
    ok(injectsync_start(&is, -1, 9) == -1
       || (poll(&(struct pollfd){ injectsync_fd(&is), POLLIN, 0 }, 1, 1000) >= 0
           && injectsync_reap(&is, d, 8) == 1 && d[0].tag == 9 && d[0].err == EBADF),
       "a bad fd: refused, or its EBADF comes back");
    for (k = 0; k < 6; k++) injectsync_start(&is, dfd, 100);
    ok(injectsync_start(&is, dfd, 101) == -1 && errno == EAGAIN, "no more than max in flight");
    for (k = 0; k < 100 && (injectsync_has_done(&is) || injectsync_fd(&is) != -1); k++) {
      poll(&(struct pollfd){ injectsync_fd(&is), POLLIN, 0 }, 1, 100);
      injectsync_reap(&is, d, 8);
    }
    injectsync_free(&is);             /* tmp/s0..s4 go with tmp/ below */
  }

  buf_free(&a);
  buf_free(&b);
  buf_free(&big);
  close(dfd);
  files("tmp", 1);
  files("new", 1);
  rmdir(dir);
  return done();
}

/* classify-bounce: error status of a bounce message or of an SMTP reply.
   Message mode: one message on fd 0 (or each FILE), one line per failed
   recipient on fd 1: RCPT TAB STATUS TAB CODE TAB ENHANCED TAB DIAGNOSTIC.
   Reply mode (-r): the reply in the arguments or one line on fd 0; prints
   STATUS TAB CODE TAB ENHANCED TAB TEXT.  Rules: -d DIR, else
   $CMC_HOME/etc/classify, else the tree's templates/classify.
   Exit 0 classified, 2 not a bounce, 100 bad usage or input, 111 temporary. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bounce.h"
#include "buf.h"
#include "classify.h"
#include "die.h"
#include "home.h"
#include "io.h"

#define USAGE "usage: classify-bounce [-x] [-d dir] [-l | -m] [file ...] | classify-bounce [-x] [-d dir] -r [-s stage] [reply ...]"
#define NAME_MAX_LEN 4096
#define EXIT_NOTBOUNCE 2
#define REPLY_MAX 65536
#define MBOX_CHUNK (1 << 20)            /* bytes read at a time from an mbox */

static int explain;

static int is_dir(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The rule directory: -d, $CMC_HOME/etc/classify, the tree, the install. */
static const char *rule_dir(const char *opt, char *buf, size_t n)
{
  const char *home = getenv("CMC_HOME");
  static const char *const rel[] = { "../templates/classify", "../../../share/cmc/templates/classify", 0 };
  int i;
  if (opt) return opt;
  if (home_path(buf, n, home && *home ? home : HOME_DEFAULT, "etc/classify") == 0 && is_dir(buf))
    return buf;
  for (i = 0; rel[i]; i++)
    if (home_bin(buf, n, 0, rel[i]) == 0 && is_dir(buf)) return buf;
  return 0;
}

/* The decimal digits of u into d (room for 20); their number. */
static size_t num(char *d, unsigned long u)
{
  char t[24];
  size_t n = 0, i;
  do t[n++] = (char)('0' + u % 10); while ((u /= 10) && n < sizeof t);
  for (i = 0; i < n; i++) d[i] = t[n - 1 - i];
  return n;
}

static void put_num(int v)
{
  char d[24];
  fwrite(d, 1, num(d, (unsigned long)(v < 0 ? 0 : v)), stdout);
}

/* Tabs and newlines never reach the output columns. */
static void put_field(const char *s)
{
  while (*s) {
    size_t n = strcspn(s, "\t\n\r");
    fwrite(s, 1, n, stdout);
    s += n;
    if (*s) { putchar(' '); s++; }
  }
}

static int one_message(const struct classify *c, struct bounce *b, const char *name,
                       const char *p, size_t n)
{
  int i;
  if (bounce_parse(b, p, n) == -1) {
    if (errno == EFBIG) { warn("message too large: ", name ? name : "-"); return EXIT_PERM; }
    warn_sys("unable to parse ", name ? name : "-");
    return EXIT_TEMP;
  }
  if (b->kind != BOUNCE_FAILURE) {
    if (name) { put_field(name); putchar('\t'); }
    printf("-\t-\t-\t-\tnot a bounce: %s\n", bounce_kind_name(b->kind));
    return EXIT_NOTBOUNCE;
  }
  for (i = 0; i < b->nrcpt; i++) {
    const struct bounce_rcpt *r = &b->rcpt[i];
    struct classify_in in;
    struct classify_out out;
    memset(&in, 0, sizeof in);
    in.text = r->diag;
    in.context = r->ctx;
    in.action = r->action;
    in.dtype = r->dtype;
    in.status = r->status;
    if (classify(c, &in, &out) == -1) { warn_sys("unable to classify ", name ? name : "-"); return EXIT_TEMP; }
    if (name) { put_field(name); putchar('\t'); }
    put_field(r->addr);
    putchar('\t');
    put_num(out.status);
    putchar('\t');
    if (out.code) put_num(out.code); else putchar('-');
    putchar('\t');
    put_field(out.enhanced[0] ? out.enhanced : "-");
    putchar('\t');
    put_field(r->diag[0] ? r->diag : "-");
    if (explain) printf("\t%s\t%s", out.why, out.stage[0] ? out.stage : "-");
    putchar('\n');
  }
  return 0;
}

/* The worst of two outcomes: 111, then 100, then 2, then 0. */
static int worst(int a, int b)
{
  if (a == EXIT_TEMP || b == EXIT_TEMP) return EXIT_TEMP;
  if (a == EXIT_PERM || b == EXIT_PERM) return EXIT_PERM;
  return a ? a : b;
}

static int one_file(const struct classify *c, struct bounce *b, struct buf *m,
                    const char *path, int show_name)
{
  m->len = 0;
  if (file_read(path, m, BOUNCE_MSG_MAX) == -1) {
    if (errno == EFBIG) { warn("message too large: ", path); return EXIT_PERM; }
    warn_sys("unable to read ", path);
    return errno_is_temp(errno) ? EXIT_TEMP : EXIT_PERM;
  }
  return one_message(c, b, show_name ? path : 0, m->s ? m->s : "", m->len);
}

/* -l: the file names come on fd 0, one a line. */
static int each_listed(const struct classify *c, struct bounce *b, struct buf *m)
{
  char name[NAME_MAX_LEN];
  int rc = 0;
  while (fgets(name, sizeof name, stdin)) {
    size_t l = strlen(name);
    if (l && name[l - 1] == '\n') name[--l] = 0;
    else if (l == sizeof name - 1) die(EXIT_PERM, "file name too long", 0);
    if (!l) continue;
    rc = worst(rc, one_file(c, b, m, name, 1));
  }
  if (ferror(stdin)) die_sys(EXIT_TEMP, "unable to read file names", 0);
  return rc;
}

/* -m: each message of the mbox on fd (messages start at lines "From ").
   Output lines are labelled N or NAME:N, N counting from 1. */
static int each_in_mbox(const struct classify *c, struct bounce *b, struct buf *in, int fd,
                        const char *name)
{
  size_t start = 0, scan = 0;
  unsigned long nmsg = 0;
  int eof = 0, rc = 0, skipping = 0;
  in->len = 0;
  for (;;) {
    const char *sep = 0, *p = in->s ? in->s + scan : 0;
    /* the next "\nFrom " after the start of the current message */
    while (p && (size_t)(p - in->s) + 6 <= in->len) {
      /* strstr is the fast search here; a NUL byte in the data stops it,
         so go on after any NUL it stopped at */
      const char *f = strstr(p, "\nFrom "), *z;
      if (f && (size_t)(f - in->s) + 6 <= in->len) { sep = f; break; }
      z = memchr(p, 0, in->len - (size_t)(p - in->s));
      if (!z) break;
      p = z + 1;
    }
    if (sep || (eof && start < in->len)) {
      size_t end = sep ? (size_t)(sep - in->s) + 1 : in->len;
      char label[NAME_MAX_LEN + 24];
      nmsg++;
      if (skipping) {
        skipping = 0;
        rc = worst(rc, EXIT_PERM);
      } else if (end - start > BOUNCE_MSG_MAX) {
        snprintf(label, sizeof label, "%lu", nmsg);
        warn("message too large: ", label);
        rc = worst(rc, EXIT_PERM);
      } else {
        size_t ln = 0;
        if (name) {
          ln = strlen(name) < sizeof label - 24 ? strlen(name) : sizeof label - 24;
          memcpy(label, name, ln);
          label[ln++] = ':';
        }
        ln += num(label + ln, nmsg);
        label[ln] = 0;
        rc = worst(rc, one_message(c, b, label, in->s + start, end - start));
      }
      start = end;
      scan = start;
      if (!sep) break;
      continue;
    }
    if (eof) break;
    /* need more: drop what is done, read on */
    if (start) {
      memmove(in->s, in->s + start, in->len - start);
      in->len -= start;
      scan = scan > start ? scan - start : 0;
      start = 0;
    }
    if (in->len > BOUNCE_MSG_MAX + 6) {
      /* one message over the limit: forget its bytes, keep looking for the next */
      if (!skipping) {
        char label[32];
        snprintf(label, sizeof label, "%lu", nmsg + 1);
        warn("message too large: ", label);
      }
      skipping = 1;
      memmove(in->s, in->s + in->len - 6, 6);
      in->len = 6;
      scan = 0;
    }
    if (in->len > 6) scan = in->len - 6;
    {
      ssize_t r;
      if (buf_ready(in, MBOX_CHUNK) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
      r = read_retry(fd, in->s + in->len, MBOX_CHUNK);
      if (r == -1) { warn_sys("unable to read ", name ? name : "mbox"); return EXIT_TEMP; }
      if (r == 0) eof = 1;
      in->len += (size_t)r;
      in->s[in->len] = 0;
    }
  }
  return rc;
}

static int reply_mode(const struct classify *c, const char *stage, char **argv, int argc)
{
  struct buf t = BUF_ZERO;
  struct classify_in in;
  struct classify_out out;
  int i;
  if (argc) {
    for (i = 0; i < argc; i++)
      if ((i && buf_addc(&t, ' ') == -1) || buf_adds(&t, argv[i]) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
  } else {
    char *nl;
    if (read_all(0, &t, REPLY_MAX) == -1) {
      if (errno == EFBIG) die(EXIT_PERM, "reply too long", 0);
      die_sys(EXIT_TEMP, "unable to read reply", 0);
    }
    if (t.s && (nl = memchr(t.s, '\n', t.len)) != 0) buf_trunc(&t, (size_t)(nl - t.s));
  }
  if (!t.len) die(EXIT_PERM, USAGE, 0);
  memset(&in, 0, sizeof in);
  in.text = t.s;
  in.stage = stage;
  if (classify(c, &in, &out) == -1) die_sys(EXIT_TEMP, "unable to classify", 0);
  put_num(out.status);
  putchar('\t');
  if (out.code) put_num(out.code); else putchar('-');
  putchar('\t');
  put_field(out.enhanced[0] ? out.enhanced : "-");
  putchar('\t');
  put_field(t.s);
  if (explain) printf("\t%s\t%s", out.why, out.stage[0] ? out.stage : "-");
  putchar('\n');
  buf_free(&t);
  return 0;
}

int main(int argc, char **argv)
{
  const char *dirarg = 0, *dir, *stage = 0;
  char dirbuf[4096], err[512];
  struct classify *c;
  struct bounce *b;
  struct buf m = BUF_ZERO;
  int opt, reply = 0, list = 0, mbox = 0, rc = 0, i;
  prog = "classify-bounce";
  while ((opt = getopt(argc, argv, "d:lmrs:x")) != -1)
    switch (opt) {
    case 'd': dirarg = optarg; break;
    case 'l': list = 1; break;
    case 'm': mbox = 1; break;
    case 'r': reply = 1; break;
    case 's': stage = optarg; break;
    case 'x': explain = 1; break;
    default: die(EXIT_PERM, USAGE, 0);
    }
  argc -= optind;
  argv += optind;
  if ((stage && !reply) || (list && (reply || argc || mbox)) || (mbox && reply))
    die(EXIT_PERM, USAGE, 0);
  dir = rule_dir(dirarg, dirbuf, sizeof dirbuf);
  if (!dir) die(EXIT_TEMP, "unable to find the rule directory (etc/classify or templates/classify)", 0);
  if (classify_load(&c, dir, err, sizeof err) == -1)
    die(errno == EINVAL || errno == E2BIG ? EXIT_PERM : EXIT_TEMP, "unable to load rules: ", err);
  if (reply) rc = reply_mode(c, stage, argv, argc);
  else {
    b = malloc(sizeof *b);
    if (!b) die_sys(EXIT_TEMP, "out of memory", 0);
    bounce_init(b);
    if (list) rc = each_listed(c, b, &m);
    else if (mbox && !argc) rc = each_in_mbox(c, b, &m, 0, 0);
    else if (mbox)
      for (i = 0; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd == -1) {
          warn_sys("unable to open ", argv[i]);
          rc = worst(rc, errno_is_temp(errno) ? EXIT_TEMP : EXIT_PERM);
          continue;
        }
        rc = worst(rc, each_in_mbox(c, b, &m, fd, argv[i]));
        close(fd);
      }
    else if (!argc) {
      if (read_all(0, &m, BOUNCE_MSG_MAX) == -1) {
        if (errno == EFBIG) die(EXIT_PERM, "message too large", 0);
        die_sys(EXIT_TEMP, "unable to read message", 0);
      }
      rc = one_message(c, b, 0, m.s ? m.s : "", m.len);
    }
    if (!mbox)
      for (i = 0; i < argc; i++) rc = worst(rc, one_file(c, b, &m, argv[i], argc > 1));
    bounce_free(b);
    free(b);
  }
  buf_free(&m);
  classify_free(c);
  if (fflush(stdout) == EOF || ferror(stdout)) die_sys(EXIT_TEMP, "unable to write output", 0);
  return rc;
}

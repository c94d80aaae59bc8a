/* report-import: add events to the delivery and error logs from fd 0,
   one a line, TAB-separated (doc/programs/report-import.md): restoring,
   moving between installations, loading test and benchmark data.  BATCH
   events a transaction, through event_add_many (records, indexes,
   counters).  -v prints the number of lines committed after every
   commit; -L prints commit latencies on fd 2 at the end; -k checkpoints
   every SECONDS (a long load keeps its log files bounded).  -S loads in
   key order instead (event_bulk: a large load into a quiet installation;
   PASS events, default a million, sorted in memory at a time; nothing is
   committed durably before the end).
   Environment: CMC_HOME.  Exit 0 done, 100 bad usage or a bad line (the
   lines before its transaction are committed), 111 database trouble. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "die.h"
#include "event.h"
#include "home.h"
#include "io.h"
#include "tbl.h"

#define USAGE "usage: report-import [-b BATCH] [-k SECONDS] [-v] [-L] <events\n" \
  "       report-import -S [-b PASS] <events"
#define LINE_MAX_BYTES 65536
#define FIELDS 17
#define BATCH_MAX 2000          /* the lock table holds a transaction of this many */
#define PASS_DEFAULT 1000000     /* -S: events sorted in memory at a time */
#define PASS_MAX 100000000
#define TRIES 20
#define LAT_MAX 1000000          /* commit latencies kept for -L */

static struct tbl *db;

struct line {
  struct buf b;                   /* the line, TABs replaced by NULs */
  struct event e;
  unsigned long no;
};

static char rbuf[65536];
static size_t rlen, rpos;
static int reof;

/* The next line of fd 0 into b (without LF): 1, 0 at the end, -1. */
static int getln(struct buf *b)
{
  buf_trunc(b, 0);
  for (;;) {
    char *nl;
    if (rpos == rlen) {
      ssize_t n;
      if (reof) return b->len ? 1 : 0;
      n = read_retry(0, rbuf, sizeof rbuf);
      if (n < 0) return -1;
      if (n == 0) {
        reof = 1;
        continue;
      }
      rlen = (size_t)n;
      rpos = 0;
    }
    nl = memchr(rbuf + rpos, '\n', rlen - rpos);
    if (buf_add(b, rbuf + rpos, (nl ? (size_t)(nl - rbuf) : rlen) - rpos) == -1) return -1;
    rpos = nl ? (size_t)(nl - rbuf) + 1 : rlen;
    if (b->len > LINE_MAX_BYTES) return errno = EFBIG, -1;
    if (nl) return 1;
  }
}

static _Noreturn void usage(void)
{
  die(EXIT_PERM, USAGE, 0);
}

static _Noreturn void bad(unsigned long no, const char *why)
{
  char n[32];
  snprintf(n, sizeof n, "line %lu: ", no);
  die(EXIT_PERM, n, why);
}

static void parse(struct line *l)
{
  char *f[FIELDS], *p = l->b.s, *end;
  long long sec;
  unsigned long usec = 0, err = 0;
  int i, st;
  if (memchr(l->b.s, 0, l->b.len)) bad(l->no, "a NUL byte");
  for (i = 0; i < FIELDS; i++) {
    char *tab = strchr(p, '\t');
    f[i] = p;
    if (i < FIELDS - 1) {
      if (!tab) bad(l->no, "fewer than 17 fields");
      *tab = 0;
      p = tab + 1;
    } else if (tab) {
      bad(l->no, "more than 17 fields");
    }
  }
  errno = 0;
  sec = strtoll(f[0], &end, 10);
  if (end == f[0] || errno || sec < 0) bad(l->no, "bad time");
  if (*end == '.') {
    char *u = end + 1;
    usec = strtoul(u, &end, 10);
    if (end == u || end - u > 6) bad(l->no, "bad time");
    for (i = (int)(end - u); i < 6; i++) usec *= 10;
  }
  if (*end) bad(l->no, "bad time");
  if ((st = event_status_parse(f[4])) == -1) bad(l->no, "bad status");
  if (*f[5]) {
    err = strtoul(f[5], &end, 10);
    if (*end || err > 999) bad(l->no, "bad error status");
  }
  memset(&l->e, 0, sizeof l->e);
  l->e.time = sec;
  l->e.usec = (unsigned)usec;
  l->e.tenant = f[1];
  l->e.composition = f[2];
  l->e.id = f[3];
  l->e.status = (enum event_status)st;
  l->e.error = (int)err;
  l->e.message_id = f[6];
  l->e.sender = f[7];
  l->e.from = f[8];
  l->e.rcpt = f[9];
  l->e.subject = f[10];
  l->e.api_data = f[11];
  l->e.reply = f[12];
  l->e.remote = f[13];
  l->e.sender_ip = f[14];
  l->e.source_ip = f[15];
  l->e.user = f[16];
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmpd(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* -S: every line through event_bulk, written in key order at the end. */
static void bulk(struct line *l, unsigned long pass)
{
  struct event_bulk *b;
  unsigned long no = 0;
  double t0 = now_ms(), t1;
  char msg[128];
  int r;
  if (event_bulk_new(&b, db) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
  while ((r = getln(&l->b)) == 1) {
    l->no = ++no;
    parse(l);
    if (event_bulk_add(b, &l->e) == -1) {
      if (errno == EINVAL) bad(l->no, "bad event (tenant, composition or id)");
      die_sys(EXIT_TEMP, "unable to add events", 0);
    }
    if (event_bulk_pending(b) == pass && event_bulk_finish(b) == -1)
      die_sys(EXIT_TEMP, "unable to write the events", 0);
  }
  if (r == -1) die_sys(errno == EFBIG ? EXIT_PERM : EXIT_TEMP, "unable to read input", 0);
  t1 = now_ms();
  /* A large cache takes long to write out: not stuck. */
  tbl_set_stuck(db, 3600);
  if (event_bulk_finish(b) == -1 || tbl_checkpoint(db) == -1)
    die_sys(EXIT_TEMP, "unable to write the events", 0);
  event_bulk_free(b);
  snprintf(msg, sizeof msg, "events=%lu seconds=%.2f rate=%.0f sorted (records %.2f s, the rest %.2f s)",
           no, (now_ms() - t0) / 1e3, no / ((now_ms() - t0) / 1e3 + 1e-9), (t1 - t0) / 1e3,
           (now_ms() - t1) / 1e3);
  warn(msg, 0);
}

int main(int argc, char **argv)
{
  const char *home;
  char dbdir[4096], msg[256];
  struct line *lines;
  struct event *evs;
  unsigned long batch = 100, no = 0, done = 0;
  double *lat = 0, t0, worst = 0;
  size_t nlat = 0, n, i;
  int c, verbose = 0, latency = 0, sorted = 0, batch_set = 0, r, eof = 0;
  long every = 0;
  double last_ck;
  prog = "report-import";
  while ((c = getopt(argc, argv, "b:k:vLS")) != -1) {
    char *end;
    switch (c) {
    case 'b':
      batch = strtoul(optarg, &end, 10);
      if (*end || !*optarg || batch < 1 || batch > PASS_MAX) usage();
      batch_set = 1;
      break;
    case 'k':
      every = strtol(optarg, &end, 10);
      if (*end || !*optarg || every < 1 || every > 86400) usage();
      break;
    case 'v': verbose = 1; break;
    case 'L': latency = 1; break;
    case 'S': sorted = 1; break;
    default: usage();
    }
  }
  if (optind != argc) usage();
  if (sorted && (verbose || every)) usage();
  if (!sorted && batch > BATCH_MAX) usage();
  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if (home_path(dbdir, sizeof dbdir, home, "db") == -1) die(EXIT_PERM, "CMC_HOME too long", 0);
  if (!(lines = calloc(batch, sizeof *lines)) || !(evs = calloc(batch, sizeof *evs)))
    die_sys(EXIT_TEMP, "out of memory", 0);
  if (latency && !(lat = calloc(LAT_MAX, sizeof *lat))) die_sys(EXIT_TEMP, "out of memory", 0);
  if (tbl_open(&db, dbdir, 0) == -1) die_sys(EXIT_TEMP, "unable to open database in ", dbdir);
  t0 = last_ck = now_ms();
  if (sorted) {
    bulk(&lines[0], batch_set ? batch : PASS_DEFAULT);
    tbl_close(db);
    buf_free(&lines[0].b);
    free(lines);
    free(evs);
    free(lat);
    return 0;
  }
  while (!eof) {
    struct tbl_txn *x;
    double a;
    int tries;
    for (n = 0; n < batch; n++) {
      r = getln(&lines[n].b);
      if (r == -1) die_sys(errno == EFBIG ? EXIT_PERM : EXIT_TEMP, "unable to read input", 0);
      if (r == 0) {
        eof = 1;
        break;
      }
      lines[n].no = ++no;
      parse(&lines[n]);
    }
    if (!n) break;
    a = now_ms();
    for (tries = 0;; tries++) {
      if (tbl_begin(db, &x) == -1) die_sys(EXIT_TEMP, "unable to begin a transaction", 0);
      for (i = 0; i < n; i++) evs[i] = lines[i].e;
      r = event_add_many(db, x, evs, n);
      if (r == -1 && errno == EINVAL) {
        /* which one: each alone, inside this transaction (aborted anyway) */
        for (i = 0; i < n; i++)
          if (event_add(db, x, &lines[i].e) == -1 && errno == EINVAL)
            bad(lines[i].no, "bad event (tenant, composition or id)");
        errno = EINVAL;
      }
      if (r == 0 && tbl_commit(x) == 0) break;
      if (r != 0) tbl_abort(x);
      if (errno == EINVAL) die(EXIT_PERM, "bad event", 0);
      if (errno != EDEADLK || tries == TRIES) {
        if (*tbl_lasterror(db)) warn("Berkeley DB: ", tbl_lasterror(db));
        die_sys(EXIT_TEMP, "unable to add events", 0);
      }
    }
    a = now_ms() - a;
    if (a > worst) worst = a;
    if (lat && nlat < LAT_MAX) lat[nlat++] = a;
    done += n;
    if (every && now_ms() - last_ck > (double)every * 1e3) {
      /* A checkpoint of a large cache may take minutes: not "stuck". */
      tbl_set_stuck(db, 3600);
      if (tbl_checkpoint(db) == -1) die_sys(EXIT_TEMP, "unable to checkpoint", 0);
      tbl_set_stuck(db, 0);
      last_ck = now_ms();
    }
    if (verbose) {
      int m = snprintf(msg, sizeof msg, "%lu\n", done);
      if (write_all(1, msg, (size_t)m) == -1) die_sys(EXIT_TEMP, "unable to write output", 0);
    }
  }
  if (latency) {
    double secs = (now_ms() - t0) / 1e3;
    qsort(lat, nlat, sizeof *lat, cmpd);
    snprintf(msg, sizeof msg,
             "events=%lu seconds=%.2f rate=%.0f commits=%zu commit_ms_p50=%.2f p99=%.2f max=%.2f",
             done, secs, secs > 0 ? (double)done / secs : 0.0, nlat,
             nlat ? lat[nlat / 2] : 0.0, nlat ? lat[nlat * 99 / 100] : 0.0, worst);
    warn(msg, 0);
  }
  /* Write the cache out now, with time for it (a large cache takes long):
     closing would do it too, without the time. */
  tbl_set_stuck(db, 3600);
  if (done && tbl_checkpoint(db) == -1) die_sys(EXIT_TEMP, "unable to checkpoint", 0);
  tbl_close(db);
  for (i = 0; i < batch; i++) buf_free(&lines[i].b);
  free(lines);
  free(evs);
  free(lat);
  return 0;
}

/* purge-reports: removes report data older than the retention (40 days)
   from db/: events with their index entries, then the minute and domain
   counters; daily statistics after a longer retention (400 days).  A day
   at a time, oldest first, in the time zone of each tenant (setting
   "timezone", default Asia/Tokyo), in transactions of BATCH events so
   that writers never wait long; safe to run at any moment and twice (a
   second run finds nothing, a concurrent one waits for the lock and then
   finds nothing).  Never touches the spool, nor the events of a message
   deliver still has in its queue; from the spool only the unmatched mail
   of spool/unmatched/ past the same retention (-u DAYS, 0 keeps it).
   One line per day and tenant on fd 2
   (doc/programs/purge-reports.md).  Environment: CMC_HOME.
   Exit 0 done, 100 bad usage, 111 database trouble. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "die.h"
#include "dqdb.h"
#include "event.h"
#include "home.h"
#include "report.h"
#include "tbl.h"
#include "tenant.h"

#define USAGE "usage: purge-reports [-d DAYS] [-s STATDAYS] [-u DAYS] [-b BATCH] [-n] [-T NOW] [TENANT ...]"
#define DAYS_DEFAULT 40
#define STATDAYS_DEFAULT 400
#define BATCH_DEFAULT 1000       /* events a transaction, at most */
#define BATCH_MIN 10
#define TXN_MS 40.0               /* the time a purge transaction aims at */
#define STAT_BATCH 1000

static struct tbl *db;
static long days = DAYS_DEFAULT, statdays = STATDAYS_DEFAULT, udays = -1;
static size_t batch = BATCH_DEFAULT;
static int dry;
static long long now_t;
static double worst;              /* the longest transaction, ms */

static _Noreturn void usage(void)
{
  die(EXIT_PERM, USAGE, 0);
}

static _Noreturn void fail(const char *what, const char *arg)
{
  int e = errno;
  if (*tbl_lasterror(db)) warn("Berkeley DB: ", tbl_lasterror(db));
  errno = e;
  die_sys(EXIT_TEMP, what, arg);
}

static double ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
  char line[512];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  (void)!write(2, line, (size_t)n);
}

/* The events of a message deliver still has stay (its table "queue"). */
static int keep(void *ctx, const char *id)
{
  struct buf v = BUF_ZERO;
  int r;
  (void)ctx;
  r = tbl_get(db, 0, DQDB_TABLE, id, strlen(id), &v);
  buf_free(&v);
  return r == -1 ? -1 : r == 0;
}

/* Local midnight n days before today's (in the time zone set). */
static long long midnight_before(long n)
{
  long long b[1];
  int y, m, d;
  if (report_date(now_t, &y, &m, &d) == -1 || report_days(y, m, d - (int)n, 0, b) == -1)
    die(EXIT_TEMP, "unable to compute a date", 0);
  return b[0];
}

static long long next_midnight(long long t)
{
  long long b[2];
  int y, m, d;
  if (report_date(t, &y, &m, &d) == -1 || report_days(y, m, d, 1, b) == -1)
    die(EXIT_TEMP, "unable to compute a date", 0);
  return b[1];
}

struct count {
  unsigned long long n;
};

static int count_one(void *ctx, const struct event *e)
{
  (void)e;
  ((struct count *)ctx)->n++;
  return 0;
}

static void purge_comp(const char *tenant, const char *comp, long long cutoff)
{
  struct event_purge p;
  long long oldest;
  char day[32];
  size_t n = batch < 50 ? batch : 50;
  int r;
  memset(&p, 0, sizeof p);
  for (;;) {
    long long before;
    size_t removed0 = p.removed, kept0 = p.kept, addr0 = p.addresses, msg0 = p.messages;
    double t0 = ms(), dayworst = 0;
    r = event_oldest(db, tenant, comp, &p, &oldest);
    if (r == -1) fail("unable to read the events of ", tenant);
    if (r == 1 || oldest >= cutoff) break;
    before = next_midnight(oldest);
    if (before > cutoff) before = cutoff;
    report_time_text(oldest, 0, 1, day, sizeof day);
    do {
      double a = ms(), d;
      r = event_purge(db, tenant, comp, before, n, keep, 0, &p);
      d = ms() - a;
      if (d > dayworst) dayworst = d;
      if (r == -1) fail("unable to purge the events of ", tenant);
      /* Transactions of about TXN_MS: a writer that needs a page we hold
         waits that long at most.  Fewer events when slow, more when quick. */
      if (d > TXN_MS && n > BATCH_MIN) n = n / 2 > BATCH_MIN ? n / 2 : BATCH_MIN;
      else if (d < TXN_MS / 3 && n < batch) n = n + n / 4 + 1 < batch ? n + n / 4 + 1 : batch;
    } while (r == 1);
    if (dayworst > worst) worst = dayworst;
    say("purge tenant=%s comp=%s day=%s events=%zu kept=%zu addresses=%zu messages=%zu"
        " seconds=%.2f max_txn_ms=%.1f",
        tenant, comp, day, p.removed - removed0, p.kept - kept0, p.addresses - addr0,
        p.messages - msg0, (ms() - t0) / 1e3, dayworst);
  }
}

static int comp_one(void *ctx, const char *comp)
{
  struct buf *b = ctx;
  return buf_addz(b, comp) == -1 ? -1 : 0;
}

static void stats(const char *tenant, int kind, long long before, const char *what)
{
  size_t removed = 0;
  int r;
  if (dry) return;
  do {
    double a = ms(), d;
    r = event_stat_purge(db, tenant, kind, before, STAT_BATCH, &removed);
    d = ms() - a;
    if (d > worst) worst = d;
    if (r == -1) fail("unable to purge the counters of ", tenant);
  } while (r == 1);
  if (removed) say("purge tenant=%s %s=%zu", tenant, what, removed);
}

static int purge_tenant(void *ctx, const char *tenant)
{
  struct buf zone = BUF_ZERO, comps = BUF_ZERO;
  const char *z = REPORT_ZONE_DEFAULT, *c;
  long long cutoff, statcut;
  int r;
  (void)ctx;
  /* The tenant's days: its time zone, for the whole process while it is purged. */
  r = tenant_name_ok(tenant) ? tenant_get(db, tenant, "default", "timezone", &zone) : 1;
  if (r == -1) fail("unable to read the settings of ", tenant);
  if (r == 0) {
    if (report_zone_ok(REPORT_ZONEINFO, zone.s)) z = zone.s;
    else warn("unknown time zone, using " REPORT_ZONE_DEFAULT ": ", zone.s);
  }
  if (setenv("TZ", z, 1) == -1) die_sys(EXIT_TEMP, "unable to set TZ", 0);
  tzset();
  /* Kept: today and the days-1 days before it. */
  cutoff = midnight_before(days - 1);
  statcut = midnight_before(statdays - 1);
  if (dry) {
    struct count n = { 0 };
    char day[32];
    if (event_range(db, tenant, 0, cutoff - 1, 0, count_one, &n) == -1)
      fail("unable to read the events of ", tenant);
    report_time_text(cutoff, 0, 1, day, sizeof day);
    say("purge tenant=%s before=%s events=%llu dry-run", tenant, day, n.n);
    buf_free(&zone);
    return 0;
  }
  if (event_comps(db, tenant, comp_one, &comps) == -1) fail("unable to list the compositions of ", tenant);
  for (c = comps.s; c && c < comps.s + comps.len; c += strlen(c) + 1) purge_comp(tenant, c, cutoff);
  stats(tenant, EVENT_SLOT_MINUTE, cutoff, "minute_rows");
  stats(tenant, EVENT_SLOT_DOMAIN, cutoff, "domain_rows");
  stats(tenant, EVENT_SLOT_QUARTER, statcut, "statistics_rows");
  buf_free(&zone);
  buf_free(&comps);
  return 0;
}

/* spool/unmatched/: mail the receiving server could not match to a
   message, kept for the operator to look at (doc/bounces.md).  It is
   report data too: files last changed more than udays days ago go.  Not
   queued mail: nothing in the queue refers to these files. */
static void unmatched(const char *home)
{
  char dir[4096];
  struct dirent *d;
  struct stat st;
  DIR *dp;
  size_t n = 0, bytes = 0;
  long long cut = now_t - (long long)udays * 86400;
  if (home_path(dir, sizeof dir, home, "spool/unmatched") == -1) die(EXIT_PERM, "CMC_HOME too long", 0);
  dp = opendir(dir);
  if (!dp) {
    if (errno == ENOENT) return;
    die_sys(EXIT_TEMP, "unable to open ", dir);
  }
  for (;;) {
    errno = 0;
    if (!(d = readdir(dp))) break;
    if (d->d_name[0] == '.') continue;
    if (fstatat(dirfd(dp), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
      if (errno == ENOENT) continue;
      die_sys(EXIT_TEMP, "unable to stat a file in ", dir);
    }
    if (!S_ISREG(st.st_mode) || (long long)st.st_mtime >= cut) continue;
    if (!dry && unlinkat(dirfd(dp), d->d_name, 0) == -1) {
      if (errno == ENOENT) continue;
      die_sys(EXIT_TEMP, "unable to remove a file in ", dir);
    }
    n++;
    bytes += (size_t)st.st_size;
  }
  if (errno) die_sys(EXIT_TEMP, "unable to read ", dir);
  closedir(dp);
  if (n) say("purge unmatched=%zu bytes=%zu%s", n, bytes, dry ? " dry-run" : "");
}

static long num(const char *s, long lo, long hi)
{
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (!*s || *end || errno || v < lo || v > hi) usage();
  return v;
}

int main(int argc, char **argv)
{
  const char *home;
  char dbdir[4096], lock[4096];
  int c, fd, i;
  prog = "purge-reports";
  now_t = (long long)time(0);
  while ((c = getopt(argc, argv, "d:s:u:b:nT:")) != -1) {
    switch (c) {
    case 'd': days = num(optarg, 1, 100000); break;
    case 's': statdays = num(optarg, 1, 100000); break;
    case 'u': udays = num(optarg, 0, 100000); break;
    case 'b': batch = (size_t)num(optarg, 1, 100000); break;
    case 'n': dry = 1; break;
    case 'T': now_t = num(optarg, 0, 99999999999L); break;
    default: usage();
    }
  }
  if (statdays < days) statdays = days;
  if (udays == -1) udays = days;
  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if (home_path(dbdir, sizeof dbdir, home, "db") == -1
      || home_path(lock, sizeof lock, home, "db/purge-reports.lock") == -1)
    die(EXIT_PERM, "CMC_HOME too long", 0);
  /* One purge at a time: a second one waits, then finds nothing to do. */
  fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
  if (fd == -1) die_sys(EXIT_TEMP, "unable to open ", lock);
  if (flock(fd, LOCK_EX) == -1) die_sys(EXIT_TEMP, "unable to lock ", lock);
  if (tbl_open(&db, dbdir, 0) == -1) die_sys(EXIT_TEMP, "unable to open database in ", dbdir);
  if (optind < argc) {
    for (i = optind; i < argc; i++) {
      if (!tenant_name_ok(argv[i])) die(EXIT_PERM, "bad tenant name: ", argv[i]);
      purge_tenant(0, argv[i]);
    }
  } else if (event_tenants(db, purge_tenant, 0) == -1) {
    fail("unable to list the tenants with report data", 0);
  }
  /* Only in a run over all tenants: the files are not sorted by tenant. */
  if (optind == argc && udays) unmatched(home);
  if (!dry) say("purge done max_txn_ms=%.1f", worst);
  /* Make the lazy commits durable now; the checkpoint service would too. */
  tbl_set_stuck(db, 3600);         /* a large cache takes long to write out */
  if (!dry && tbl_checkpoint(db) == -1) fail("unable to checkpoint", 0);
  tbl_close(db);
  close(fd);
  return 0;
}

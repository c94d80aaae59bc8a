/* report: the delivery and error logs, statistics, destination domains
   and the error and delivery graphs of one tenant, from the shell, as a
   table, CSV or JSON on fd 1 (doc/programs/report.md; the library is
   lib/report.h, which the CGI programs call too).  Dates are the tenant's
   (setting "timezone", default Asia/Tokyo) unless -z says otherwise.
   Environment: CMC_HOME.  Exit 0 done, 100 bad usage or unknown tenant
   (verify: differences found), 111 database trouble. */
#include <errno.h>
#include <getopt.h>
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
#include "report.h"
#include "tbl.h"
#include "tenant.h"

#define USAGE "usage: report deliveries|errors|stats|domains|errorgraph|deliverygraph|verify TENANT [options]\n" \
  "  -c COMP -u USER -z ZONE -f table|csv|json|events -a\n" \
  "  -d DATE [-H HOUR [-M MIN]] | -s START [-e END | -P PERIOD] | -m YYYY-MM\n" \
  "  -p PAGE -r ROWS --oldest --plan --total --step STEP --unit overall|domain|status\n" \
  "  --to A --from A --sender A --api-data T --subject T --message-id M --id ID\n" \
  "  --domain D --status S --error N --full to|from|sender|api_data"
#define OUT_FLUSH 65536
#define POINTS_MAX 100000         /* rows of a graph or of daily statistics */

static struct tbl *db;
static struct buf out;
static enum report_format fmt = REPORT_TABLE;
static int as_events;             /* -f events: report-import's input format */

static _Noreturn void usage(void)
{
  die(EXIT_PERM, USAGE, 0);
}

static _Noreturn void fail(const char *what, const char *arg)
{
  int e = errno;
  const char *m = db ? tbl_lasterror(db) : "";
  if (*m) warn("Berkeley DB: ", m);
  errno = e;
  die_sys(e == EINVAL ? EXIT_PERM : EXIT_TEMP, what, arg);
}

static void flush(int force)
{
  if (out.len < OUT_FLUSH && !force) return;
  if (write_all(1, out.s, out.len) == -1) die_sys(EXIT_TEMP, "unable to write output", 0);
  buf_trunc(&out, 0);
}

static void nomem(int r)
{
  if (r == -1) die_sys(EXIT_TEMP, "unable to format output", 0);
}

/* ---------- options ---------- */

struct opts {
  const char *comp, *user, *zone, *date, *start, *end, *month, *period, *step, *unit;
  int hour, minute, all, oldest, plan, total;
  struct report_query q;
};

static long long num(const char *s, long long lo, long long hi, const char *what)
{
  char *end;
  long long v;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (!*s || *end || errno || v < lo || v > hi) die(EXIT_PERM, what, s);
  return v;
}

static void full(struct report_query *q, const char *s)
{
  char f[64];
  const char *p = s;
  while (*p) {
    size_t n = strcspn(p, ",");
    if (n >= sizeof f) die(EXIT_PERM, "bad --full field: ", s);
    memcpy(f, p, n);
    f[n] = 0;
    if (!strcmp(f, "to")) q->full |= REPORT_FULL_RCPT;
    else if (!strcmp(f, "from")) q->full |= REPORT_FULL_FROM;
    else if (!strcmp(f, "sender")) q->full |= REPORT_FULL_SENDER;
    else if (!strcmp(f, "api_data")) q->full |= REPORT_FULL_API_DATA;
    else die(EXIT_PERM, "bad --full field: ", f);
    p += n;
    if (*p) p++;
  }
}

static void parse(int argc, char **argv, struct opts *o)
{
  enum { O_TO = 256, O_FROM, O_SENDER, O_API, O_SUBJ, O_MID, O_ID, O_DOMAIN, O_STATUS,
         O_ERROR, O_FULL, O_OLDEST, O_PLAN, O_TOTAL, O_STEP, O_UNIT };
  static const struct option lo[] = {
    { "to", 1, 0, O_TO }, { "from", 1, 0, O_FROM }, { "sender", 1, 0, O_SENDER },
    { "api-data", 1, 0, O_API }, { "subject", 1, 0, O_SUBJ }, { "message-id", 1, 0, O_MID },
    { "id", 1, 0, O_ID }, { "domain", 1, 0, O_DOMAIN }, { "status", 1, 0, O_STATUS },
    { "error", 1, 0, O_ERROR }, { "full", 1, 0, O_FULL }, { "oldest", 0, 0, O_OLDEST },
    { "plan", 0, 0, O_PLAN }, { "total", 0, 0, O_TOTAL }, { "step", 1, 0, O_STEP },
    { "unit", 1, 0, O_UNIT }, { 0, 0, 0, 0 }
  };
  int c;
  o->hour = o->minute = -1;
  o->q.rows = 10;
  while ((c = getopt_long(argc, argv, "c:u:z:f:ad:H:M:s:e:P:m:p:r:", lo, 0)) != -1) {
    switch (c) {
    case 'c': o->comp = optarg; break;
    case 'u': o->user = optarg; break;
    case 'z': o->zone = optarg; break;
    case 'f':
      if (!strcmp(optarg, "events")) {
        as_events = 1;
        break;
      }
      if ((c = report_format_parse(optarg)) == -1) die(EXIT_PERM, "bad format: ", optarg);
      fmt = (enum report_format)c;
      break;
    case 'a': o->all = 1; break;
    case 'd': o->date = optarg; break;
    case 'H': o->hour = (int)num(optarg, 0, 23, "bad hour: "); break;
    case 'M': o->minute = (int)num(optarg, 0, 59, "bad minute: "); break;
    case 's': o->start = optarg; break;
    case 'e': o->end = optarg; break;
    case 'P': o->period = optarg; break;
    case 'm': o->month = optarg; break;
    case 'p': o->q.page = (size_t)num(optarg, 0, 1000000000, "bad page: "); break;
    case 'r': o->q.rows = (size_t)num(optarg, 0, REPORT_ROWS_MAX, "bad rows: "); break;
    case O_TO: o->q.rcpt = optarg; break;
    case O_FROM: o->q.from_addr = optarg; break;
    case O_SENDER: o->q.sender = optarg; break;
    case O_API: o->q.api_data = optarg; break;
    case O_SUBJ: o->q.subject = optarg; break;
    case O_MID: o->q.message_id = optarg; break;
    case O_ID: o->q.id = optarg; break;
    case O_DOMAIN: o->q.domain = optarg; break;
    case O_STATUS:
      if ((o->q.status = event_status_parse(optarg)) == -1) die(EXIT_PERM, "bad status: ", optarg);
      break;
    case O_ERROR: o->q.error = (int)num(optarg, 1, 999, "bad error status: "); break;
    case O_FULL: full(&o->q, optarg); break;
    case O_OLDEST: o->oldest = 1; break;
    case O_PLAN: o->plan = 1; break;
    case O_TOTAL: o->total = 1; break;
    case O_STEP: o->step = optarg; break;
    case O_UNIT: o->unit = optarg; break;
    default: usage();
    }
  }
  if (o->comp && !tenant_comp_ok(o->comp)) die(EXIT_PERM, "bad composition: ", o->comp);
  if (o->minute >= 0 && o->hour < 0) die(EXIT_PERM, "-M needs -H", 0);
  if (o->hour >= 0 && !o->date) die(EXIT_PERM, "-H needs -d", 0);
}

/* The time zone: -z, else the tenant's setting, else the default.  Set
   once for the whole process (lib/report.h works in local time). */
static void zone(const char *tenant, const char *z)
{
  struct buf v = BUF_ZERO;
  const char *name = z;
  if (!name) {
    int r = tenant_get(db, tenant, "default", "timezone", &v);
    if (r == -1) fail("unable to read the time zone of ", tenant);
    name = r == 0 ? v.s : REPORT_ZONE_DEFAULT;
    if (r == 0 && !report_zone_ok(REPORT_ZONEINFO, name)) {
      warn("unknown time zone in the tenant's settings, using " REPORT_ZONE_DEFAULT ": ", name);
      name = REPORT_ZONE_DEFAULT;
    }
  } else if (!report_zone_ok(REPORT_ZONEINFO, name)) {
    die(EXIT_PERM, "unknown time zone: ", name);
  }
  if (setenv("TZ", name, 1) == -1) die_sys(EXIT_TEMP, "unable to set TZ", 0);
  tzset();
  buf_free(&v);
}

static long long when(const char *s)
{
  long long t;
  if (report_parse_time(s, &t) == -1) die(EXIT_PERM, "bad date: ", s);
  return t;
}

/* One past the end named by s: a date means its end, a time itself. */
static long long until(const char *s)
{
  long long t = when(s);
  int y, m, d;
  if (strlen(s) > 10) return t;
  if (report_date(t, &y, &m, &d) == -1) die(EXIT_PERM, "bad date: ", s);
  {
    long long b[2];
    if (report_days(y, m, d, 1, b) == -1) die(EXIT_PERM, "bad date: ", s);
    return b[1];
  }
}

/* The range the options name: -d [-H [-M]], -s [-e | -P], -m, or today. */
static void range(const struct opts *o, long long *from, long long *to)
{
  long long b[2], p;
  int y, m, d;
  if (o->date) {
    *from = when(o->date);
    if (strlen(o->date) != 10) die(EXIT_PERM, "-d takes a date: ", o->date);
    *to = until(o->date);
    if (o->hour >= 0) {
      char s[64];
      snprintf(s, sizeof s, "%.10s %02d:%02d", o->date, o->hour, o->minute >= 0 ? o->minute : 0);
      *from = when(s);
      *to = *from + (o->minute >= 0 ? 60 : 3600);
    }
  } else if (o->month) {
    char s[16];
    if (strlen(o->month) != 7) die(EXIT_PERM, "bad month: ", o->month);
    snprintf(s, sizeof s, "%s-01", o->month);
    *from = when(s);
    if (report_date(*from, &y, &m, &d) == -1 || report_days(y, m + 1, 1, 0, b) == -1)
      die(EXIT_PERM, "bad month: ", o->month);
    *to = b[0];
  } else if (o->start) {
    *from = when(o->start);
    if (o->end) *to = until(o->end);
    else if (o->period) {
      if (report_parse_period(o->period, &p) == -1) die(EXIT_PERM, "bad period: ", o->period);
      *to = *from + p;
    } else {
      *to = until(o->start);
      if (strlen(o->start) > 10) *to = *from + 86400;
    }
  } else {
    if (report_date((long long)time(0), &y, &m, &d) == -1 || report_days(y, m, d, 1, b) == -1)
      die(EXIT_TEMP, "unable to find today", 0);
    *from = b[0];
    *to = b[1];
  }
  if (*to <= *from) die(EXIT_PERM, "the end is not after the start", 0);
  if (*to - *from > 400LL * 86400) die(EXIT_PERM, "a range is at most 400 days", 0);
}

/* ---------- the logs ---------- */

struct logs {
  struct report_out o;
  int errors, all;
};

/* One field of an event line: TAB and line ends become spaces. */
static void field(const char *s, int last)
{
  for (; *s; s++) nomem(buf_addc(&out, *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s));
  nomem(buf_addc(&out, last ? '\n' : '\t'));
}

static int show(void *ctx, const struct event *e)
{
  struct logs *l = ctx;
  const char *vals[REPORT_LOG_COLS_MAX];
  char scratch[64];
  if (as_events) {
    char err[16];
    snprintf(err, sizeof err, "%d", e->error);
    nomem(buf_printf(&out, "%lld.%06u\t", e->time, e->usec));
    field(e->tenant, 0); field(e->composition, 0); field(e->id, 0);
    field(event_status_name(e->status), 0); field(e->error ? err : "", 0);
    field(e->message_id, 0); field(e->sender, 0); field(e->from, 0); field(e->rcpt, 0);
    field(e->subject, 0); field(e->api_data, 0); field(e->reply, 0); field(e->remote, 0);
    field(e->sender_ip, 0); field(e->source_ip, 0); field(e->user, 1);
    flush(0);
    return 0;
  }
  report_log_row(l->errors, l->all, e, scratch, sizeof scratch, vals);
  nomem(report_out_row(&l->o, vals));
  flush(0);
  return 0;
}

static double ms_since(const struct timespec *a)
{
  struct timespec b;
  clock_gettime(CLOCK_MONOTONIC, &b);
  return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void cmd_logs(const char *tenant, struct opts *o, int errors)
{
  struct logs l;
  const char *cols[REPORT_LOG_COLS_MAX];
  struct report_plan pl;
  struct timespec t0;
  size_t n;
  int more = 0;
  char msg[128];
  memset(&l, 0, sizeof l);
  l.errors = errors;
  l.all = o->all;
  o->q.tenant = tenant;
  o->q.comp = o->comp;
  o->q.user = o->user;
  o->q.errors = errors;
  o->q.oldest_first = o->oldest;
  range(o, &o->q.from, &o->q.to);
  n = report_log_cols(errors, o->all, cols);
  if (!as_events)
    nomem(report_out_begin(&l.o, &out, fmt, errors ? "bounces" : "deliveries", cols, 0, n));
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (report_list(db, &o->q, show, &l, &more, &pl) == -1) fail("unable to search the log of ", tenant);
  if (!as_events) nomem(report_out_end(&l.o));
  if (o->plan) {
    snprintf(msg, sizeof msg, "plan=%s ranges=%zu rows=%zu more=%d ms=%.2f", pl.path, pl.ranges,
             l.o.rows, more, ms_since(&t0));
    warn(msg, 0);
  }
  if (more && fmt == REPORT_TABLE && isatty(2)) warn("more rows on the next page (-p)", 0);
}

/* ---------- statistics and graphs ---------- */

static const char *const stat_cols[] = {
  "date", "queued", "succeeded", "failed", "deferred", "blocked", "valid", "errorRate"
};
static const int stat_num[] = { 0, 1, 1, 1, 1, 1, 1, 1 };

static void stat_row(struct report_out *ro, const char *label, const struct event_counts *c)
{
  char v[8][32];
  const char *vals[8];
  unsigned long long valid = report_valid(c);
  int i;
  snprintf(v[0], sizeof v[0], "%s", label);
  snprintf(v[1], sizeof v[1], "%llu", c->n[EVC_QUEUED]);
  snprintf(v[2], sizeof v[2], "%llu", c->n[EVC_SUCCEEDED]);
  snprintf(v[3], sizeof v[3], "%llu", c->n[EVC_FAILED]);
  snprintf(v[4], sizeof v[4], "%llu", c->n[EVC_DEFERRED]);
  snprintf(v[5], sizeof v[5], "%llu", c->n[EVC_BLOCKED]);
  snprintf(v[6], sizeof v[6], "%llu", valid);
  /* error rate: errors / (delivered + errors), console.md 7.6, in percent */
  snprintf(v[7], sizeof v[7], "%.2f", valid ? 100.0 * (double)c->n[EVC_FAILED] / (double)valid : 0.0);
  for (i = 0; i < 8; i++) vals[i] = v[i];
  nomem(report_out_row(ro, vals));
}

static long long *day_bounds(long long from, long long to, size_t *n)
{
  long long *b;
  int y, m, d;
  size_t k = (size_t)((to - from) / 86400) + 2;
  if (report_date(from, &y, &m, &d) == -1) die(EXIT_PERM, "bad date", 0);
  if (k > POINTS_MAX || !(b = calloc(k + 1, sizeof *b))) die(EXIT_TEMP, "out of memory", 0);
  if (report_days(y, m, d, k, b) == -1) die(EXIT_PERM, "bad date", 0);
  for (*n = 0; *n < k && b[*n] < to; (*n)++) {}
  b[*n] = to;
  return b;
}

static void cmd_stats(const char *tenant, const struct opts *o)
{
  struct report_out ro;
  struct event_counts *c, total;
  long long from, to, *b;
  size_t n, i, j;
  char label[32];
  range(o, &from, &to);
  b = day_bounds(from, to, &n);
  if (!(c = calloc(n, sizeof *c))) die(EXIT_TEMP, "out of memory", 0);
  if (report_stats(db, tenant, o->comp, o->user, b, n, c) == -1)
    fail("unable to read the statistics of ", tenant);
  nomem(report_out_begin(&ro, &out, fmt, "statistics", stat_cols, stat_num, 8));
  memset(&total, 0, sizeof total);
  for (i = 0; i < n; i++) {
    for (j = 0; j < EVC_N; j++) total.n[j] += c[i].n[j];
    if (o->total) continue;
    report_time_text(b[i], 0, 1, label, sizeof label);
    stat_row(&ro, label, &c[i]);
  }
  if (o->total) stat_row(&ro, "total", &total);
  nomem(report_out_end(&ro));
  free(b);
  free(c);
}

static void cmd_domains(const char *tenant, const struct opts *o)
{
  static const char *const cols[] = {
    "domain", "queued", "succeeded", "failed", "deferred", "blocked", "valid", "errorRate"
  };
  struct report_domain *d;
  struct report_out ro;
  long long from, to;
  size_t n, i;
  range(o, &from, &to);
  if (report_domains(db, tenant, o->comp, o->user, from, to, o->q.domain, &d, &n) == -1)
    fail("unable to read the domains of ", tenant);
  nomem(report_out_begin(&ro, &out, fmt, "domains", cols, stat_num, 8));
  for (i = 0; i < n; i++) {
    stat_row(&ro, d[i].domain, &d[i].c);
    flush(0);
  }
  nomem(report_out_end(&ro));
  report_domains_free(d, n);
}

static unsigned long long failures(const struct event_counts *c)
{
  unsigned long long s = 0;
  int i;
  for (i = 0; i < EVC_NERR; i++) s += c->n[EVC_ERR + i];
  return s;
}

static void by_status(struct report_out *ro, const struct event_counts *c)
{
  char code[16], n[32];
  const char *vals[2] = { code, n };
  int i;
  for (i = 0; i < EVC_NERR; i++) {
    snprintf(code, sizeof code, "%d", event_err_code(i));
    snprintf(n, sizeof n, "%llu", c->n[EVC_ERR + i]);
    nomem(report_out_row(ro, vals));
  }
}

static void cmd_errorgraph(const char *tenant, const struct opts *o)
{
  static const char *const scols[] = { "status", "count" }, *const dcols[] = { "domain", "count" };
  static const int nums[] = { 0, 1 };
  const char *unit = o->unit ? o->unit : "overall";
  struct report_out ro;
  struct event_counts c;
  long long from, to, b[2];
  char n[32];
  const char *vals[2];
  int i;
  range(o, &from, &to);
  if (!strcmp(unit, "overall") || (!strcmp(unit, "domain") && o->q.domain)
      || (!strcmp(unit, "status") && !o->q.error)) {
    struct report_domain *d = 0;
    size_t nd = 0;
    if (!strcmp(unit, "domain")) {
      /* one destination domain, by error status */
      if (report_domains(db, tenant, o->comp, o->user, from, to, o->q.domain, &d, &nd) == -1)
        fail("unable to read the domains of ", tenant);
      memset(&c, 0, sizeof c);
      if (nd) c = d[0].c;
      report_domains_free(d, nd);
    } else {
      b[0] = from - from % EVENT_MINUTE;
      b[1] = to + (EVENT_MINUTE - to % EVENT_MINUTE) % EVENT_MINUTE;
      if (report_stats(db, tenant, o->comp, o->user, b, 1, &c) == -1)
        fail("unable to read the statistics of ", tenant);
    }
    nomem(report_out_begin(&ro, &out, fmt, "errorgraph", scols, nums, 2));
    by_status(&ro, &c);
  } else if (!strcmp(unit, "domain") || !strcmp(unit, "status")) {
    /* errors per destination domain: all of them, or of one status */
    struct report_domain *d;
    size_t nd, k;
    if (report_domains(db, tenant, o->comp, o->user, from, to, 0, &d, &nd) == -1)
      fail("unable to read the domains of ", tenant);
    nomem(report_out_begin(&ro, &out, fmt, "errorgraph", dcols, nums, 2));
    i = event_err_index(o->q.error);
    for (k = 0; k < nd; k++) {
      unsigned long long x = o->q.error ? d[k].c.n[EVC_ERR + i] : failures(&d[k].c);
      if (!x) continue;
      snprintf(n, sizeof n, "%llu", x);
      vals[0] = d[k].domain;
      vals[1] = n;
      nomem(report_out_row(&ro, vals));
    }
    report_domains_free(d, nd);
  } else {
    die(EXIT_PERM, "bad unit: ", unit);
  }
  nomem(report_out_end(&ro));
}

static void cmd_deliverygraph(const char *tenant, const struct opts *o)
{
  static const char *const cols[] = { "time", "queued", "succeeded", "failed", "deferred" };
  static const int nums[] = { 0, 1, 1, 1, 1 };
  struct report_out ro;
  struct event_counts *c;
  long long from, to, step = 60, *b;
  size_t n, i;
  char v[5][32];
  const char *vals[5];
  range(o, &from, &to);
  if (o->step && report_parse_period(o->step, &step) == -1) die(EXIT_PERM, "bad step: ", o->step);
  from -= from % EVENT_MINUTE;
  if ((to - from) / step + 1 > POINTS_MAX) die(EXIT_PERM, "too many points: a larger --step", 0);
  n = (size_t)((to - from + step - 1) / step);
  if (!(b = calloc(n + 1, sizeof *b)) || !(c = calloc(n, sizeof *c))) die(EXIT_TEMP, "out of memory", 0);
  for (i = 0; i <= n; i++) b[i] = from + (long long)i * step;
  if (report_stats(db, tenant, o->comp, o->user, b, n, c) == -1)
    fail("unable to read the statistics of ", tenant);
  nomem(report_out_begin(&ro, &out, fmt, "deliverygraph", cols, nums, 5));
  for (i = 0; i < n; i++) {
    report_time_text(b[i], 0, 0, v[0], sizeof v[0]);
    snprintf(v[1], sizeof v[1], "%llu", c[i].n[EVC_QUEUED]);
    snprintf(v[2], sizeof v[2], "%llu", c[i].n[EVC_SUCCEEDED]);
    snprintf(v[3], sizeof v[3], "%llu", failures(&c[i]));
    snprintf(v[4], sizeof v[4], "%llu", c[i].n[EVC_DEFERRED]);
    vals[0] = v[0]; vals[1] = v[1]; vals[2] = v[2]; vals[3] = v[3]; vals[4] = v[4];
    nomem(report_out_row(&ro, vals));
    flush(0);
  }
  nomem(report_out_end(&ro));
  free(b);
  free(c);
}

struct oldest {
  long long t;
  int found;
};

static int oldest_one(void *ctx, const struct event *e)
{
  struct oldest *o = ctx;
  o->t = e->time;
  o->found = 1;
  return 1;
}

/* Counters are compared from -s (a date, local) or from the oldest event
   on: rows of days already purged have no events left to count. */
static void cmd_verify(const char *tenant, const struct opts *o)
{
  struct event_verify v;
  struct oldest old = { 0, 0 };
  long long from;
  if (o->start) {
    zone(tenant, o->zone);
    from = when(o->start);
  } else {
    if (event_range(db, tenant, 0, 999999999999LL, 0, oldest_one, &old) == -1)
      fail("unable to read the events of ", tenant);
    from = old.found ? old.t - old.t % EVENT_QUARTER : 0;
  }
  if (event_verify(db, tenant, from, 999999999999LL, &v) == -1) fail("unable to verify ", tenant);
  nomem(buf_printf(&out, "events %llu\nmissing %llu\norphans %llu\ncounters %llu\nbad %llu\n",
                   v.events, v.missing, v.orphans, v.counters, v.bad));
  flush(1);
  if (v.missing || v.orphans || v.counters || v.bad)
    die(EXIT_PERM, "the indexes or counters differ from the records of ", tenant);
}

int main(int argc, char **argv)
{
  const char *home, *cmd, *tenant;
  char dbdir[4096];
  struct opts o;
  struct timespec t0;
  int r;
  prog = "report";
  if (argc < 3) usage();
  cmd = argv[1];
  tenant = argv[2];
  memset(&o, 0, sizeof o);
  optind = 3;
  parse(argc, argv, &o);
  if (optind != argc) usage();
  if (!tenant_name_ok(tenant)) die(EXIT_PERM, "bad tenant name: ", tenant);
  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if (home_path(dbdir, sizeof dbdir, home, "db") == -1) die(EXIT_PERM, "CMC_HOME too long", 0);
  if (tbl_open(&db, dbdir, 0) == -1) die_sys(EXIT_TEMP, "unable to open database in ", dbdir);
  if (!strcmp(cmd, "verify")) {
    cmd_verify(tenant, &o);
    buf_free(&out);
    tbl_close(db);
    return 0;
  }
  r = tenant_exists(db, tenant);
  if (r == -1) fail("unable to read tenant ", tenant);
  if (r == 0) die(EXIT_PERM, "no such tenant: ", tenant);
  zone(tenant, o.zone);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (!strcmp(cmd, "deliveries")) cmd_logs(tenant, &o, 0);
  else if (!strcmp(cmd, "errors")) cmd_logs(tenant, &o, 1);
  else if (!strcmp(cmd, "stats")) cmd_stats(tenant, &o);
  else if (!strcmp(cmd, "domains")) cmd_domains(tenant, &o);
  else if (!strcmp(cmd, "errorgraph")) cmd_errorgraph(tenant, &o);
  else if (!strcmp(cmd, "deliverygraph")) cmd_deliverygraph(tenant, &o);
  else usage();
  if (o.plan && strcmp(cmd, "deliveries") && strcmp(cmd, "errors")) {
    char msg[64];
    snprintf(msg, sizeof msg, "ms=%.2f", ms_since(&t0));
    warn(msg, 0);
  }
  flush(1);
  buf_free(&out);
  tbl_close(db);
  return 0;
}

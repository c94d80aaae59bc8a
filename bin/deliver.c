/* deliver: the long-running delivery scheduler (doc/programs/deliver.md).
   Takes messages from $CMC_HOME/spool/new at once (trigger FIFO, and a
   scan every few seconds), records their "queued" events and recipient
   state in db/ (table "queue"), moves them to queue/, and hands due
   recipients, grouped by destination, to worker processes: one fork per
   outgoing connection (lib/dqwork.c; their table: lib/dqpool.c), which
   report one result line per recipient.  Results become events and new state in one transaction; a
   message leaves the spool when every recipient is final.
   Runs in the foreground under s6; SIGTERM: stop workers, exit 0.
   Usage: deliver | deliver -q DOMAIN (print the hosts a domain resolves to).
   Exit 100 bad usage, 111 cannot run (spool, db). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "classify.h"
#include "die.h"
#include "dns.h"
#include "dqbounce.h"
#include "dqdb.h"
#include "dq.h"
#include "dqpool.h"
#include "dqprep.h"
#include "dqsched.h"
#include "dqwork.h"
#include "dsetrun.h"
#include "dsetunsub.h"
#include "home.h"
#include "io.h"
#include "smtpc.h"
#include "tbl.h"
#include "verp.h"

#define USAGE "usage: deliver [-q domain]"
#define SCAN_INTERVAL 5              /* seconds between scans of new/ */
#define MAXPROCS_DEFAULT 20
#define MAXCONN_DEFAULT 5
#define CONNECT_TIMEOUT 30
#define SMTP_TIMEOUT_DEFAULT 300
#define WAIT_MAX 5000                /* ms: longest sleep between looks at the clock */
#define SETTINGS_LOOK_MS 250         /* ms between looks at the settings generation */
#define SETTINGS_WAIT_MS 1000        /* ms: longest sleep, so a change shows within a second */

static struct dqsched q;             /* messages, db, configuration */
static struct dqwork_cfg wcfg;
static struct dqprep_env penv;       /* VERP secret, host name: for the workers */
static struct verp_key verpkey, unsubkey;
static struct dqbounce bq;           /* late bounces: spool/bounce (lib/dqbounce.h) */
static struct classify *cls;         /* reply rules, loaded once, shared by the workers */
static struct dsetrun ds;            /* delivery settings (lib/dsetrun.h), reloaded on change */
static volatile sig_atomic_t yield_now;  /* in a worker: SIGUSR1 came */
static long long wake_ms;            /* a destination's interval ends then (monotonic ms) */
static struct dqpool pool;           /* the running workers (lib/dqpool.h) */
static size_t maxprocs = MAXPROCS_DEFAULT, maxconn = MAXCONN_DEFAULT;
static int selfpipe[2] = { -1, -1 }, trigfd = -1;
static volatile sig_atomic_t got_term;
static int dirty = 1;                /* something changed: plan again */

static void on_signal(int sig)
{
  int e = errno;
  if (sig == SIGTERM || sig == SIGINT) got_term = 1;
  if (write(selfpipe[1], "", 1) == -1) { /* full pipe: a wakeup is pending anyway */ }
  errno = e;
}

/* SIGUSR1, in a worker: finish the current transaction, then stop. */
static void on_yield(int sig)
{
  (void)sig;
  yield_now = 1;
}

static long long mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds east of UTC of time zone tz at time t, for the prohibited
   windows (lib/dsetrun.h): the C library knows zones only through TZ. */
static int tz_offset(const char *tz, long long t, long *off)
{
  const char *old = getenv("TZ");
  char keep[256];
  time_t tt = (time_t)t;
  struct tm tm;
  int had = old != 0, ok;
  if (had) snprintf(keep, sizeof keep, "%s", old);
  if (setenv("TZ", tz, 1) == -1) return -1;
  tzset();
  ok = localtime_r(&tt, &tm) != 0;
  if (had) setenv("TZ", keep, 1);
  else unsetenv("TZ");
  tzset();
  if (!ok) return -1;
  *off = tm.tm_gmtoff;
  return 0;
}

static const char *unsub_name(struct dqsched *qq, const struct dq_msg *m, size_t idx)
{
  return dsetrun_unsub_name(qq->dset, m, idx);
}

/* CMC_FAKE_NOW (tests): the clock prohibited windows see, as unix seconds
   or as an offset (+N, -N seconds).  The offset from the real clock. */
static long long fake_now(void)
{
  const char *s = getenv("CMC_FAKE_NOW");
  char *end;
  long long v;
  if (!s || !*s) return 0;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || *end || end == s) die(EXIT_PERM, "bad value of ", "CMC_FAKE_NOW");
  return *s == '+' || *s == '-' ? v : v - (long long)time(0);
}

static unsigned long envnum(const char *name, unsigned long def, unsigned long min,
                            unsigned long max)
{
  const char *s = getenv(name);
  char *end;
  unsigned long v;
  if (!s || !*s) return def;
  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno || *end || v < min || v > max) die(EXIT_PERM, "bad value of ", name);
  return v;
}

/* deliver -q DOMAIN: show what a worker would try, in order. */
static int query(const char *domain, const struct sockaddr_in *resolver)
{
  struct dns *d;
  struct dns_mx *mx = 0, one;
  size_t nmx = 0, h, i, nip;
  struct dns_ip ip[DNS_IP_MAX];
  char t[INET6_ADDRSTRLEN];
  int rc;
  if (dns_open(&d, resolver, 0, 0) == -1) die_sys(EXIT_TEMP, "unable to start the resolver", 0);
  rc = dns_mx(d, domain, &mx, &nmx);
  if (rc == -1) die_sys(EXIT_TEMP, "unable to look up ", domain);
  if (rc == DNS_NODATA) {
    snprintf(one.host, sizeof one.host, "%s", domain);
    one.pref = 0;
    printf("nomx %s\n", domain);
  } else if (rc != DNS_OK) {
    printf("%s %s\n", rc == DNS_NXDOMAIN ? "nxdomain" : rc == DNS_NULLMX ? "nullmx" : "temp", domain);
    dns_close(d);
    return rc == DNS_TEMP ? EXIT_TEMP : EXIT_PERM;
  }
  for (h = 0; h < (mx ? nmx : 1); h++) {
    const struct dns_mx *m = mx ? &mx[h] : &one;
    printf("mx %u %s\n", m->pref, m->host);
    rc = dns_ip(d, m->host, ip, DNS_IP_MAX, &nip);
    if (rc != DNS_OK) printf("ip %s %s\n", m->host, rc == DNS_TEMP ? "temp" : "none");
    for (i = 0; rc == DNS_OK && i < nip; i++)
      if (dns_ip_fmt(&ip[i], t, sizeof t) == 0) printf("ip %s %s\n", m->host, t);
  }
  free(mx);
  dns_close(d);
  if (fflush(stdout) == EOF) die_sys(EXIT_TEMP, "unable to write output", 0);
  return 0;
}

/* Fork a worker for job; 0, or -1 (the job is then not started). */
static int spawn(struct dqsched_job *sj)
{
  struct dqpool_worker *w;
  int p[2];
  pid_t pid, parent = getpid();
  size_t i;
  w = calloc(1, sizeof *w);
  if (!w) return -1;
  if (pipe(p) == -1) { free(w); return -1; }
  fd_cloexec(p[0]);
  fd_cloexec(p[1]);
  pid = fork();
  if (pid == -1) { close(p[0]); close(p[1]); free(w); return -1; }
  if (pid == 0) {
    /* The worker: no db, no spool changes, only SMTP and its pipe.  It
       dies with deliver: a worker left running after deliver was killed
       would go on sending what the restarted deliver sends again. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent) _exit(EXIT_TEMP);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    yield_now = 0;                   /* SIGUSR1 (on_yield, inherited) sets it */
    close(p[0]);
    close(selfpipe[0]);
    close(selfpipe[1]);
    if (trigfd != -1) close(trigfd);
    for (i = 0; i < pool.n; i++) if (pool.w[i]->fd != -1) close(pool.w[i]->fd);
    _exit(dqwork_run(&wcfg, &sj->job, p[1]) == 0 ? 0 : EXIT_TEMP);
  }
  close(p[1]);
  fd_nonblock(p[0], 1);
  w->pid = pid;
  w->fd = p[0];
  w->key = sj->key;
  w->job = sj->job;
  sj->key = 0;
  sj->job.item = 0;
  sj->job.nitem = 0;
  pool.w[pool.n++] = w;
  return 0;
}

/* Start workers for what is due, within the limits.  The time of the next
   due recipient (or 0) goes to *next. */
static void dispatch(long long now, long long *next)
{
  struct dqsched_plan plan;
  size_t g;
  if (dqsched_plan(&q, now, &plan, next) == -1) {
    warn_sys("unable to plan deliveries", 0);
    return;
  }
  /* A window began while a connection sends mail it holds: stop it. */
  dqpool_windows(&pool, now);
  for (g = 0; g < plan.ngroup; g++) {
    struct dqsched_group *gr = &plan.group[g];
    size_t busy = dqpool_active(&pool, gr->key), limit = gr->maxconn ? gr->maxconn : maxconn;
    long long wait = gr->interval ? dqpool_interval_left(&pool, gr->key, gr->interval, mono_ms()) : 0;
    if (wait > 0) {                  /* the last connection ended less than the interval ago */
      if (!wake_ms || mono_ms() + wait < wake_ms) wake_ms = mono_ms() + wait;
      continue;
    }
    while (busy < limit && pool.n < maxprocs) {
      struct dqsched_job sj;
      /* What waits is shared among the connections that may still open
         (each gets at least DQSCHED_JOB_MINMSG messages). */
      size_t share = (gr->nitem - gr->taken + (limit - busy) - 1) / (limit - busy);
      gr->jobmax = share < DQSCHED_JOB_MINMSG ? DQSCHED_JOB_MINMSG : share;
      if (dqsched_take(&plan, g, &sj) != 1) break;
      dqpool_sending_ip(&pool, gr, &sj);
      if (spawn(&sj) == -1) {
        warn_sys("unable to start a worker for ", sj.key);
        dqsched_job_free(&q, &sj);   /* its recipients stay pending */
        break;
      }
      busy++;
    }
    if (gr->taken < gr->nitem && busy >= limit) dqpool_make_room(&pool, gr);
  }
  dqsched_plan_free(&plan);
}

/* Complete result lines of w: record them in one transaction. */
static void results(struct dqpool_worker *w)
{
  size_t start = 0, i;
  struct dqsched_batch b;
  dqsched_batch_init(&b);
  for (i = 0; i < w->in.len; i++) {
    struct dq_result r;
    if (w->in.s[i] != '\n') continue;
    if (dq_result_parse(&r, w->in.s + start, i - start) == -1
        || dqsched_result(&q, &b, &w->job, &r) == -1) {
      if (errno == ENOMEM) die_sys(EXIT_TEMP, "unable to record results", 0);
      warn("bad result line from the worker for ", w->key);
    }
    start = i + 1;
  }
  if (b.n) dirty = 1;
  if (dqsched_batch_commit(&q, &b) == -1) die_sys(EXIT_TEMP, "unable to record results", 0);
  if (start) {
    memmove(w->in.s, w->in.s + start, w->in.len - start);
    buf_trunc(&w->in, w->in.len - start);
  }
  if (w->in.len > DQ_RESULT_MAX) buf_trunc(&w->in, 0);   /* no LF in sight: junk */
}

static void worker_read(struct dqpool_worker *w)
{
  for (;;) {
    ssize_t r;
    if (buf_ready(&w->in, 65536) == -1) die_sys(EXIT_TEMP, "unable to read results", 0);
    r = read(w->fd, w->in.s + w->in.len, w->in.cap - w->in.len - 1);
    if (r > 0) {
      w->in.len += (size_t)r;
      w->in.s[w->in.len] = 0;
      results(w);
      continue;
    }
    if (r == -1 && errno == EINTR) continue;
    if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close(w->fd);
    w->fd = -1;
    return;
  }
}

/* Workers that are gone and whose pipe is drained: what they did not
   report stays pending (on shutdown) or is deferred (a crash). */
static void workers_reap(void)
{
  size_t i;
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
    for (i = 0; i < pool.n; i++)
      if (pool.w[i]->pid == pid) pool.w[i]->reaped = 1;
  for (i = 0; i < pool.n; i++) {
    struct dqpool_worker *w = pool.w[i];
    if (!w->reaped || w->fd != -1) continue;
    /* A worker asked to make room leaves the rest of its job untried:
       pending as before, no attempt counted. */
    if (dqsched_job_done(&q, &w->job, got_term || w->yielded ? 0 : "delivery process ended without a result") == -1)
      die_sys(EXIT_TEMP, "unable to record results", 0);
    if (w->job.interval) dqpool_lastend_note(&pool, w->key, mono_ms());
    free(w->key);
    buf_free(&w->in);
    free(w);
    pool.w[i--] = pool.w[--pool.n];
    dirty = 1;                       /* a free slot */
  }
}

static long long now_s(void) { return (long long)time(0); }

static int is_dir(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The classification rules: $CMC_HOME/etc/classify, else the tree's or the
   installation's templates/classify next to this program. */
static void rules_load(const char *home)
{
  static const char *const rel[] = { "../templates/classify", "../../../share/cmc/templates/classify", 0 };
  char dir[4096], err[256];
  int i, found = 0;
  if (home_path(dir, sizeof dir, home, "etc/classify") == 0 && is_dir(dir)) found = 1;
  for (i = 0; !found && rel[i]; i++)
    if (home_bin(dir, sizeof dir, 0, rel[i]) == 0 && is_dir(dir)) found = 1;
  if (!found) die(EXIT_TEMP, "unable to find the classification rules (etc/classify or templates/classify)", 0);
  err[0] = 0;
  if (classify_load(&cls, dir, err, sizeof err) == -1) {
    if (err[0]) die(EXIT_TEMP, "unable to load the classification rules: ", err);
    die_sys(EXIT_TEMP, "unable to load the classification rules in ", dir);
  }
}

/* The VERP secret (lib/verp.h); made here when an older CMC_HOME lacks it. */
static void verp_load(const char *home)
{
  char p[4096];
  if (home_path(p, sizeof p, home, "etc/verp-secret") == -1) die(EXIT_PERM, "CMC_HOME is too long", 0);
  if (verp_key_load(&verpkey, p) == -1) {
    if (errno != ENOENT || verp_key_create(p) == -1 || verp_key_load(&verpkey, p) == -1)
      die_sys(EXIT_TEMP, "unable to read the VERP secret ", p);
  }
  /* The unsubscribe secret, if the installation has one: mail to
     unsubscribe@BOUNCE-DOMAIN is checked with it. */
  if (home_path(p, sizeof p, home, DSETUNSUB_SECRET) == -1) die(EXIT_PERM, "CMC_HOME is too long", 0);
  if (verp_key_load(&unsubkey, p) == -1) {
    /* Made when missing: List-Unsubscribe tokens are signed with it. */
    if (errno != ENOENT || verp_key_create(p) == -1 || verp_key_load(&unsubkey, p) == -1) {
      warn_sys("unable to read ", p);
      unsubkey.n = 0;
    }
  }
}

static void log_line(const char *line) { fprintf(stderr, "%s\n", line); }
static void warn_line(const char *what, const char *arg, int e)
{
  errno = e;
  if (e) warn_sys(what, arg);
  else warn(what, arg);
}

int main(int argc, char **argv)
{
  const char *home, *s;
  char spooldir[4096], dbdir[4096], trig[4096], hostname[256];
  static struct sockaddr_in resolver;
  int have_resolver = 0, opt;
  const char *qdomain = 0;
  long long next_scan = 0, next_due = 0, last_look = mono_ms();
  struct sigaction sa;
  prog = "deliver";
  while ((opt = getopt(argc, argv, "q:")) != -1) {
    if (opt == 'q') qdomain = optarg;
    else die(EXIT_PERM, USAGE, 0);
  }
  if (optind != argc) die(EXIT_PERM, USAGE, 0);
  if ((s = getenv("CMC_RESOLVER")) && *s) {
    if (dns_server_parse(s, &resolver) == -1) die(EXIT_PERM, "bad CMC_RESOLVER ", s);
    have_resolver = 1;
  }
  if (qdomain) return query(qdomain, have_resolver ? &resolver : 0);

  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if ((s = getenv("CMC_HOSTNAME")) && *s) snprintf(hostname, sizeof hostname, "%s", s);
  else if (gethostname(hostname, sizeof hostname) == -1) die_sys(EXIT_TEMP, "unable to get host name", 0);
  hostname[sizeof hostname - 1] = 0;
  if (home_path(spooldir, sizeof spooldir, home, "spool") == -1
      || home_path(dbdir, sizeof dbdir, home, "db") == -1
      || home_path(trig, sizeof trig, spooldir, "trigger") == -1)
    die(EXIT_PERM, "CMC_HOME is too long", 0);
  maxprocs = envnum("CMC_DELIVER_MAXPROCS", MAXPROCS_DEFAULT, 1, 10000);
  maxconn = envnum("CMC_DELIVER_MAXCONN", MAXCONN_DEFAULT, 1, 10000);
  wcfg.spooldir = spooldir;
  wcfg.helo = hostname;
  wcfg.port = (unsigned)envnum("CMC_REMOTE_PORT", 25, 1, 65535);
  wcfg.connect_timeout = CONNECT_TIMEOUT;
  wcfg.timeout = (int)envnum("CMC_SMTP_CLIENT_TIMEOUT", SMTP_TIMEOUT_DEFAULT, 1, 86400);
  wcfg.resolver = have_resolver ? &resolver : 0;
  if (!(wcfg.tls_ctx = smtpc_tls_ctx())) die(EXIT_TEMP, "unable to set up TLS", 0);
  rules_load(home);
  verp_load(home);
  penv.verp_key = &verpkey;
  penv.hostname = hostname;
  /* S/MIME and DKIM keys: prepared per message before a worker forks. */
  if (dqprep_sign_open(&penv, home) == -1) die_sys(EXIT_TEMP, "unable to start the signers", 0);
  wcfg.cls = cls;
  wcfg.prep = &penv;
  dsetrun_init(&ds);
  ds.tz = tz_offset;
  ds.hostname = hostname;
  ds.log = log_line;
  ds.clock_offset = fake_now();
  ds.key = unsubkey;
  penv.dset = &ds;
  wcfg.stop = &yield_now;
  if (dqpool_init(&pool, maxprocs) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
  pool.ds = &ds;
  pool.log = log_line;

  if (pipe(selfpipe) == -1 || fd_cloexec(selfpipe[0]) == -1 || fd_cloexec(selfpipe[1]) == -1
      || fd_nonblock(selfpipe[0], 1) == -1 || fd_nonblock(selfpipe[1], 1) == -1)
    die_sys(EXIT_TEMP, "unable to create a pipe", 0);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, 0);
  sigaction(SIGINT, &sa, 0);
  sigaction(SIGCHLD, &sa, 0);
  /* Set here so that a worker has it from its first instant on. */
  sa.sa_handler = on_yield;
  sigaction(SIGUSR1, &sa, 0);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);

  /* O_RDWR: the FIFO then always has a writer (us), so it never reads EOF. */
  trigfd = open(trig, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (trigfd == -1) die_sys(EXIT_TEMP, "unable to open ", trig);
  if (dqdb_open(&q, spooldir, dbdir) == -1) die_sys(EXIT_TEMP, "unable to open ", dbdir);
  q.log = log_line;
  q.warn = warn_line;
  q.prep_env = &penv;
  q.dset = &ds;
  q.unsub_filter = unsub_name;
  if (dsetrun_refresh(&ds, q.db) == -1) die_sys(EXIT_TEMP, "unable to read the delivery settings in ", dbdir);
  fprintf(stderr, "settings generation=%llu\n", ds.gen);
  q.period = (long long)envnum("CMC_RETRY_PERIOD", DQ_RETRY_PERIOD_DEFAULT, 0, 10u * 365 * 86400);
  q.interval = (long long)envnum("CMC_RETRY_INTERVAL", DQ_RETRY_INTERVAL_DEFAULT, 1, 86400);
  if (dqdb_resume(&q) == -1) die_sys(EXIT_TEMP, "unable to resume the queue", 0);
  if (dqbounce_init(&bq, &q, cls, &verpkey, unsubkey.n ? &unsubkey : 0) == -1)
    die_sys(EXIT_TEMP, "unable to set up bounce handling in ", spooldir);
  fprintf(stderr, "start maxprocs=%zu maxconn=%zu\n", maxprocs, maxconn);

  for (;;) {
    struct pollfd *pfd;
    size_t i, n = 0;
    long long now = now_s(), wait_ms = WAIT_MAX;
    char junk[512];
    if (got_term && pool.n == 0) break;
    if (!got_term) {
      /* Settings changed (generation): reload; running connections stop
         after their current transaction, and everything is planned anew
         with the new settings. */
      if (mono_ms() - last_look >= SETTINGS_LOOK_MS) {
        int k = dqdb_ready(&q) == 0 ? dsetrun_refresh(&ds, q.db) : -1;
        last_look = mono_ms();
        if (k == 1) {
          dirty = 1;
          fprintf(stderr, "settings generation=%llu\n", ds.gen);
          for (i = 0; i < pool.n; i++) dqpool_yield(&pool, pool.w[i], "settings");
        } else if (k == -1) {
          warn_sys("unable to read the delivery settings (the old ones stay)", 0);
          dqdb_read_failed(&q);
        }
      }
      if (wake_ms && mono_ms() >= wake_ms) {
        wake_ms = 0;
        dirty = 1;
      }
      if (now >= next_scan) {
        long got = dqdb_pickup(&q);
        if (got == -1) die_sys(EXIT_TEMP, "unable to take new mail", 0);
        if (got > 0) dirty = 1;
        next_scan = now + SCAN_INTERVAL;
        /* Bounces the pickup moved to bounce/ (and any left there). */
        got = dqbounce_run(&bq);
        if (got == -1) warn_sys("unable to handle bounces (they stay in bounce/)", 0);
        if (got == DQBOUNCE_BATCH) next_scan = now;
      }
      /* Planning walks the whole queue: only when it can change something. */
      if ((dirty || (next_due && now >= next_due)) && pool.n < maxprocs) {
        dirty = 0;
        dispatch(now, &next_due);
      }
      if (next_due && (next_due - now) * 1000 < wait_ms)
        wait_ms = next_due > now ? (next_due - now) * 1000 : 0;
      if ((next_scan - now) * 1000 < wait_ms) wait_ms = (next_scan - now) * 1000;
      if (wake_ms) {
        long long w = wake_ms - mono_ms();
        if (w < wait_ms) wait_ms = w > 0 ? w : 0;
      }
      if (wait_ms > SETTINGS_WAIT_MS) wait_ms = SETTINGS_WAIT_MS;   /* look at the settings */
    }
    pfd = calloc(pool.n + 2, sizeof *pfd);
    if (!pfd) die_sys(EXIT_TEMP, "out of memory", 0);
    pfd[n].fd = selfpipe[0];
    pfd[n++].events = POLLIN;
    pfd[n].fd = got_term ? -1 : trigfd;
    pfd[n++].events = POLLIN;
    for (i = 0; i < pool.n; i++) {
      pfd[n].fd = pool.w[i]->fd;
      pfd[n++].events = POLLIN;
    }
    if (poll(pfd, n, (int)wait_ms) == -1 && errno != EINTR) die_sys(EXIT_TEMP, "unable to poll", 0);
    if (pfd[0].revents) while (read(selfpipe[0], junk, sizeof junk) > 0) ;
    if (pfd[1].revents) {
      while (read(trigfd, junk, sizeof junk) > 0) ;
      next_scan = 0;                 /* a new message: look now */
    }
    for (i = 0; i < pool.n; i++)
      if (pfd[i + 2].revents && pool.w[i]->fd != -1) worker_read(pool.w[i]);
    free(pfd);
    if (got_term) {
      static int killed;
      if (!killed)
        for (i = 0; i < pool.n; i++) kill(pool.w[i]->pid, SIGTERM);
      killed = 1;
    }
    workers_reap();
  }
  dqdb_close(&q);
  dqprep_sign_close(&penv);
  smtpc_tls_ctx_free(wcfg.tls_ctx);
  dqbounce_free(&bq);
  dsetrun_free(&ds);
  classify_free(cls);
  dqpool_free(&pool);
  fprintf(stderr, "stop\n");
  return 0;
}

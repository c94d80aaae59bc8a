/* cmcctl: the operator's command: lays out $CMC_HOME, runs recovery and
   checkpoints, and edits tenants, relay networks, SMTP AUTH users, routes
   and settings in db/ (each change in a transaction), re-exporting
   etc/access after a change of networks or users (doc/programs/cmcctl.md).
   The list and delivery setting commands are in lib/ctl*.c.
   Input: a new user's password, first line of fd 0.  Output: plain text,
   tab-separated tables, on fd 1.  Environment: CMC_HOME.
   Exit 0 done, 100 bad usage / unknown tenant / bad value, 111 db trouble. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "die.h"
#include "ctl.h"
#include "dqprep.h"
#include "dset.h"
#include "event.h"
#include "home.h"
#include "io.h"
#include "spool.h"
#include "suppress.h"
#include "tbl.h"
#include "tenant.h"
#include "verp.h"

#define USAGE "usage: cmcctl init | recover | checkpoint | trickle [PCT] | tenant add NAME | tenant list\n" \
  "  | net add|del|list TENANT [-c COMP] [CIDR]\n" \
  "  | user add|del|list TENANT [-c COMP] [NAME]   (add: password on stdin)\n" \
  "  | route add|del|list TENANT [-c COMP] [DOMAIN|'*' [HOST:PORT]]\n" \
  "  | set TENANT [-c COMP] KEY VALUE | get TENANT [-c COMP] [KEY] | unset TENANT [-c COMP] KEY\n" \
  "  | events [TENANT] ID\n" \
  "  | speed|priority|window|forward|unsubscribe add TENANT [-c COMP] NAME OPTIONS...\n" \
  "  | speed|priority|window|forward|unsubscribe del|move|list TENANT [-c COMP] [NAME [POSITION]]\n" \
  "  | speed default TENANT [-c COMP] [-m MAXCONN [-i MS] [-n NIPS] | -d]\n" \
  "  | ip add|del|list TENANT [-c COMP] [ADDRESS] | generation\n" \
  "  | suppress add|del TENANT [-c COMP] ADDRESS [STATUS] | suppress list TENANT [-c COMP] [-r]\n" \
  "  | suppress search TENANT [-c COMP] TEXT\n" \
  "  | unsubscribed add|del|list TENANT [-c COMP] [-f FILTER] [ADDRESS|TEXT]"
#define PASSWORD_LINE_MAX 1024
#define SELFTEST_MAX 1000000
#define OPEN_TRIES 3

static const char *home;
static char dbdir[4096], accesspath[4096];
static struct tbl *db;
static struct ctl ctl;                /* lib/ctl.h: rows out, outcomes */

static _Noreturn void usage(void)
{
  die(EXIT_PERM, USAGE, 0);
}

/* The exit code for a failed library call: the caller's fault or ours. */
static int code(int e)
{
  return e == EINVAL || e == ENOENT || e == EEXIST || e == ENAMETOOLONG ? EXIT_PERM : EXIT_TEMP;
}

static _Noreturn void fail(const char *what, const char *arg)
{
  int e = errno;
  const char *m = db ? tbl_lasterror(db) : "";
  if (*m && code(e) == EXIT_TEMP) warn("Berkeley DB: ", m);
  errno = e;
  die_sys(code(e), what, arg);
}

static void opendb(int flags)
{
  if (tbl_open(&db, dbdir, flags) == -1) {
    if (errno == ENOENT) die_sys(EXIT_TEMP, "unable to open database (cmcctl init?) in ", dbdir);
    die_sys(EXIT_TEMP, "unable to open database in ", dbdir);
  }
  ctl.db = db;
}

static void closedb(void)
{
  tbl_close(db);
  db = 0;
}

static void export_access(void)
{
  if (tenant_export_access(db, accesspath) == -1)
    die_sys(EXIT_TEMP, "changed, but unable to write ", accesspath);
}

static void out(const char *s)
{
  if (fputs(s, stdout) == EOF) die_sys(EXIT_TEMP, "unable to write output", 0);
}

static void put_row(void *ctx, const char *row, size_t n)
{
  (void)ctx;
  if (fwrite(row, 1, n, stdout) != n) die_sys(EXIT_TEMP, "unable to write output", 0);
}

/* A table row: TAB and newline inside a field become spaces. */
static void row(const char *const *field, size_t n)
{
  if (ctl_row(&ctl, field, n) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
}

static _Noreturn void done(void)
{
  if (fflush(stdout) == EOF || ferror(stdout)) die_sys(EXIT_TEMP, "unable to write output", 0);
  closedb();
  exit(0);
}

/* The outcome of a lib/ctl.h function, said and exited as everywhere here. */
static _Noreturn void finish(int r)
{
  if (r == 0) {
    if (ctl.warn) warn(ctl.warn, ctl.warnarg);
    done();
  }
  errno = ctl.err;
  switch (ctl.code) {
  case CTL_USAGE: usage();
  case CTL_PERM: die(EXIT_PERM, ctl.what, ctl.arg);
  case CTL_TEMP: die_sys(EXIT_TEMP, ctl.what, ctl.arg);
  default: fail(ctl.what, ctl.arg);
  }
}

/* ---------- init, recover, checkpoint ---------- */

static void mkdir_mode(const char *sub, int mode)
{
  char p[4096];
  if (home_path(p, sizeof p, home, sub) == -1) die_sys(EXIT_PERM, "bad CMC_HOME ", home);
  if (mkdir_p(p, mode) == -1) die_sys(EXIT_TEMP, "unable to create ", p);
  if (chmod(p, (mode_t)mode) == -1) die_sys(EXIT_TEMP, "unable to chmod ", p);
}

static void cmd_init(void)
{
  char p[4096];
  if (mkdir_p(home, 0755) == -1) die_sys(EXIT_TEMP, "unable to create ", home);
  if (home_path(p, sizeof p, home, "spool") == -1) die_sys(EXIT_PERM, "bad CMC_HOME ", home);
  if (spool_init(p) == -1) die_sys(EXIT_TEMP, "unable to create the spool in ", p);
  mkdir_mode("db", 0750);
  mkdir_mode("keys", 0700);
  mkdir_mode("etc", 0755);
  mkdir_mode("log", 0750);
  mkdir_mode("sink", 0750);
  /* A plain open: it creates the environment, and recovers it only if a
     process died inside it.  Forced recovery is "cmcctl recover". */
  opendb(0);
  export_access();
  /* The VERP secret (lib/verp.h): made once, kept from then on. */
  if (home_path(p, sizeof p, home, "etc/verp-secret") == -1) die_sys(EXIT_PERM, "bad CMC_HOME ", home);
  if (verp_key_create(p) == -1) die_sys(EXIT_TEMP, "unable to create ", p);
  done();
}

static void cmd_recover(void)
{
  opendb(TBL_RECOVER);
  done();
}

static void cmd_checkpoint(void)
{
  opendb(0);
  if (tbl_checkpoint(db) == -1) fail("unable to checkpoint in ", dbdir);
  done();
}

static void cmd_trickle(const char *pct)
{
  char *end;
  long v;
  errno = 0;
  v = strtol(pct, &end, 10);
  if (!*pct || *end || errno || v < 1 || v > 100) die(EXIT_PERM, "bad percentage: ", pct);
  opendb(0);
  if (tbl_trickle(db, (int)v, 0) == -1) fail("unable to write out the cache in ", dbdir);
  done();
}

/* ---------- tenants ---------- */

static int print_name(void *ctx, const char *name)
{
  (void)ctx;
  row(&name, 1);
  return 0;
}

static void need_tenant(const char *tenant)
{
  if (ctl_tenant(&ctl, tenant) == -1) finish(-1);
}

static void cmd_tenant(int argc, char **argv)
{
  int r;
  if (argc == 1 && !strcmp(argv[0], "list")) {
    if (tenant_list(db, print_name, 0) == -1) fail("unable to list tenants", 0);
    done();
  }
  if (argc != 2 || strcmp(argv[0], "add")) usage();
  if (!tenant_name_ok(argv[1])) die(EXIT_PERM, "bad tenant name (want [a-z0-9][a-z0-9_-]*): ", argv[1]);
  r = tenant_add(db, argv[1]);
  if (r == -1) fail("unable to add tenant ", argv[1]);
  if (r == 1) warn("tenant exists: ", argv[1]);
  done();
}

/* ---------- nets, users, routes, settings ---------- */

/* A setting deliver or smtp-recv reads changed: deliver reloads when the
   generation moves; the Received mode travels in the access snapshot. */
static void settings_changed(const char *key)
{
  if (dset_touch(db) == -1) fail("changed, but unable to tell deliver: ", key);
  if (key && (!strcmp(key, "received") || !strcmp(key, "bounce_domain"))) export_access();
}


static int print_item(void *ctx, const char *comp, const char *a, const char *b)
{
  const char *f[3] = { comp, a, b };
  row(f, (size_t)*(int *)ctx);          /* 2 or 3 columns */
  return 0;
}

/* Take "-c COMP" out of argv; the rest stays in order.  all: none given. */
static const char *take_comp(int *argc, char **argv, int *all)
{
  const char *comp;
  if (ctl_comp(&ctl, argc, argv, &comp, all) == -1) finish(-1);
  return comp;
}

static void read_password(struct buf *pw)
{
  char *nl;
  /* Only the first line counts; more input after it is fine. */
  if (read_all(0, pw, PASSWORD_LINE_MAX + 1) == -1) {
    if (errno != EFBIG) die_sys(EXIT_TEMP, "unable to read the password", 0);
    if (!memchr(pw->s, '\n', pw->len)) die(EXIT_PERM, "password line too long", 0);
  }
  if (buf_addc(pw, 0) == -1) die_sys(EXIT_TEMP, "unable to read the password", 0);
  nl = strchr(pw->s, '\n');
  if (nl) *nl = 0;
  pw->len = strlen(pw->s);
  if (pw->len && pw->s[pw->len - 1] == '\r') pw->s[--pw->len] = 0;
  if (!pw->len) die(EXIT_PERM, "empty password (give it on stdin)", 0);
}

static void result(int r, const char *what, const char *arg, const char *absent)
{
  if (r == -1) fail(what, arg);
  if (r == 1 && absent) warn(absent, arg);
}

static void cmd_item(const char *kind, int argc, char **argv, const char *password)
{
  int all, cols, r;
  const char *comp = take_comp(&argc, argv, &all), *tenant;
  if (argc < 2) usage();
  tenant = argv[1];
  need_tenant(tenant);
  if (!strcmp(argv[0], "list")) {
    if (argc != 2) usage();
    cols = strcmp(kind, "route") ? 2 : 3;
    if (!strcmp(kind, "net")) r = tenant_net_list(db, tenant, all ? 0 : comp, print_item, &cols);
    else if (!strcmp(kind, "user")) r = tenant_user_list(db, tenant, all ? 0 : comp, print_item, &cols);
    else r = tenant_route_list(db, tenant, all ? 0 : comp, print_item, &cols);
    if (r == -1) fail("unable to list for tenant ", tenant);
    done();
  }
  if (!strcmp(kind, "net")) {
    if (argc != 3) usage();
    if (!strcmp(argv[0], "add")) result(tenant_net_add(db, tenant, comp, argv[2]),
                                        "unable to add network ", argv[2], "network exists: ");
    else if (!strcmp(argv[0], "del")) result(tenant_net_del(db, tenant, comp, argv[2]),
                                             "unable to delete network ", argv[2], "no such network: ");
    else usage();
    export_access();
  } else if (!strcmp(kind, "user")) {
    if (argc != 3) usage();
    if (!strcmp(argv[0], "add")) result(tenant_user_set(db, tenant, comp, argv[2], password),
                                        "unable to set user ", argv[2], 0);
    else if (!strcmp(argv[0], "del")) result(tenant_user_del(db, tenant, comp, argv[2]),
                                             "unable to delete user ", argv[2], "no such user: ");
    else usage();
    export_access();
  } else {
    if (!strcmp(argv[0], "add") && argc == 4)
      result(tenant_route_set(db, tenant, comp, argv[2], argv[3]), "unable to set route for ", argv[2], 0);
    else if (!strcmp(argv[0], "del") && argc == 3)
      result(tenant_route_del(db, tenant, comp, argv[2]), "unable to delete route for ", argv[2],
             "no such route: ");
    else usage();
    settings_changed(0);
  }
  done();
}

static void cmd_setting(const char *verb, int argc, char **argv)
{
  const char *comp = take_comp(&argc, argv, 0);
  struct buf v = BUF_ZERO;
  int r, cols = 3;
  if (argc < 1) usage();
  need_tenant(argv[0]);
  if (!strcmp(verb, "set")) {
    if (argc != 3) usage();
    if (!dset_value_ok(argv[1], argv[2], &v) || !dqprep_setting_ok(argv[1], argv[2], &v)
        || !suppress_setting_ok(argv[1], argv[2], &v))
      die(EXIT_PERM, "refused: ", v.s);
    result(tenant_set(db, argv[0], comp, argv[1], argv[2]), "unable to set ", argv[1], 0);
    settings_changed(argv[1]);
  } else if (!strcmp(verb, "unset")) {
    if (argc != 2) usage();
    result(tenant_unset(db, argv[0], comp, argv[1]), "unable to unset ", argv[1], "not set: ");
    settings_changed(argv[1]);
  } else if (argc == 1) {
    if (tenant_set_list(db, argv[0], comp, print_item, &cols) == -1)
      fail("unable to list settings of ", argv[0]);
  } else {
    if (argc != 2) usage();
    r = tenant_get(db, argv[0], comp, argv[1], &v);
    if (r == -1) fail("unable to get ", argv[1]);
    if (r == 1) die(EXIT_PERM, "not set: ", argv[1]);
    row((const char **)&v.s, 1);
  }
  done();
}

/* ---------- events ---------- */

static int print_event(void *ctx, const struct event *e)
{
  char tm[32], err[16];
  const char *f[6] = { tm, event_status_name(e->status), err, e->rcpt, e->remote, e->reply };
  (void)ctx;
  ctl_time(tm, sizeof tm, e->time);
  snprintf(err, sizeof err, "%d", e->error);
  row(f, 6);
  return 0;
}

static int events_of(void *ctx, const char *tenant)
{
  if (event_by_id(db, tenant, ctx, print_event, 0) == -1) fail("unable to read events of ", tenant);
  return 0;
}

static void cmd_events(int argc, char **argv)
{
  if (argc == 1) {
    if (tenant_list(db, events_of, argv[0]) == -1) fail("unable to list tenants", 0);
  } else if (argc == 2) {
    need_tenant(argv[0]);
    events_of(argv[1], argv[0]);
  } else {
    usage();
  }
  done();
}

/* ---------- crash-test helpers (not documented for operators) ---------- */

/* selftest-write N [STUCK]: N events of tenant "selftest", each committed in its
   own transaction with a marker row; after each commit the key is printed
   (and flushed), so a test that kills us knows what must survive. */
static void cmd_selftest_write(int argc, char **argv)
{
  char id[64], *end;
  unsigned long n, i;
  struct tbl_txn *x;
  struct event e;
  struct timespec ts;
  int tries;
  if (argc != 1 && argc != 2) usage();
  n = strtoul(argv[0], &end, 10);
  if (*end || !*argv[0] || n > SELFTEST_MAX) usage();
  if (argc == 2) tbl_set_stuck(db, (unsigned)strtoul(argv[1], 0, 10));
  for (i = 0; i < n; i++) {
    snprintf(id, sizeof id, "%ld-%lu", (long)getpid(), i);
    for (tries = 0;; tries++) {
      memset(&e, 0, sizeof e);
      clock_gettime(CLOCK_REALTIME, &ts);
      e.time = ts.tv_sec;
      e.usec = (unsigned)(ts.tv_nsec / 1000);
      e.status = EV_QUEUED;
      e.tenant = "selftest";
      e.composition = "default";
      e.id = id;
      e.rcpt = "selftest@example.test";
      if (tbl_begin(db, &x) == 0) {
        if (event_add(db, x, &e) == 0 && tbl_put(db, x, "selftest", id, strlen(id), "1", 1) == 0) {
          if (tbl_commit(x) == 0) break;
        } else {
          tbl_abort(x);
        }
      }
      if (tries == 20) fail("unable to commit ", id);
      if (errno == EAGAIN) {          /* recovery ran: come in again */
        closedb();
        opendb(0);
        if (argc == 2) tbl_set_stuck(db, (unsigned)strtoul(argv[1], 0, 10));
      } else if (errno != EDEADLK) {
        fail("unable to commit ", id);
      }
    }
    out(id);
    out("\n");
    if (fflush(stdout) == EOF) die_sys(EXIT_TEMP, "unable to write output", 0);
  }
  done();
}

/* selftest-check: each line of stdin names a committed key; the missing
   ones are printed.  Exit 0 all there, 100 some missing. */
static void cmd_selftest_check(void)
{
  struct buf in = BUF_ZERO, v = BUF_ZERO;
  char *p, *nl;
  int missing = 0, r;
  if (read_all(0, &in, 64u << 20) == -1 || buf_addc(&in, 0) == -1)
    die_sys(EXIT_TEMP, "unable to read keys", 0);
  for (p = in.s; *p; p = nl + 1) {
    nl = strchr(p, '\n');
    if (!nl) break;                   /* a line cut by the kill: not reported */
    *nl = 0;
    if (!*p) continue;
    r = tbl_get(db, 0, "selftest", p, strlen(p), &v);
    if (r == -1) fail("unable to read ", p);
    if (r == 1) {
      out(p);
      out("\n");
      missing++;
    }
  }
  if (missing) {
    fflush(stdout);
    die(EXIT_PERM, "committed keys are missing", 0);
  }
  done();
}

int main(int argc, char **argv)
{
  struct buf pw = BUF_ZERO;
  const char *cmd;
  prog = "cmcctl";
  ctl.put = put_row;
  if (argc < 2) usage();
  cmd = argv[1];
  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if (home_path(dbdir, sizeof dbdir, home, "db") == -1
      || home_path(accesspath, sizeof accesspath, home, "etc/access") == -1)
    die(EXIT_PERM, "CMC_HOME too long", 0);
  argc -= 2;
  argv += 2;

  if (!strcmp(cmd, "init") && argc == 0) cmd_init();
  if (!strcmp(cmd, "recover") && argc == 0) cmd_recover();
  if (!strcmp(cmd, "checkpoint") && argc == 0) cmd_checkpoint();
  if (!strcmp(cmd, "trickle") && argc <= 1) cmd_trickle(argc ? argv[0] : "20");
  if (!strcmp(cmd, "user") && argc >= 1 && !strcmp(argv[0], "add")) read_password(&pw);

  if (strcmp(cmd, "tenant") && strcmp(cmd, "net") && strcmp(cmd, "user")
      && strcmp(cmd, "route") && strcmp(cmd, "set") && strcmp(cmd, "get")
      && strcmp(cmd, "unset") && strcmp(cmd, "events") && strcmp(cmd, "selftest-write")
      && strcmp(cmd, "selftest-check") && dset_kind_parse(cmd) < 0 && strcmp(cmd, "ip")
      && strcmp(cmd, "generation") && strcmp(cmd, "suppress") && strcmp(cmd, "unsubscribed"))
    usage();
  opendb(0);
  if (!strcmp(cmd, "tenant")) cmd_tenant(argc, argv);
  if (!strcmp(cmd, "net") || !strcmp(cmd, "user") || !strcmp(cmd, "route")) {
    if (argc < 1) usage();
    cmd_item(cmd, argc, argv, pw.s);
  }
  if (!strcmp(cmd, "set") || !strcmp(cmd, "get") || !strcmp(cmd, "unset"))
    cmd_setting(cmd, argc, argv);
  if (!strcmp(cmd, "events")) cmd_events(argc, argv);
  if (!strcmp(cmd, "suppress")) finish(ctl_suppress(&ctl, argc, argv));
  if (!strcmp(cmd, "unsubscribed")) finish(ctl_unsubscribed(&ctl, argc, argv));
  if (dset_kind_parse(cmd) >= 0) finish(ctl_filters(&ctl, cmd, argc, argv));
  if (!strcmp(cmd, "ip")) finish(ctl_ip(&ctl, argc, argv));
  if (!strcmp(cmd, "generation") && argc == 0) {
    unsigned long long g;
    char t[32];
    const char *f = t;
    if (dset_generation(db, &g) == -1) fail("unable to read the settings generation", 0);
    snprintf(t, sizeof t, "%llu", g);
    row(&f, 1);
    done();
  }
  if (!strcmp(cmd, "selftest-write")) cmd_selftest_write(argc, argv);
  if (!strcmp(cmd, "selftest-check") && argc == 0) cmd_selftest_check();
  usage();
}

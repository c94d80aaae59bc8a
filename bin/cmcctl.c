/* cmcctl: the operator's command: lays out $CMC_HOME, runs recovery and
   checkpoints, and edits tenants, relay networks, SMTP AUTH users, routes
   and settings in db/ (each change in a transaction), re-exporting
   etc/access after a change of networks or users (doc/programs/cmcctl.md).
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
#include "addr.h"
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

#define USAGE "usage: cmcctl init | recover | checkpoint | tenant add NAME | tenant list\n" \
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

/* Fields of a table row: TAB and newline inside become spaces. */
static void outf(const char *s, int last)
{
  for (; *s; s++) {
    char c = *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s;
    if (putchar(c) == EOF) die_sys(EXIT_TEMP, "unable to write output", 0);
  }
  out(last ? "\n" : "\t");
}

static void done(void)
{
  if (fflush(stdout) == EOF || ferror(stdout)) die_sys(EXIT_TEMP, "unable to write output", 0);
  closedb();
  exit(0);
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

/* ---------- tenants ---------- */

static int print_name(void *ctx, const char *name)
{
  (void)ctx;
  outf(name, 1);
  return 0;
}

static void need_tenant(const char *tenant)
{
  int r;
  if (!tenant_name_ok(tenant)) die(EXIT_PERM, "bad tenant name: ", tenant);
  r = tenant_exists(db, tenant);
  if (r == -1) fail("unable to read tenant ", tenant);
  if (r == 0) die(EXIT_PERM, "no such tenant: ", tenant);
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
  int cols = *(int *)ctx;
  outf(comp, 0);
  outf(a, cols == 2);
  if (cols == 3) outf(b, 1);
  return 0;
}

/* Take "-c COMP" out of argv; the rest stays in order. */
static const char *take_comp(int *argc, char **argv)
{
  const char *comp = "default";
  int i, j;
  for (i = 0; i < *argc; i++) {
    if (strcmp(argv[i], "-c")) continue;
    if (i + 1 >= *argc) usage();
    comp = argv[i + 1];
    for (j = i; j + 2 <= *argc; j++) argv[j] = argv[j + 2];
    *argc -= 2;
    break;
  }
  if (!tenant_comp_ok(comp)) die(EXIT_PERM, "bad composition name: ", comp);
  return comp;
}

static int has_comp(int argc, char **argv)
{
  int i;
  for (i = 0; i < argc; i++)
    if (!strcmp(argv[i], "-c")) return 1;
  return 0;
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
  int all = !has_comp(argc, argv), cols, r;
  const char *comp = take_comp(&argc, argv), *tenant;
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
  const char *comp = take_comp(&argc, argv);
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
    outf(v.s, 1);
  }
  done();
}

/* ---------- delivery settings: filter lists, default speed, sending IPs ---------- */

/* A refused change: the reason the library gave, else errno's. */
static _Noreturn void refused(const char *what, const char *arg, const struct buf *err)
{
  if (errno == EINVAL && err->len) die(EXIT_PERM, "refused: ", err->s);
  fail(what, arg);
}

static int print_filter(void *ctx, const char *comp, size_t pos, const struct dset_filter *f)
{
  struct buf spec = BUF_ZERO;
  char p[24];
  if (dset_filter_format(*(enum dset_kind *)ctx, f, &spec) == -1 || buf_addc(&spec, 0) == -1)
    die_sys(EXIT_TEMP, "out of memory", 0);
  snprintf(p, sizeof p, "%zu", pos);
  outf(comp, 0);
  outf(p, 0);
  outf(f->name, 0);
  outf(spec.s, 1);
  buf_free(&spec);
  return 0;
}

static void cmd_speed_default(const char *tenant, const char *comp, int argc, char **argv)
{
  struct dset_speed sp;
  struct buf err = BUF_ZERO;
  char line[96];
  int i, r;
  if (argc == 0) {
    r = dset_speed_get(db, tenant, comp, &sp);
    if (r == -1) fail("unable to read the default speed of ", tenant);
    if (r == 1) die(EXIT_PERM, "not set: default speed of ", tenant);
    snprintf(line, sizeof line, "-m %u -i %u -n %u", sp.maxconn, sp.interval, sp.nips);
    outf(comp, 0);
    outf(line, 1);
    done();
  }
  if (argc == 1 && !strcmp(argv[0], "-d")) {
    result(dset_speed_unset(db, tenant, comp), "unable to unset the default speed of ", tenant,
           "not set: default speed of ");
    done();
  }
  memset(&sp, 0, sizeof sp);
  for (i = 0; i + 1 < argc; i += 2) {
    unsigned *dst = !strcmp(argv[i], "-m") ? &sp.maxconn : !strcmp(argv[i], "-i") ? &sp.interval
                  : !strcmp(argv[i], "-n") ? &sp.nips : 0;
    char *end;
    unsigned long x;
    if (!dst) usage();
    errno = 0;
    x = strtoul(argv[i + 1], &end, 10);
    if (errno || *end || !*argv[i + 1] || x > 1000000) die(EXIT_PERM, "not a number: ", argv[i + 1]);
    *dst = (unsigned)x;
  }
  if (i != argc) usage();
  if (dset_speed_set(db, tenant, comp, &sp, &err) == -1) refused("unable to set the default speed of ", tenant, &err);
  done();
}

static void cmd_dset(const char *kind, int argc, char **argv)
{
  int all = !has_comp(argc, argv), r;
  const char *comp = take_comp(&argc, argv), *tenant;
  enum dset_kind k = (enum dset_kind)dset_kind_parse(kind);
  struct buf err = BUF_ZERO;
  if (argc < 2) usage();
  tenant = argv[1];
  need_tenant(tenant);
  if (!strcmp(argv[0], "list") && argc == 2) {
    if (dset_filter_list(db, tenant, all ? 0 : comp, k, print_filter, &k) == -1)
      fail("unable to list the filters of ", tenant);
    done();
  }
  if (!strcmp(argv[0], "add") && argc >= 3) {
    struct dset_filter f;
    if (dset_filter_args(k, argc - 2, argv + 2, &f, &err) == -1
        || dset_filter_put(db, tenant, comp, k, &f, &err) == -1)
      refused("unable to save filter ", argv[2], &err);
    dset_filter_free(&f);
    done();
  }
  if (!strcmp(argv[0], "del") && argc == 3) {
    result(dset_filter_del(db, tenant, comp, k, argv[2]), "unable to delete filter ", argv[2],
           "no such filter: ");
    done();
  }
  if (!strcmp(argv[0], "move") && argc == 4) {
    char *end;
    unsigned long pos;
    errno = 0;
    pos = strtoul(argv[3], &end, 10);
    if (errno || *end || pos == 0) die(EXIT_PERM, "bad position (1 is the first): ", argv[3]);
    r = dset_filter_move(db, tenant, comp, k, argv[2], (size_t)pos);
    result(r, "unable to move filter ", argv[2], 0);
    if (r == 1) die(EXIT_PERM, "no such filter: ", argv[2]);
    done();
  }
  if (k == DSET_SPEED && !strcmp(argv[0], "default")) cmd_speed_default(tenant, comp, argc - 2, argv + 2);
  usage();
}

static int print_ip(void *ctx, const char *comp, const char *ip)
{
  (void)ctx;
  outf(comp, 0);
  outf(ip, 1);
  return 0;
}

static void cmd_ip(int argc, char **argv)
{
  int all = !has_comp(argc, argv);
  const char *comp = take_comp(&argc, argv), *tenant;
  struct buf err = BUF_ZERO;
  if (argc < 2) usage();
  tenant = argv[1];
  need_tenant(tenant);
  if (!strcmp(argv[0], "list") && argc == 2) {
    if (dset_ip_list(db, tenant, all ? 0 : comp, print_ip, 0) == -1) fail("unable to list the IPs of ", tenant);
    done();
  }
  if (argc != 3) usage();
  if (!strcmp(argv[0], "add")) {
    int r = dset_ip_add(db, tenant, comp, argv[2], &err);
    if (r == -1) refused("unable to add sending IP ", argv[2], &err);
    if (r == 1) warn("sending IP exists: ", argv[2]);
  } else if (!strcmp(argv[0], "del")) {
    result(dset_ip_del(db, tenant, comp, argv[2]), "unable to delete sending IP ", argv[2],
           "no such sending IP: ");
  } else {
    usage();
  }
  done();
}

/* ---------- suppression and unsubscribe lists ---------- */

static void fmt_time(long long t, char *out, size_t n)
{
  time_t s = (time_t)t;
  struct tm g;
  if (!gmtime_r(&s, &g) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &g)) snprintf(out, n, "%lld", t);
}

static int print_sup(void *ctx, const struct suppress_rec *r)
{
  char c[32], st[16], occ[24];
  (void)ctx;
  fmt_time(r->created, c, sizeof c);
  snprintf(st, sizeof st, "%d", r->status);
  snprintf(occ, sizeof occ, "%lu", r->occurred);
  outf(r->comp, 0);
  outf(r->addr, 0);
  outf(st, 0);
  outf(occ, 0);
  outf(c, 0);
  if (r->removed) {
    char rm[32];
    fmt_time(r->removed, rm, sizeof rm);
    outf(r->id, 0);
    outf(rm, 1);
  } else {
    outf(r->id, 1);
  }
  return 0;
}

static int print_unsub(void *ctx, const struct suppress_unsub *u)
{
  char c[32];
  (void)ctx;
  fmt_time(u->created, c, sizeof c);
  outf(u->comp, 0);
  outf(u->addr, 0);
  outf(u->filter, 0);
  outf(c, 1);
  return 0;
}

/* Take "-X VALUE" (or the flag "-X" when value is 0) out of argv. */
static int take_opt(int *argc, char **argv, const char *opt, const char **value)
{
  int i, j, k = value ? 2 : 1;
  for (i = 0; i < *argc; i++) {
    if (strcmp(argv[i], opt)) continue;
    if (i + k > *argc) usage();
    if (value) *value = argv[i + 1];
    for (j = i; j + k <= *argc; j++) argv[j] = argv[j + k];
    *argc -= k;
    return 1;
  }
  return 0;
}

/* An address as the lists hold it (internal form). */
static void list_addr(const char *a, struct buf *out)
{
  buf_trunc(out, 0);
  if (addr_parse(out, a, strlen(a), 0) == -1 || !strchr(out->s, '@'))
    die(EXIT_PERM, "bad address: ", a);
}

static void cmd_suppress(int argc, char **argv)
{
  int all = !has_comp(argc, argv), removed = 0, r;
  const char *comp = take_comp(&argc, argv);
  struct buf a = BUF_ZERO;
  long long now = (long long)time(0);
  removed = take_opt(&argc, argv, "-r", 0);
  if (argc < 2) usage();
  need_tenant(argv[1]);
  if (!strcmp(argv[0], "list") && argc == 2) {
    if (suppress_list(db, argv[1], all ? 0 : comp, 0, removed, print_sup, 0) == -1)
      fail("unable to list the suppression list of ", argv[1]);
  } else if (!strcmp(argv[0], "search") && argc == 3) {
    if (suppress_list(db, argv[1], all ? 0 : comp, argv[2], removed, print_sup, 0) == -1)
      fail("unable to search the suppression list of ", argv[1]);
  } else if (!strcmp(argv[0], "add") && (argc == 3 || argc == 4)) {
    long st = ERR_SUPPRESSED;
    if (argc == 4) {
      char *end;
      st = strtol(argv[3], &end, 10);
      if (end == argv[3] || *end || st < 1 || st > 99) die(EXIT_PERM, "bad error status: ", argv[3]);
    }
    list_addr(argv[2], &a);
    r = suppress_add(db, 0, argv[1], comp, a.s, (int)st, now);
    result(r, "unable to add to the suppression list: ", argv[2], "listed already (one more occurrence): ");
  } else if (!strcmp(argv[0], "del") && argc == 3) {
    list_addr(argv[2], &a);
    result(suppress_del(db, 0, argv[1], comp, a.s, now), "unable to release ", argv[2], "not listed: ");
  } else {
    usage();
  }
  buf_free(&a);
  done();
}

static void cmd_unsubscribed(int argc, char **argv)
{
  int all = !has_comp(argc, argv);
  const char *comp = take_comp(&argc, argv), *filter = 0;
  struct buf a = BUF_ZERO;
  int has_filter = take_opt(&argc, argv, "-f", &filter);
  if (argc < 2) usage();
  need_tenant(argv[1]);
  if (!strcmp(argv[0], "list") && (argc == 2 || argc == 3)) {
    if (suppress_unsub_list(db, argv[1], all ? 0 : comp, argc == 3 ? argv[2] : 0,
                            has_filter ? filter : 0, print_unsub, 0) == -1)
      fail("unable to list the unsubscribe list of ", argv[1]);
  } else if (!strcmp(argv[0], "add") && argc == 3) {
    list_addr(argv[2], &a);
    result(suppress_unsub_add(db, 0, argv[1], comp, a.s, has_filter ? filter : "", (long long)time(0)),
           "unable to add to the unsubscribe list: ", argv[2], "listed already: ");
  } else if (!strcmp(argv[0], "del") && argc == 3) {
    list_addr(argv[2], &a);
    result(suppress_unsub_del(db, 0, argv[1], comp, a.s, has_filter ? filter : 0),
           "unable to remove from the unsubscribe list: ", argv[2], "not listed: ");
  } else {
    usage();
  }
  buf_free(&a);
  done();
}

/* ---------- events ---------- */

static int print_event(void *ctx, const struct event *e)
{
  char tm[32], err[16];
  time_t s = (time_t)e->time;
  struct tm g;
  (void)ctx;
  if (!gmtime_r(&s, &g) || !strftime(tm, sizeof tm, "%Y-%m-%dT%H:%M:%SZ", &g))
    snprintf(tm, sizeof tm, "%lld", e->time);
  snprintf(err, sizeof err, "%d", e->error);
  outf(tm, 0);
  outf(event_status_name(e->status), 0);
  outf(err, 0);
  outf(e->rcpt, 0);
  outf(e->remote, 0);
  outf(e->reply, 1);
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
  if (!strcmp(cmd, "suppress")) cmd_suppress(argc, argv);
  if (!strcmp(cmd, "unsubscribed")) cmd_unsubscribed(argc, argv);
  if (dset_kind_parse(cmd) >= 0) cmd_dset(cmd, argc, argv);
  if (!strcmp(cmd, "ip")) cmd_ip(argc, argv);
  if (!strcmp(cmd, "generation") && argc == 0) {
    unsigned long long g;
    char t[32];
    if (dset_generation(db, &g) == -1) fail("unable to read the settings generation", 0);
    snprintf(t, sizeof t, "%llu", g);
    outf(t, 1);
    done();
  }
  if (!strcmp(cmd, "selftest-write")) cmd_selftest_write(argc, argv);
  if (!strcmp(cmd, "selftest-check") && argc == 0) cmd_selftest_check();
  usage();
}

/* dkimctl: DKIM keys per tenant and sending domain (doc/programs/dkimctl.md).
     dkimctl keygen TENANT DOMAIN [-a rsa|ed25519] [-b BITS] [-s SELECTOR]
     dkimctl list [TENANT [DOMAIN]]
     dkimctl record TENANT DOMAIN [SELECTOR]
     dkimctl check TENANT DOMAIN [SELECTOR]
     dkimctl activate TENANT DOMAIN SELECTOR [-f] [-d]
     dkimctl deactivate TENANT DOMAIN SELECTOR
     dkimctl retire TENANT DOMAIN SELECTOR
     dkimctl policy TENANT [allow|require]
   Key files go to $CMC_HOME/keys/dkim (run it as the user that signs),
   metadata to the tables in $CMC_HOME/db; check and activate ask the DNS
   server CMC_RESOLVER ("ip" or "ip:port"; default /etc/resolv.conf).
   Exit 0 done (check: every key published), 100 refused or not published,
   111 try again (tables, files or DNS unavailable). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "buf.h"
#include "ctl.h"
#include "die.h"
#include "dkimdns.h"
#include "dkimkey.h"
#include "dns.h"
#include "home.h"
#include "tbl.h"

#define USAGE "usage: dkimctl keygen|list|record|check|activate|deactivate|retire|policy ..."
#define ARGS_MAX 3

static struct tbl *t;
static char keydir[4096];

/* Positional arguments into pos[], options into opts[letter]; opts taking
   a value are listed in withval.  Options may come before or after. */
static const char *opts[128];
static int parse(int argc, char **argv, const char *withval, const char *flags,
                 const char **pos, int maxpos)
{
  int i, n = 0;
  for (i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] == '-' && a[1] && !a[2] && (unsigned char)a[1] < 128) {
      if (strchr(withval, a[1])) {
        if (++i == argc) die(EXIT_PERM, "option needs a value: ", a);
        opts[(unsigned char)a[1]] = argv[i];
      } else if (strchr(flags, a[1])) {
        opts[(unsigned char)a[1]] = "1";
      } else {
        die(EXIT_PERM, "unknown option: ", a);
      }
      continue;
    }
    if (n == maxpos) die(EXIT_PERM, USAGE, 0);
    pos[n++] = a;
  }
  return n;
}

static void check_names(const char *tenant, const char *domain, const char *selector)
{
  if (tenant && !dkimkey_tenant_ok(tenant)) die(EXIT_PERM, "bad tenant name: ", tenant);
  if (domain && !dkimkey_domain_ok(domain))
    die(EXIT_PERM, "bad domain (lowercase ASCII, A-label for IDN): ", domain);
  if (selector && !dkimkey_selector_ok(selector)) die(EXIT_PERM, "bad selector: ", selector);
}

static void db_fail(const char *what)
{
  if (errno == EINVAL) die(EXIT_TEMP, what, ": malformed record in table dkim");
  die_sys(EXIT_TEMP, what, 0);
}

static void out(const char *s, size_t n)
{
  if (fwrite(s, 1, n, stdout) != n) die_sys(EXIT_TEMP, "unable to write output", 0);
}

static int print_key(void *ctx, const struct dkimkey *k)
{
  char c[32], ch[32];
  (void)ctx;
  ctl_time(c, sizeof c, k->created);
  ctl_time(ch, sizeof ch, k->changed);
  if (printf("%s\t%s\t%s\t%s\t%u\t%s\t%s\t%s\n", k->tenant, k->domain, k->selector,
             dkimkey_alg_name(k->alg), k->bits, dkimkey_state_name(k->state), c, ch) < 0)
    die_sys(EXIT_TEMP, "unable to write output", 0);
  return 0;
}

/* The record as one zone-file line, its value cut into strings of at most
   DKIMKEY_TXT_CHUNK bytes (RFC 1035 character-strings; RFC 6376 3.6.2.2:
   verifiers join them). */
static void print_record(const struct dkimkey *k)
{
  struct buf name = BUF_ZERO, val = BUF_ZERO;
  size_t i;
  if (dkimkey_record(k, &name, &val) == -1) die_sys(EXIT_TEMP, "unable to make record", 0);
  out(name.s, name.len);
  out(". IN TXT", 8);
  for (i = 0; i < val.len; i += DKIMKEY_TXT_CHUNK) {
    size_t n = val.len - i < DKIMKEY_TXT_CHUNK ? val.len - i : DKIMKEY_TXT_CHUNK;
    out(" \"", 2);
    out(val.s + i, n);
    out("\"", 1);
  }
  out("\n", 1);
  buf_free(&name);
  buf_free(&val);
}

static void get_key(const char *tenant, const char *domain, const char *sel, struct dkimkey *k)
{
  int r = dkimkey_get(t, 0, tenant, domain, sel, k);
  if (r == -1) db_fail("unable to read table dkim");
  if (r == 1) die(EXIT_PERM, "no such key: ", sel);
}

static int cmd_keygen(int argc, char **argv)
{
  const char *pos[ARGS_MAX];
  struct dkimkey k;
  unsigned long bits = 0;
  int alg = DKIMKEY_RSA, r;
  if (parse(argc, argv, "asb", "", pos, 2) != 2) die(EXIT_PERM, USAGE, 0);
  check_names(pos[0], pos[1], opts['s']);
  if (opts['a'] && (alg = dkimkey_alg_parse(opts['a'])) == -1)
    die(EXIT_PERM, "algorithm is rsa or ed25519: ", opts['a']);
  if (opts['b']) {
    char *end;
    bits = strtoul(opts['b'], &end, 10);
    if (*end || alg != DKIMKEY_RSA || bits < 1024 || bits > 4096)
      die(EXIT_PERM, "bits: 1024 to 4096, RSA only: ", opts['b']);
  }
  r = dkimkey_gen(t, keydir, pos[0], pos[1], opts['s'], alg, (unsigned)bits, &k);
  if (r == 1) die(EXIT_PERM, "selector already used for this domain: ", opts['s']);
  if (r == -1) {
    if (errno == EINVAL) die(EXIT_PERM, "bad key parameters", 0);
    die_sys(EXIT_TEMP, "unable to make key", 0);
  }
  print_key(0, &k);
  print_record(&k);
  return 0;
}

static int cmd_list(int argc, char **argv)
{
  const char *pos[ARGS_MAX] = { 0, 0, 0 };
  int n = parse(argc, argv, "", "", pos, 2);
  check_names(pos[0], pos[1], 0);
  if (dkimkey_list(t, n > 0 ? pos[0] : 0, n > 1 ? pos[1] : 0, print_key, 0) == -1)
    db_fail("unable to read table dkim");
  return 0;
}

/* Keys of tenant/domain that belong in DNS (all but retired ones). */
struct keys {
  struct dkimkey k[64];
  size_t n;
};
static int collect(void *ctx, const struct dkimkey *k)
{
  struct keys *ks = ctx;
  if (k->state == DKIMKEY_RETIRED) return 0;
  if (ks->n == sizeof ks->k / sizeof ks->k[0]) return 1;
  ks->k[ks->n++] = *k;
  return 0;
}

static struct keys *select_keys(const char *tenant, const char *domain, const char *sel)
{
  static struct keys ks;
  ks.n = 0;
  if (sel) {
    get_key(tenant, domain, sel, &ks.k[0]);
    ks.n = 1;
    return &ks;
  }
  if (dkimkey_list(t, tenant, domain, collect, &ks) == -1) db_fail("unable to read table dkim");
  if (ks.n == 0) die(EXIT_PERM, "no keys for domain ", domain);
  return &ks;
}

static int cmd_record(int argc, char **argv)
{
  const char *pos[ARGS_MAX] = { 0, 0, 0 };
  struct keys *ks;
  size_t i;
  int n = parse(argc, argv, "", "", pos, 3);
  if (n < 2) die(EXIT_PERM, USAGE, 0);
  check_names(pos[0], pos[1], pos[2]);
  ks = select_keys(pos[0], pos[1], pos[2]);
  for (i = 0; i < ks->n; i++) print_record(&ks->k[i]);
  return 0;
}

static const struct sockaddr_in *resolver(struct sockaddr_in *sa)
{
  const char *r = getenv("CMC_RESOLVER");
  if (!r || !*r) return 0;
  if (dns_server_parse(r, sa) == -1) die(EXIT_PERM, "CMC_RESOLVER is not ip or ip:port: ", r);
  return sa;
}

/* Check one key; print "NAME STATUS: why".  The DKIMDNS_* outcome. */
static int check_one(const struct sockaddr_in *server, const struct dkimkey *k)
{
  static const char *const word[] = { "match", "mismatch", "absent", "unknown" };
  struct buf why = BUF_ZERO;
  int r = dkimdns_check(server, k, &why);
  if (r == -1) die_sys(EXIT_TEMP, "unable to check", 0);
  if (printf("%s._domainkey.%s %s: %s\n", k->selector, k->domain, word[r], why.s) < 0
      || fflush(stdout) == EOF)
    die_sys(EXIT_TEMP, "unable to write output", 0);
  buf_free(&why);
  return r;
}

static int cmd_check(int argc, char **argv)
{
  const char *pos[ARGS_MAX] = { 0, 0, 0 };
  struct sockaddr_in sa;
  const struct sockaddr_in *server = resolver(&sa);
  struct keys *ks;
  size_t i;
  int n = parse(argc, argv, "", "", pos, 3), worst = 0;
  if (n < 2) die(EXIT_PERM, USAGE, 0);
  check_names(pos[0], pos[1], pos[2]);
  ks = select_keys(pos[0], pos[1], pos[2]);
  for (i = 0; i < ks->n; i++) {
    int r = check_one(server, &ks->k[i]);
    if (r == DKIMDNS_TEMP) worst = EXIT_TEMP;
    else if (r != DKIMDNS_MATCH && worst == 0) worst = EXIT_PERM;
  }
  return worst;
}

static int cmd_activate(int argc, char **argv)
{
  const char *pos[ARGS_MAX];
  struct dkimkey k;
  struct sockaddr_in sa;
  int r;
  if (parse(argc, argv, "", "fd", pos, 3) != 3) die(EXIT_PERM, USAGE, 0);
  check_names(pos[0], pos[1], pos[2]);
  get_key(pos[0], pos[1], pos[2], &k);
  if (k.state == DKIMKEY_RETIRED) die(EXIT_PERM, "key is retired: ", pos[2]);
  if (k.state == DKIMKEY_ACTIVE) {
    print_key(0, &k);
    return 0;
  }
  if (!opts['f']) {
    /* Signing with a key verifiers cannot find fails every message:
       the record must be in DNS first (-f when the operator knows). */
    r = check_one(resolver(&sa), &k);
    if (r == DKIMDNS_TEMP)
      die(EXIT_TEMP, "cannot tell whether the record is published; -f to force", 0);
    if (r != DKIMDNS_MATCH) die(EXIT_PERM, "record not published: publish it first, or -f", 0);
  }
  /* -d: beside the active key of the other algorithm (dual signing). */
  r = opts['d'] ? dkimkey_activate_pair(t, pos[0], pos[1], pos[2])
                : dkimkey_activate(t, pos[0], pos[1], pos[2]);
  if (r == 1) die(EXIT_PERM, "no such key: ", pos[2]);
  if (r == -1) {
    if (errno == EINVAL) die(EXIT_PERM, "key is retired: ", pos[2]);
    db_fail("unable to activate");
  }
  get_key(pos[0], pos[1], pos[2], &k);
  print_key(0, &k);
  return 0;
}

static int cmd_deactivate(int argc, char **argv)
{
  const char *pos[ARGS_MAX];
  struct dkimkey k;
  int r;
  if (parse(argc, argv, "", "", pos, 3) != 3) die(EXIT_PERM, USAGE, 0);
  check_names(pos[0], pos[1], pos[2]);
  r = dkimkey_deactivate(t, pos[0], pos[1], pos[2]);
  if (r == 1) die(EXIT_PERM, "no such key: ", pos[2]);
  if (r == -1) {
    if (errno == EINVAL) die(EXIT_PERM, "key is not active: ", pos[2]);
    if (errno == EBUSY)
      die(EXIT_PERM, "the domain's only active key: activate another instead: ", pos[2]);
    db_fail("unable to deactivate");
  }
  get_key(pos[0], pos[1], pos[2], &k);
  print_key(0, &k);
  return 0;
}

static int cmd_retire(int argc, char **argv)
{
  const char *pos[ARGS_MAX];
  struct dkimkey k;
  int r;
  if (parse(argc, argv, "", "", pos, 3) != 3) die(EXIT_PERM, USAGE, 0);
  check_names(pos[0], pos[1], pos[2]);
  r = dkimkey_retire(t, keydir, pos[0], pos[1], pos[2]);
  if (r == 1) die(EXIT_PERM, "no such key: ", pos[2]);
  if (r == -1) {
    if (errno == EBUSY) die(EXIT_PERM, "this is the active key: activate another first: ", pos[2]);
    db_fail("unable to retire");
  }
  if (r == 2) warn_sys("retired, but unable to remove the private key file", 0);
  get_key(pos[0], pos[1], pos[2], &k);
  print_key(0, &k);
  return 0;
}

static int cmd_policy(int argc, char **argv)
{
  const char *pos[ARGS_MAX] = { 0, 0, 0 };
  int n = parse(argc, argv, "", "", pos, 2), r;
  if (n < 1) die(EXIT_PERM, USAGE, 0);
  check_names(pos[0], 0, 0);
  if (n == 2) {
    if (strcmp(pos[1], "allow") && strcmp(pos[1], "require"))
      die(EXIT_PERM, "policy is allow or require: ", pos[1]);
    if (dkimkey_policy_set(t, pos[0], !strcmp(pos[1], "allow")) == -1)
      db_fail("unable to write table dkim");
  }
  r = dkimkey_policy_get(t, pos[0]);
  if (r == -1) db_fail("unable to read table dkim");
  if (printf("%s\t%s\n", pos[0], r ? "allow" : "require") < 0)
    die_sys(EXIT_TEMP, "unable to write output", 0);
  return 0;
}

int main(int argc, char **argv)
{
  static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
    { "keygen", cmd_keygen }, { "list", cmd_list }, { "record", cmd_record },
    { "check", cmd_check }, { "activate", cmd_activate }, { "deactivate", cmd_deactivate },
    { "retire", cmd_retire },
    { "policy", cmd_policy },
  };
  const char *home;
  char dbdir[4096];
  size_t i;
  int rc;
  prog = "dkimctl";
  if (argc < 2) die(EXIT_PERM, USAGE, 0);
  for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (!strcmp(argv[1], cmds[i].name)) break;
  if (i == sizeof cmds / sizeof cmds[0]) die(EXIT_PERM, USAGE, 0);
  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if (home_path(dbdir, sizeof dbdir, home, "db") == -1
      || home_path(keydir, sizeof keydir, home, "keys/dkim") == -1)
    die(EXIT_PERM, "CMC_HOME too long", 0);
  if (tbl_open(&t, dbdir, 0) == -1) die_sys(EXIT_TEMP, "unable to open tables in ", dbdir);
  rc = cmds[i].fn(argc, argv);
  if (fflush(stdout) == EOF) die_sys(EXIT_TEMP, "unable to write output", 0);
  tbl_close(t);
  return rc;
}

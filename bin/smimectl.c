/* smimectl: S/MIME certificates per tenant and From address or domain:
   register them (PEM files, or PKCS#12 with its password on fd 0) after
   checking them, list, delete; and the recipient domains that get no
   S/MIME (doc/programs/smimectl.md, doc/smime.md).
   Output: tab-separated lines on fd 1.  Environment: CMC_HOME.
   Exit 0 done; 100 bad usage, unknown tenant or registration, a
   certificate refused (the reason on fd 2); 111 tables or files unusable. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>
#include "buf.h"
#include "die.h"
#include "home.h"
#include "io.h"
#include "smimecert.h"
#include "smimereg.h"
#include "tbl.h"
#include "tenant.h"

#define USAGE "usage: smimectl add TENANT ADDRESS|DOMAIN CERT KEY [CHAIN] [-f]\n" \
  "  | import TENANT ADDRESS|DOMAIN FILE.p12 [-f]   (password: first line of stdin)\n" \
  "  | list [TENANT] | del TENANT ADDRESS|DOMAIN\n" \
  "  | skip TENANT [DOMAIN] | unskip TENANT DOMAIN"

static struct tbl *db;
static char keydir[4096];
static OSSL_PROVIDER *legacy, *deflt;   /* kept loaded to the end */

static int code(int e)
{
  return e == EINVAL || e == ENOENT || e == EEXIST || e == ENAMETOOLONG || e == EACCES
         || e == EISDIR || e == EFBIG ? EXIT_PERM : EXIT_TEMP;
}

static _Noreturn void fail(const char *what, const char *arg)
{
  int e = errno;
  const char *m = db ? tbl_lasterror(db) : "";
  if (*m && code(e) == EXIT_TEMP) warn("Berkeley DB: ", m);
  errno = e;
  die_sys(code(e), what, arg);
}

static void need_tenant(const char *tenant)
{
  int r;
  if (!tenant_name_ok(tenant)) die(EXIT_PERM, "bad tenant name: ", tenant);
  r = tenant_exists(db, tenant);
  if (r == -1) fail("unable to read tenant ", tenant);
  if (r == 0) die(EXIT_PERM, "no such tenant: ", tenant);
}

static void target(const char *in, struct buf *out)
{
  if (smimereg_target(in, out) == -1) {
    if (errno == ENOMEM) die_sys(EXIT_TEMP, "out of memory", 0);
    die(EXIT_PERM, "not an address or domain: ", in);
  }
}

static void readfile(const char *path, struct buf *b)
{
  if (file_read(path, b, SMIMECERT_FILE_MAX) == -1) {
    if (errno == EFBIG) die(EXIT_PERM, "file too big: ", path);
    fail("unable to read ", path);
  }
}

static void day(char *out, size_t n, long long t)
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm)) snprintf(out, n, "?");
}

/* One line: tenant target expires email keyalg bits chain fp subject issuer serial. */
static int put_line(void *ctx, const struct smimereg_ent *e)
{
  char na[32];
  (void)ctx;
  day(na, sizeof na, e->i.not_after);
  printf("%s\t%s\t%s\t%s\t%s\t%u\t%u\t%s\t%s\t%s\t%s\n", e->tenant, e->target, na,
         e->i.email[0] ? e->i.email : "-", e->i.keyalg, e->i.bits, e->i.nchain, e->i.fp,
         e->i.subject, e->i.issuer, e->i.serial);
  return 0;
}

static int put_skip(void *ctx, const char *domain)
{
  printf("%s\t%s\n", (const char *)ctx, domain);
  return 0;
}

/* Check c for the target and register it. */
static void register_cred(const char *tenant, const char *tgt, struct smimecert *c, int replace)
{
  struct buf why = BUF_ZERO;
  struct smimereg_ent e;
  int r = smimecert_check(c, tgt, (long long)time(0), &why);
  if (r == -1) die_sys(EXIT_TEMP, "unable to check the certificate", 0);
  if (r == 1) die(EXIT_PERM, "certificate refused: ", why.s);
  r = smimereg_add(db, keydir, tenant, tgt, c, replace, &e);
  if (r == -1) fail("unable to register the certificate for ", tgt);
  if (r == 1) die(EXIT_PERM, "already registered (use -f to replace): ", tgt);
  put_line(0, &e);
  buf_free(&why);
}

int main(int argc, char **argv)
{
  const char *home, *cmd, *arg[8];
  char dbdir[4096];
  struct buf tgt = BUF_ZERO, why = BUF_ZERO;
  struct smimecert c;
  size_t narg = 0;
  int i, replace = 0, r;
  prog = "smimectl";
  if (argc < 2) die(EXIT_PERM, USAGE, 0);
  cmd = argv[1];
  for (i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "-f")) replace = 1;
    else if (argv[i][0] == '-' && argv[i][1]) die(EXIT_PERM, USAGE, 0);
    else if (narg < sizeof arg / sizeof *arg) arg[narg++] = argv[i];
    else die(EXIT_PERM, USAGE, 0);
  }
  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if (home_path(dbdir, sizeof dbdir, home, "db") == -1
      || home_path(keydir, sizeof keydir, home, "keys/smime") == -1)
    die(EXIT_PERM, "CMC_HOME too long", 0);
  if (tbl_open(&db, dbdir, 0) == -1) fail("unable to open tables in ", dbdir);

  if (!strcmp(cmd, "add") && (narg == 4 || narg == 5)) {
    struct buf cert = BUF_ZERO, key = BUF_ZERO, chain = BUF_ZERO;
    need_tenant(arg[0]);
    target(arg[1], &tgt);
    readfile(arg[2], &cert);
    readfile(arg[3], &key);
    if (narg == 5) readfile(arg[4], &chain);
    r = smimecert_from_pem(&c, cert.s, cert.len, key.s, key.len, narg == 5 ? chain.s : 0,
                           chain.len, &why);
    if (key.s) OPENSSL_cleanse(key.s, key.len);
    if (r == -1) die_sys(EXIT_TEMP, "unable to read the certificate", 0);
    if (r == 1) die(EXIT_PERM, "certificate refused: ", why.s);
    register_cred(arg[0], tgt.s, &c, replace);
    smimecert_free(&c);
    if (key.s) OPENSSL_cleanse(key.s, key.cap);
    buf_free(&cert);
    buf_free(&key);
    buf_free(&chain);
  } else if (!strcmp(cmd, "import") && narg == 3) {
    struct buf p12 = BUF_ZERO, pass = BUF_ZERO;
    char *nl;
    need_tenant(arg[0]);
    target(arg[1], &tgt);
    readfile(arg[2], &p12);
    if (read_all(0, &pass, SMIMECERT_PASS_MAX) == -1) {
      if (errno == EFBIG) die(EXIT_PERM, "password too long", 0);
      die_sys(EXIT_TEMP, "unable to read the password", 0);
    }
    if (buf_add(&pass, "", 0) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
    if ((nl = memchr(pass.s, '\n', pass.len))) *nl = 0;
    if (pass.len && (nl = strchr(pass.s, '\r'))) *nl = 0;
    /* Files made by older tools use RC2 or 3DES: OpenSSL 3 keeps those in
       its legacy provider.  Without it such files are refused, with why. */
    legacy = OSSL_PROVIDER_load(0, "legacy");
    deflt = OSSL_PROVIDER_load(0, "default");
    r = smimecert_from_p12(&c, p12.s, p12.len, pass.s, &why);
    OPENSSL_cleanse(pass.s, pass.cap);
    if (r == -1) die_sys(EXIT_TEMP, "unable to read the PKCS#12 file", 0);
    if (r == 1) die(EXIT_PERM, "certificate refused: ", why.s);
    register_cred(arg[0], tgt.s, &c, replace);
    smimecert_free(&c);
    buf_free(&p12);
    buf_free(&pass);
  } else if (!strcmp(cmd, "list") && narg <= 1) {
    if (narg == 1 && !tenant_name_ok(arg[0])) die(EXIT_PERM, "bad tenant name: ", arg[0]);
    if (smimereg_list(db, narg ? arg[0] : 0, put_line, 0) == -1) fail("unable to list certificates", 0);
  } else if (!strcmp(cmd, "del") && narg == 2) {
    if (!tenant_name_ok(arg[0])) die(EXIT_PERM, "bad tenant name: ", arg[0]);
    target(arg[1], &tgt);
    r = smimereg_del(db, keydir, arg[0], tgt.s);
    if (r == -1) fail("unable to delete ", tgt.s);
    if (r == 1) die(EXIT_PERM, "no certificate registered for ", tgt.s);
  } else if ((!strcmp(cmd, "skip") && (narg == 1 || narg == 2))
             || (!strcmp(cmd, "unskip") && narg == 2)) {
    need_tenant(arg[0]);
    if (narg == 1) {
      if (smimereg_skip_list(db, arg[0], put_skip, (void *)arg[0]) == -1) fail("unable to list", 0);
    } else {
      target(arg[1], &tgt);
      if (strchr(tgt.s, '@')) die(EXIT_PERM, "not a domain: ", arg[1]);
      r = smimereg_skip_set(db, arg[0], tgt.s, cmd[0] == 's');
      if (r == -1) fail("unable to change ", tgt.s);
      if (r == 1) die(EXIT_PERM, "not on the list: ", tgt.s);
      put_skip((void *)arg[0], tgt.s);
    }
  } else {
    die(EXIT_PERM, USAGE, 0);
  }
  if (fflush(stdout) == EOF) die_sys(EXIT_TEMP, "unable to write output", 0);
  buf_free(&tgt);
  buf_free(&why);
  tbl_close(db);
  return 0;
}

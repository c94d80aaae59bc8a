/* authctl: the SPF and DMARC records a tenant's sending domain needs,
   and checks of what DNS publishes (doc/programs/authctl.md,
   doc/spf-dmarc.md).
   Usage: authctl spf record|check TENANT DOMAIN
          authctl dmarc record TENANT DOMAIN [-p POLICY] [-r ADDRESS]
          authctl dmarc check TENANT DOMAIN [-r ADDRESS]
   Output on fd 1: zone-file lines (record), one line per finding (check).
   Environment: CMC_HOME, CMC_HOSTNAME, CMC_RESOLVER, CMC_SPF_DOMAIN,
   CMC_SENDING_IPS.
   Exit 0 done / all is published as it should; 100 bad usage, nothing
   to check with, or DNS does not publish what it should; 111 tables
   unusable or DNS gave no answer. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "die.h"
#include "dkimkey.h"
#include "dmarc.h"
#include "dmarcorg.h"
#include "dns.h"
#include "dqprep.h"
#include "dset.h"
#include "home.h"
#include "smimereg.h"
#include "spfchk.h"
#include "spfdns.h"
#include "tbl.h"
#include "tenant.h"

#define USAGE "usage: authctl spf record|check TENANT DOMAIN\n" \
  "  | dmarc record TENANT DOMAIN [-p none|quarantine|reject] [-r ADDRESS]\n" \
  "  | dmarc check TENANT DOMAIN [-r ADDRESS]"

static struct tbl *db;
static char hostname[256];
static struct sockaddr_in resolver;
static int have_resolver;

static _Noreturn void fail(const char *what, const char *arg)
{
  int e = errno;
  const char *m = db ? tbl_lasterror(db) : "";
  if (*m) warn("Berkeley DB: ", m);
  errno = e;
  die_sys(e == EINVAL || e == ENOENT ? EXIT_PERM : EXIT_TEMP, what, arg);
}

/* A setting of tenant's default composition into out: 1 found, 0 not. */
static int setting(const char *tenant, const char *key, struct buf *out)
{
  int r = tenant_get(db, tenant, "default", key, out);
  if (r == -1) fail("unable to read the settings of ", tenant);
  return r == 0 && out->len > 0;
}

static void lower(char *s)
{
  for (; *s; s++) if (*s >= 'A' && *s <= 'Z') *s = (char)(*s + 32);
}

/* The domain whose SPF record lists our sending IPs. */
static void spf_domain(const char *tenant, struct buf *out)
{
  const char *s = getenv("CMC_SPF_DOMAIN");
  buf_trunc(out, 0);
  if (!setting(tenant, "spf_domain", out)) {
    if (s && *s) buf_adds(out, s);
    else if (buf_printf(out, "spf.%s", hostname) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
  }
  lower(out->s);
  if (!dkimkey_domain_ok(out->s)) die(EXIT_PERM, "not a usable SPF domain: ", out->s);
}

struct ips { char ip[SPFCHK_IPS_MAX][SPFCHK_IP_TEXT]; size_t n; };

static void ip_add(struct ips *l, const char *s)
{
  char t[SPFCHK_IP_TEXT];
  size_t i;
  if (!spfchk_ip(s, t)) die(EXIT_PERM, "not an IP address: ", s);
  for (i = 0; i < l->n; i++) if (!strcmp(l->ip[i], t)) return;
  if (l->n == SPFCHK_IPS_MAX) die(EXIT_PERM, "too many sending IPs", 0);
  memcpy(l->ip[l->n++], t, sizeof t);
}

static int ip_one(void *ctx, const char *comp, const char *ip)
{
  (void)comp;
  ip_add(ctx, ip);
  return 0;
}

/* The sending IPs: the tenant's pool, else CMC_SENDING_IPS. */
static void sending_ips(const char *tenant, struct ips *l, const char **from)
{
  const char *s = getenv("CMC_SENDING_IPS");
  l->n = 0;
  if (dset_ip_list(db, tenant, 0, ip_one, l) == -1) fail("unable to read the sending IPs of ", tenant);
  *from = "the tenant's pool";
  if (l->n == 0 && s) {
    char t[256];
    size_t i = 0;
    *from = "CMC_SENDING_IPS";
    while (s[i]) {
      size_t k = 0;
      while (s[i] == ' ' || s[i] == ',' || s[i] == '\t') i++;
      while (s[i] && s[i] != ' ' && s[i] != ',' && s[i] != '\t' && k + 1 < sizeof t) t[k++] = s[i++];
      t[k] = 0;
      if (k) ip_add(l, t);
    }
  }
  if (l->n == 0)
    die(EXIT_PERM, "no sending IPs known: give the tenant a pool of sending IPs, "
                   "or set CMC_SENDING_IPS", 0);
}

static void put(const struct buf *b)
{
  if (fwrite(b->s, 1, b->len, stdout) != b->len) die_sys(EXIT_TEMP, "unable to write output", 0);
}

static int spf_record(const char *tenant, const char *domain)
{
  struct buf inc = BUF_ZERO, v = BUF_ZERO, out = BUF_ZERO;
  struct ips l;
  const char *from;
  spf_domain(tenant, &inc);
  sending_ips(tenant, &l, &from);
  if (spfchk_tenant_record(inc.s, &v) == -1
      || buf_printf(&out, "; %s publishes (or adds include:%s to its SPF record):\n", domain, inc.s) == -1
      || spfchk_zone_line(domain, v.s, &out) == -1
      || spfchk_ips_record(l.ip, l.n, &v) == -1
      || buf_printf(&out, "; the installation publishes, listing the sending IPs (%s):\n", from) == -1
      || spfchk_zone_line(inc.s, v.s, &out) == -1)
    die_sys(EXIT_TEMP, "out of memory", 0);
  put(&out);
  buf_free(&inc);
  buf_free(&v);
  buf_free(&out);
  return 0;
}

static int spf_check(const char *tenant, const char *domain)
{
  struct buf inc = BUF_ZERO, txt = BUF_ZERO, why = BUF_ZERO;
  struct spfchk *c;
  struct ips l;
  const char *from, *p;
  size_t n, i;
  int r, bad = 0, temp = 0, found = 0;
  spf_domain(tenant, &inc);
  sending_ips(tenant, &l, &from);
  /* What the domain publishes, for the reader; libspf2 decides below. */
  r = spfdns_txt(have_resolver ? &resolver : 0, domain, &txt, &n);
  if (r == -1) die_sys(EXIT_TEMP, "out of memory", 0);
  for (i = 0, p = txt.s; r == SPFDNS_OK && i < n; i++, p += strlen(p) + 1)
    if (!strncasecmp(p, "v=spf1", 6) && (p[6] == 0 || p[6] == ' ')) {
      printf("%s spf: %s\n", domain, p);
      found = 1;
      if (!strstr(p, inc.s)) printf("%s include: no include:%s in it\n", domain, inc.s);
    }
  if (!found)
    printf("%s spf: %s\n", domain, r == SPFDNS_TEMP ? "no answer" : "no SPF record");
  if (spfchk_open(&c, have_resolver ? &resolver : 0, hostname) == -1)
    die_sys(EXIT_TEMP, "unable to start libspf2", 0);
  for (i = 0; i < l.n; i++) {
    buf_trunc(&why, 0);
    r = spfchk_check(c, domain, l.ip[i], &why);
    if (r == -1) die_sys(errno == EINVAL ? EXIT_PERM : EXIT_TEMP, "unable to check ", l.ip[i]);
    printf("%s %s: %s\n", l.ip[i], spfchk_result_name(r), why.s ? why.s : "");
    if (r == SPFCHK_TEMPERROR) temp = 1;
    else if (r != SPFCHK_PASS) bad = 1;
  }
  spfchk_close(c);
  buf_free(&inc);
  buf_free(&txt);
  buf_free(&why);
  return bad ? EXIT_PERM : temp ? EXIT_TEMP : 0;
}

/* The rua address: -r, else dmarc@ the tenant's bounce domain. */
static void rua(const char *tenant, const char *opt, struct buf *out)
{
  char def[DQPREP_DOMAIN_MAX + 1];
  struct buf d = BUF_ZERO;
  buf_trunc(out, 0);
  if (opt) {
    if (smimereg_target(opt, out) == -1 || !strchr(out->s, '@')) die(EXIT_PERM, "not an address: ", opt);
    return;
  }
  if (!setting(tenant, "bounce_domain", &d)) {
    if (dqprep_default_bounce_domain(def, sizeof def, tenant, hostname) == -1)
      die(EXIT_PERM, "host name too long", 0);
    buf_set(&d, def, strlen(def));
  }
  lower(d.s);
  if (buf_printf(out, "dmarc@%s", d.s) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
  buf_free(&d);
}

static int dmarc_rec(const char *tenant, const char *domain, int policy, const char *ropt)
{
  struct buf r = BUF_ZERO, v = BUF_ZERO, name = BUF_ZERO, out = BUF_ZERO;
  const char *rdom;
  rua(tenant, ropt, &r);
  rdom = strrchr(r.s, '@') + 1;
  if (dmarc_record(policy, r.s, &v) == -1) die(EXIT_PERM, "unusable rua address: ", r.s);
  if (buf_printf(&name, "_dmarc.%s", domain) == -1 || spfchk_zone_line(name.s, v.s, &out) == -1)
    die_sys(EXIT_TEMP, "out of memory", 0);
  if (strcmp(rdom, domain)) {
    /* RFC 7489 7.1: reports go to another domain only if it says so. */
    buf_trunc(&name, 0);
    if (buf_printf(&out, "; %s, which receives the reports, publishes (RFC 7489 7.1):\n", rdom) == -1
        || buf_printf(&name, "%s._report._dmarc.%s", domain, rdom) == -1
        || spfchk_zone_line(name.s, "v=DMARC1", &out) == -1)
      die_sys(EXIT_TEMP, "out of memory", 0);
  }
  put(&out);
  buf_free(&r);
  buf_free(&v);
  buf_free(&name);
  buf_free(&out);
  return 0;
}

/* The DMARC records at name: each printed, the invalid ones with why.
   SPFDNS_TEMP when DNS gave no answer; else 0, with *nrec the valid DMARC
   records (the last in *rec) and *bad set when one was invalid. */
static int dmarc_lookup(const char *name, struct dmarc_rec *rec, size_t *nrec, int *bad)
{
  struct buf txt = BUF_ZERO, why = BUF_ZERO;
  struct dmarc_rec one;
  const char *p;
  size_t n, i;
  int rc = spfdns_txt(have_resolver ? &resolver : 0, name, &txt, &n);
  if (rc == -1) die_sys(EXIT_TEMP, "out of memory", 0);
  *nrec = 0;
  *bad = 0;
  for (i = 0, p = txt.s; rc == SPFDNS_OK && i < n; i++, p += strlen(p) + 1) {
    int k;
    buf_trunc(&why, 0);
    k = dmarc_parse(p, strlen(p), &one, &why);
    if (k == DMARC_NOT_DMARC) continue;
    printf("%s record: %s\n", name, p);
    if (k == DMARC_INVALID) {
      printf("%s invalid: %s\n", name, why.s);
      *bad = 1;
      continue;
    }
    *rec = one;
    ++*nrec;
  }
  buf_free(&txt);
  buf_free(&why);
  return rc == SPFDNS_TEMP ? SPFDNS_TEMP : 0;
}

static int dmarc_check(const char *tenant, const char *domain, const char *ropt)
{
  struct buf r = BUF_ZERO, name = BUF_ZERO, org = BUF_ZERO, oname = BUF_ZERO;
  struct dmarc_rec rec;
  const char *rdom, *pdom = domain, *pname;
  size_t nrec = 0;
  int res = 0, bad, o = 1;
  rua(tenant, ropt, &r);
  rdom = strrchr(r.s, '@') + 1;
  if (buf_printf(&name, "_dmarc.%s", domain) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
  pname = name.s;
  if (dmarc_lookup(name.s, &rec, &nrec, &bad) == SPFDNS_TEMP) {
    printf("%s unknown: no answer (SERVFAIL, REFUSED or time-out)\n", name.s);
    res = EXIT_TEMP;
    goto out;
  }
  if (bad) {
    res = EXIT_PERM;
    goto out;
  }
  /* RFC 7489 6.6.3: no record of its own, the Organizational Domain's
     applies (its sp=, else its p=). */
  if (nrec == 0 && (o = dmarcorg_domain(domain, &org)) == 0 && strcmp(org.s, domain)) {
    printf("%s absent: no DMARC record of its own; asking the organisational domain %s"
           " (RFC 7489 6.6.3)\n", name.s, org.s);
    if (buf_printf(&oname, "_dmarc.%s", org.s) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
    if (dmarc_lookup(oname.s, &rec, &nrec, &bad) == SPFDNS_TEMP) {
      printf("%s unknown: no answer (SERVFAIL, REFUSED or time-out)\n", oname.s);
      res = EXIT_TEMP;
      goto out;
    }
    if (bad) {
      res = EXIT_PERM;
      goto out;
    }
    if (nrec == 0) {
      printf("%s absent: no DMARC record at the organisational domain either"
             " (publish one: authctl dmarc record)\n", oname.s);
      res = EXIT_PERM;
      goto out;
    }
    if (nrec == 1)
      printf("%s inherited from %s: policy %s for %s (%s)\n", name.s, org.s,
             dmarc_policy_name(rec.sp >= 0 ? rec.sp : rec.p), domain,
             rec.sp >= 0 ? "its sp=" : "its p=, no sp=");
    pdom = org.s;
    pname = oname.s;
  } else if (nrec == 0 && o == -1 && errno == ENOMEM) {
    die_sys(EXIT_TEMP, "out of memory", 0);
  }
  if (nrec == 0) {
    printf("%s absent: no DMARC record (publish one: authctl dmarc record)\n", name.s);
    res = EXIT_PERM;
    goto out;
  }
  if (nrec > 1) {
    printf("%s invalid: %zu DMARC records; receivers then apply none (RFC 7489 6.6.3)\n", pname, nrec);
    res = EXIT_PERM;
    goto out;
  }
  printf("%s policy: p=%s sp=%s adkim=%c aspf=%c pct=%d\n", pname, dmarc_policy_name(rec.p),
         rec.sp < 0 ? "-" : dmarc_policy_name(rec.sp), rec.adkim, rec.aspf, rec.pct);
  if (!dmarc_has_rua(&rec, r.s)) {
    printf("%s rua: reports do not come to mailto:%s\n", pname, r.s);
    res = EXIT_PERM;
  } else {
    printf("%s rua: mailto:%s\n", pname, r.s);
  }
  if (strcmp(rdom, pdom)) {
    /* RFC 7489 7.1: asked for the domain whose record names the rua. */
    struct buf an = BUF_ZERO, at = BUF_ZERO;
    const char *p;
    size_t m, i;
    int ok = 0, rc;
    if (buf_printf(&an, "%s._report._dmarc.%s", pdom, rdom) == -1) die_sys(EXIT_TEMP, "out of memory", 0);
    rc = spfdns_txt(have_resolver ? &resolver : 0, an.s, &at, &m);
    for (i = 0, p = at.s; rc == SPFDNS_OK && i < m; i++, p += strlen(p) + 1)
      if (!strncmp(p, "v=DMARC1", 8)) ok = 1;
    printf("%s %s\n", an.s, ok ? "present: reports may go there"
                               : "absent: receivers may drop reports to another domain (RFC 7489 7.1)");
    buf_free(&an);
    buf_free(&at);
  }
out:
  if (res != EXIT_TEMP) printf("%s %s\n", name.s, res ? "not as it should be" : "ok");
  buf_free(&r);
  buf_free(&name);
  buf_free(&org);
  buf_free(&oname);
  return res;
}

int main(int argc, char **argv)
{
  const char *home, *s, *arg[4], *ropt = 0;
  char dbdir[4096];
  struct buf d = BUF_ZERO;
  size_t narg = 0;
  int i, policy = DMARC_NONE, r;
  prog = "authctl";
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-p") && i + 1 < argc) {
      if ((policy = dmarc_policy_parse(argv[++i])) < 0) die(EXIT_PERM, "unknown policy: ", argv[i]);
    } else if (!strcmp(argv[i], "-r") && i + 1 < argc) {
      ropt = argv[++i];
    } else if (argv[i][0] == '-' || narg == 4) {
      die(EXIT_PERM, USAGE, 0);
    } else {
      arg[narg++] = argv[i];
    }
  }
  if (narg != 4 || (strcmp(arg[0], "spf") && strcmp(arg[0], "dmarc"))
      || (strcmp(arg[1], "record") && strcmp(arg[1], "check")))
    die(EXIT_PERM, USAGE, 0);
  if (!tenant_name_ok(arg[2])) die(EXIT_PERM, "bad tenant name: ", arg[2]);
  if (smimereg_target(arg[3], &d) == -1 || strchr(d.s, '@')) die(EXIT_PERM, "not a domain: ", arg[3]);
  arg[3] = d.s;                      /* lowercase A-label */
  if ((s = getenv("CMC_RESOLVER")) && *s) {
    if (dns_server_parse(s, &resolver) == -1) die(EXIT_PERM, "bad CMC_RESOLVER ", s);
    have_resolver = 1;
  }
  if ((s = getenv("CMC_HOSTNAME")) && *s) snprintf(hostname, sizeof hostname, "%s", s);
  else if (gethostname(hostname, sizeof hostname) == -1) die_sys(EXIT_TEMP, "unable to get host name", 0);
  hostname[sizeof hostname - 1] = 0;
  lower(hostname);
  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if (home_path(dbdir, sizeof dbdir, home, "db") == -1) die(EXIT_PERM, "CMC_HOME too long", 0);
  if (tbl_open(&db, dbdir, 0) == -1) fail("unable to open tables in ", dbdir);
  r = tenant_exists(db, arg[2]);
  if (r == -1) fail("unable to read tenant ", arg[2]);
  if (r == 0) die(EXIT_PERM, "no such tenant: ", arg[2]);

  if (!strcmp(arg[0], "spf")) r = arg[1][0] == 'r' ? spf_record(arg[2], arg[3]) : spf_check(arg[2], arg[3]);
  else r = arg[1][0] == 'r' ? dmarc_rec(arg[2], arg[3], policy, ropt) : dmarc_check(arg[2], arg[3], ropt);
  if (fflush(stdout) == EOF) die_sys(EXIT_TEMP, "unable to write output", 0);
  tbl_close(db);
  buf_free(&d);
  return r;
}

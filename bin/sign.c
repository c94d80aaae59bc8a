/* sign: S/MIME- and DKIM-sign one message, as a filter
   (doc/programs/sign.md).  Usage: sign [-t TENANT] [-h]: the message on
   fd 0; on fd 1 the message made multipart/signed when TENANT has an
   S/MIME certificate for its From address or domain (keys/smime), then
   with its DKIM-Signature field(s) first; with -h the DKIM field(s) alone
   (no S/MIME).  The DKIM keys are the active ones of TENANT (default: the
   tenant that owns keys for the From domain) for the From domain -- one,
   or an RSA and an Ed25519 key -- from $CMC_HOME/keys/dkim and the tables
   in $CMC_HOME/db.  Environment: CMC_HOME.
   Exit 0 signed, or passed unsigned (no key, and the tenant allows it);
   100 never signable (no From, malformed header, too big, usage);
   111 try later (key or certificate file missing or unreadable, the
   certificate expired, no key where the tenant requires one, tables
   unavailable). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "die.h"
#include "dkim.h"
#include "dkimkey.h"
#include "home.h"
#include "io.h"
#include "smime.h"
#include "tbl.h"

#define USAGE "usage: sign [-t tenant] [-h]"
#define SIGN_MSG_MAX (64UL << 20)   /* bytes of message read; more is refused */

/* Write sig (CRLF lines) to fd 1, with bare LF lines when lf is set. */
static int put_field(const struct buf *sig, int lf)
{
  size_t i, start = 0;
  if (sig->len == 0) return 0;
  if (!lf) return write_all(1, sig->s, sig->len);
  for (i = 0; i + 1 < sig->len; i++)
    if (sig->s[i] == '\r' && sig->s[i + 1] == '\n') {
      if (write_all(1, sig->s + start, i - start) == -1) return -1;
      start = i + 1;
    }
  return write_all(1, sig->s + start, sig->len - start);
}

/* S/MIME first (doc/smime.md): msg becomes multipart/signed (CRLF lines,
   or LF when lf is set) when the tenant has a certificate for its From. */
static void smime(struct tbl *t, const char *home, const char *tenant, struct buf *msg, int lf)
{
  char keydir[4096], owner[DKIMKEY_TENANT_MAX + 1];
  struct smime_signer *ss;
  struct buf from = BUF_ZERO, dom = BUF_ZERO;
  const char *p = msg->s ? msg->s : "", *out;
  size_t hn = 0, outn, outhn, i;
  int rc;
  while (hn < msg->len) {           /* the header section, its empty line included */
    const char *nl = memchr(p + hn, '\n', msg->len - hn);
    size_t l = nl ? (size_t)(nl - (p + hn)) : msg->len - hn;
    hn += l + (nl != 0);
    if (l == 0 || (l == 1 && p[hn - 2] == '\r') || !nl) break;
  }
  if (smime_from(p, hn, &from) == -1) return;      /* no From: DKIM says why */
  if (!tenant) {
    if (dkim_from_domain(p, hn, &dom) == -1 || dkimkey_owner(t, dom.s, owner) != 0) return;
    tenant = owner;
  }
  if (home_path(keydir, sizeof keydir, home, "keys/smime") == -1) die(EXIT_PERM, "CMC_HOME too long", 0);
  if (smime_signer_open(&ss, keydir) == -1) die_sys(EXIT_TEMP, "unable to start the signer", 0);
  rc = smime_signer_prepare(ss, t, tenant, from.s, (long long)time(0));
  if (rc == SMIME_RC_SIGNED)
    rc = smime_signer_sign(ss, tenant, from.s, 0, p, hn, p + hn, msg->len - hn, &out, &outn,
                           &outhn);
  if (rc == SMIME_RC_PERM) die(EXIT_PERM, "unable to sign: ", smime_signer_detail(ss));
  if (rc == SMIME_RC_TEMP) die(EXIT_TEMP, "unable to sign: ", smime_signer_detail(ss));
  if (rc == SMIME_RC_SIGNED) {
    buf_trunc(msg, 0);
    for (i = 0; i < outn; i++)
      if (!(lf && out[i] == '\r' && i + 1 < outn && out[i + 1] == '\n')
          && buf_addc(msg, out[i]) == -1)
        die_sys(EXIT_TEMP, "out of memory", 0);
  }
  smime_signer_close(ss);
  buf_free(&from);
  buf_free(&dom);
}

int main(int argc, char **argv)
{
  const char *home, *tenant = 0;
  char dbdir[4096], keydir[4096];
  struct buf msg = BUF_ZERO, sig = BUF_ZERO;
  struct tbl *t;
  struct dkim_signer *s;
  const char *nl;
  int opt, header_only = 0, lf, rc;
  prog = "sign";
  while ((opt = getopt(argc, argv, "t:h")) != -1) {
    switch (opt) {
    case 't': tenant = optarg; break;
    case 'h': header_only = 1; break;
    default: die(EXIT_PERM, USAGE, 0);
    }
  }
  if (optind != argc) die(EXIT_PERM, USAGE, 0);
  if (tenant && !dkimkey_tenant_ok(tenant)) die(EXIT_PERM, "bad tenant name: ", tenant);
  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if (home_path(dbdir, sizeof dbdir, home, "db") == -1
      || home_path(keydir, sizeof keydir, home, "keys/dkim") == -1)
    die(EXIT_PERM, "CMC_HOME too long", 0);

  if (read_all(0, &msg, SIGN_MSG_MAX) == -1) {
    if (errno == EFBIG) die(EXIT_PERM, "message too big", 0);
    die_sys(EXIT_TEMP, "unable to read message", 0);
  }
  /* The output keeps the input's line ends: those of its first line. */
  nl = msg.len ? memchr(msg.s, '\n', msg.len) : 0;
  lf = !(nl && nl > msg.s && nl[-1] == '\r');

  if (tbl_open(&t, dbdir, 0) == -1) die_sys(EXIT_TEMP, "unable to open tables in ", dbdir);
  if (!header_only) smime(t, home, tenant, &msg, lf);
  if (dkim_signer_open(&s, t, keydir) == -1) die_sys(EXIT_TEMP, "unable to start the signer", 0);
  rc = dkim_signer_sign(s, tenant, msg.s ? msg.s : "", msg.len, &sig);
  switch (rc) {
  case DKIM_RC_SIGNED:
    break;
  case DKIM_RC_UNSIGNED:
    warn("not signed: ", dkim_signer_detail(s));
    break;
  case DKIM_RC_PERM:
    die(EXIT_PERM, "unable to sign: ", dkim_signer_detail(s));
  default:
    die(EXIT_TEMP, "unable to sign: ", dkim_signer_detail(s));
  }
  if (put_field(&sig, lf) == -1
      || (!header_only && write_all(1, msg.s, msg.len) == -1))
    die_sys(EXIT_TEMP, "unable to write output", 0);
  dkim_signer_close(s);
  tbl_close(t);
  buf_free(&msg);
  buf_free(&sig);
  return 0;
}

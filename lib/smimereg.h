#ifndef SMIMEREG_H
#define SMIMEREG_H
/* smimereg.h: which S/MIME credential signs which mail: per tenant, a
   From address or a whole From domain (the address wins), and the
   recipient domains the tenant wants no S/MIME for (their readers cannot
   show it).  doc/smime.md.

   Files: KEYDIR/TENANT/FP.pem (KEYDIR = $CMC_HOME/keys/smime; FP the
   SHA-256 of the certificate, hex): the credential file of smimecert.h,
   mode 0600, directories 0700.  One file per certificate: a target names
   it by FP, so a renewed certificate is a new file and a worker holding
   the old name never reads a half-replaced one.
   Table "smime" (tbl.h), NUL-ended fields:
     c TENANT TARGET -> FP SUBJECT ISSUER SERIAL EMAIL KEYALG BITS
                        NOTBEFORE NOTAFTER NCHAIN ADDED
     x TENANT DOMAIN -> ""        no S/MIME for mail to DOMAIN
   Targets are normalised: an address "local@domain" with the local part
   lowercased and the domain as a lowercase A-label, or such a domain. */
#include <stddef.h>
#include "buf.h"
#include "smimecert.h"
#include "tbl.h"

#define SMIMEREG_TENANT_MAX 64
#define SMIMEREG_TARGET_MAX 320

struct smimereg_ent {
  char tenant[SMIMEREG_TENANT_MAX + 1];
  char target[SMIMEREG_TARGET_MAX + 1];
  struct smimecert_info i;
  long long added;
};

/* The normal form of an address or domain in[0..) into out (replacing
   its content).  0, or -1 EINVAL (malformed, too long) or ENOMEM. */
int smimereg_target(const char *in, struct buf *out);
/* out = keydir/TENANT/FP.pem; 0 or -1 ENAMETOOLONG. */
int smimereg_path(char *out, size_t n, const char *keydir, const char *tenant, const char *fp);

/* Register credential c (checked by the caller) for tenant and target:
   write its file, then record it.  An existing registration is replaced
   only with replace set.  e filled.  0 ok, 1 exists, -1 errno. */
int smimereg_add(struct tbl *t, const char *keydir, const char *tenant, const char *target,
                 const struct smimecert *c, int replace, struct smimereg_ent *e);
/* Remove a registration and, when no other target uses it, its file.
   0 ok, 1 no such registration, -1 errno. */
int smimereg_del(struct tbl *t, const char *keydir, const char *tenant, const char *target);
/* 0 found (e filled), 1 absent, -1 error. */
int smimereg_get(struct tbl *t, const char *tenant, const char *target, struct smimereg_ent *e);
/* The registration that signs mail of tenant From addr (normalised):
   the address's own, else its domain's.  0 found, 1 none, -1 error. */
int smimereg_match(struct tbl *t, const char *tenant, const char *addr, struct smimereg_ent *e);
/* Each registration of tenant (0: every tenant), in key order; fn
   non-zero stops the walk (> 0 returned, < 0 as -1). */
typedef int smimereg_fn(void *ctx, const struct smimereg_ent *e);
int smimereg_list(struct tbl *t, const char *tenant, smimereg_fn *fn, void *ctx);

/* Recipient domains without S/MIME.  set: on 1 adds, 0 removes (1 if
   it was not there).  get: 1 skipped, 0 not, -1 error.  list: fn(ctx,
   domain) for each of tenant's. */
int smimereg_skip_set(struct tbl *t, const char *tenant, const char *domain, int on);
int smimereg_skip_get(struct tbl *t, const char *tenant, const char *domain);
typedef int smimereg_skip_fn(void *ctx, const char *domain);
int smimereg_skip_list(struct tbl *t, const char *tenant, smimereg_skip_fn *fn, void *ctx);
#endif

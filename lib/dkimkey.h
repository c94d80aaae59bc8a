#ifndef DKIMKEY_H
#define DKIMKEY_H
/* dkimkey.h: DKIM keys per tenant and sending domain (the From domain):
   generation, the private key files, their metadata in table "dkim", and
   the DNS TXT record to publish (doc/dkim.md).

   Files: KEYDIR/TENANT/DOMAIN/SELECTOR.key (KEYDIR = $CMC_HOME/keys/dkim),
   a PEM PKCS#8 private key, mode 0600, directories 0700, owned by the user
   that signs.  Table "dkim" (tbl.h); keys and values are NUL-ended fields:
     k TENANT DOMAIN SELECTOR -> alg bits created state changed publickey
     a TENANT DOMAIN          -> SELECTOR [\0 SELECTOR]  the active keys,
                                 at most one per algorithm, RSA first:
                                 signing uses each (dual signing, RFC 8463)
     s DOMAIN SELECTOR        -> TENANT     one DNS name, one tenant
     p TENANT                 -> "allow" or "require": mail from a domain
                                 without a key goes unsigned, or is refused
   A key's life: new (generated, to be published) -> active (signing) ->
   old (replaced, record still published) -> retired (private key file
   removed; the record may leave DNS).  A domain's first key is active at
   once; later ones wait for dkimkey_activate, so a rotation publishes the
   new record first and never leaves a gap.  A domain signs with one key,
   or with two of different algorithms (an RSA and an Ed25519 key: RFC
   8463 wants an RSA signature beside each Ed25519 one, for receivers that
   do not know Ed25519).  Domains are lowercase A-labels; selectors are
   never reused for a domain. */
#include <stddef.h>
#include "buf.h"
#include "tbl.h"

#define DKIMKEY_TENANT_MAX 64       /* as tenant.h: [a-z0-9][a-z0-9_-]* */
#define DKIMKEY_DOMAIN_MAX 253
#define DKIMKEY_SELECTOR_MAX 63     /* one DNS label */
#define DKIMKEY_PUB_MAX 1024        /* base64 public key (RSA 4096: 736) */
#define DKIMKEY_FILE_MAX 16384      /* bytes of a private key file */
#define DKIMKEY_RSA_BITS 2048       /* default */
#define DKIMKEY_TXT_CHUNK 255       /* one character-string of a TXT record */
#define DKIMKEY_ACTIVE_MAX 2        /* active keys of a domain: one per algorithm */

enum dkimkey_alg { DKIMKEY_RSA = 1, DKIMKEY_ED25519 = 2 };
enum dkimkey_state { DKIMKEY_NEW = 1, DKIMKEY_ACTIVE, DKIMKEY_OLD, DKIMKEY_RETIRED };

struct dkimkey {
  char tenant[DKIMKEY_TENANT_MAX + 1];
  char domain[DKIMKEY_DOMAIN_MAX + 1];
  char selector[DKIMKEY_SELECTOR_MAX + 1];
  int alg;                          /* enum dkimkey_alg */
  unsigned bits;                    /* RSA modulus bits; 256 for Ed25519 */
  long long created, changed;       /* unix seconds */
  int state;                        /* enum dkimkey_state */
  char pub[DKIMKEY_PUB_MAX + 1];    /* the p= value: base64 */
};

/* 1 if the name is acceptable, 0 if not. */
int dkimkey_tenant_ok(const char *s);
int dkimkey_domain_ok(const char *s);      /* lowercase ASCII host name */
int dkimkey_selector_ok(const char *s);    /* [a-z0-9][a-z0-9-]*, one label */
const char *dkimkey_alg_name(int alg);     /* "rsa", "ed25519" */
int dkimkey_alg_parse(const char *s);      /* enum, or -1 */
const char *dkimkey_state_name(int state); /* "new", "active", "old", "retired" */

/* out = keydir/TENANT/DOMAIN/SELECTOR.key; 0 or -1 ENAMETOOLONG. */
int dkimkey_path(char *out, size_t n, const char *keydir, const char *tenant,
                 const char *domain, const char *selector);

/* Make a key pair for tenant and domain, write the private key file, and
   record it (active if the domain has no active key, else new).  selector
   0: "cmcYYYYMMDD" (UTC), then "cmcYYYYMMDD-2" ... when taken.  bits: RSA
   only, 1024..4096 (0: DKIMKEY_RSA_BITS).  k filled on success.
   0 ok; 1 the selector is taken for this domain; -1 errno (EINVAL bad
   name or size, EACCES/ENOSPC/... from the file, EDEADLK...). */
int dkimkey_gen(struct tbl *t, const char *keydir, const char *tenant, const char *domain,
                const char *selector, int alg, unsigned bits, struct dkimkey *k);
/* 0 found (k filled), 1 absent, -1 error. */
int dkimkey_get(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *domain,
                const char *selector, struct dkimkey *k);
/* The (first) active selector of tenant and domain into sel
   (DKIMKEY_SELECTOR_MAX+1 bytes).  0 found, 1 none, -1 error. */
int dkimkey_active(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *domain,
                   char *sel);
/* Every active selector of tenant and domain, in signing order (RSA
   first), into sel[0..*n).  0 found (*n >= 1), 1 none (*n 0), -1 error
   (EINVAL: a malformed record). */
int dkimkey_actives(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *domain,
                    char sel[DKIMKEY_ACTIVE_MAX][DKIMKEY_SELECTOR_MAX + 1], size_t *n);
/* The tenant that owns keys for domain: 0 found (tenant into out,
   DKIMKEY_TENANT_MAX+1 bytes), 1 none, 2 more than one, -1 error. */
int dkimkey_owner(struct tbl *t, const char *domain, char *out);
/* Call fn for each key of tenant (0: all tenants) and domain (0: all), in
   tenant, domain, selector order; fn returning non-zero stops the walk
   (> 0 returned as is, < 0 as -1). */
typedef int dkimkey_fn(void *ctx, const struct dkimkey *k);
int dkimkey_list(struct tbl *t, const char *tenant, const char *domain, dkimkey_fn *fn, void *ctx);
/* Make selector a key that signs.  It takes the place of the active key
   of its algorithm -- or, when the domain signs with one key only, of that
   key, whatever its algorithm (a switch from RSA to Ed25519 stays a
   switch).  The replaced key becomes old.  Activating an active key
   changes nothing.  0 ok, 1 no such key, -1 errno (EINVAL: the key is
   retired). */
int dkimkey_activate(struct tbl *t, const char *tenant, const char *domain, const char *selector);
/* The same, but the active key of the other algorithm stays active: the
   domain then signs with both (dual signing). */
int dkimkey_activate_pair(struct tbl *t, const char *tenant, const char *domain,
                          const char *selector);
/* Stop signing with selector (state old) while the domain's other active
   key goes on.  0 ok, 1 no such key, -1 errno (EINVAL: not active; EBUSY:
   the domain's only active key -- activate another instead). */
int dkimkey_deactivate(struct tbl *t, const char *tenant, const char *domain,
                       const char *selector);
/* Retire a key that is not active: state retired, private key file
   removed.  0 ok, 1 no such key, 2 retired but the file could not be
   removed (errno set), -1 errno (EBUSY: it is the active key). */
int dkimkey_retire(struct tbl *t, const char *keydir, const char *tenant, const char *domain,
                   const char *selector);
/* The TXT record for k: name "SELECTOR._domainkey.DOMAIN" (no final dot)
   and value "v=DKIM1; k=ALG; p=KEY", each appended.  0 or -1 ENOMEM. */
int dkimkey_record(const struct dkimkey *k, struct buf *name, struct buf *value);
/* Unsigned-mail policy of a tenant: 1 allow (the default), 0 require, -1 error. */
int dkimkey_policy_get(struct tbl *t, const char *tenant);
int dkimkey_policy_set(struct tbl *t, const char *tenant, int allow_unsigned);
#endif

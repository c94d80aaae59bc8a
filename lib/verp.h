#ifndef VERP_H
#define VERP_H
/* verp.h: the envelope sender deliver gives each recipient's copy, so
   that a bounce finds its message and recipient (doc/bounces.md):

     b-ID-MAC@BOUNCE-DOMAIN

   ID is our message id (spool id) in lower case; MAC is the first 60 bits
   of HMAC-SHA256(secret, "cmc-verp1" NUL ID NUL RECIPIENT), RECIPIENT in
   lower case, written as 12 letters of lower-case base32 (a-z 2-7).  The
   recipient is named by the MAC: whoever holds the message's recipient
   list finds it by computing the MAC of each.  Every part survives the
   case folding some MTAs apply to local parts; nothing in it is secret,
   and without the secret no MAC can be made, so a forged bounce cannot
   fail other people's mail.  The secret lives in $CMC_HOME/etc/verp-secret
   (64 hex digits, mode 0600, one per installation). */
#include <stddef.h>
#include "buf.h"

#define VERP_MAC_LEN 12              /* base32 letters of MAC */
#define VERP_KEY_MAX 64              /* bytes of secret */
#define VERP_KEY_LEN 32              /* bytes of a new secret */
#define VERP_ID_MAX 40               /* as SPOOL_ID_MAX */

struct verp_key {
  unsigned char k[VERP_KEY_MAX];
  size_t n;
};

/* Read the secret file: 0, or -1 with errno (ENOENT missing, EINVAL not
   16..64 bytes of hex, others from open/read). */
int verp_key_load(struct verp_key *key, const char *path);
/* Make the secret file with fresh random bytes, mode 0600, atomically; an
   existing file is kept.  0 made, 1 it exists, -1 with errno. */
int verp_key_create(const char *path);

/* The MAC letters of (id, rcpt) into mac (VERP_MAC_LEN + 1 bytes).  0 or -1. */
int verp_mac(const struct verp_key *key, const char *id, const char *rcpt, char *mac);
/* Append "b-ID-MAC@domain" to out.  0, or -1 (EINVAL bad id, ENOMEM). */
int verp_make(struct buf *out, const struct verp_key *key, const char *id,
              const char *rcpt, const char *domain);
/* Take a VERP address apart, ignoring case: id (upper case, as the spool
   writes it; VERP_ID_MAX + 1 bytes), mac (lower case, VERP_MAC_LEN + 1
   bytes) and *domain pointing into addr.  0, or -1 EINVAL when addr does
   not have the form. */
int verp_parse(const char *addr, char *id, char *mac, const char **domain);
/* 1 if mac is the MAC of (id, rcpt), 0 if not (constant time). */
int verp_check(const struct verp_key *key, const char *id, const char *rcpt, const char *mac);
#endif

#ifndef DKIMED_H
#define DKIMED_H
/* dkimed.h: ed25519-sha256 DKIM signatures (RFC 8463) made with OpenSSL's
   EVP, with the relaxed/relaxed canonicalisation of RFC 6376 3.4.2 and
   3.4.4 done here.  dkim.c signs RSA with libopendkim and Ed25519 here,
   because Debian's libopendkim 2.11.0~beta2, which does sign Ed25519
   correctly, leaks the parsed key (about 1.2 KB) on every Ed25519
   signature -- fatal to a long-running deliver -- and parses the key for
   every message (about 330 us with OpenSSL 3, ten times the signature).
   Here the key is parsed once by the caller.  The fields chosen and the
   h= list are those libopendkim makes (doc/dkim.md). */
#include <stddef.h>
#include <openssl/evp.h>
#include "buf.h"

/* Sign head[0..hn) (header section, CRLF or bare LF lines, with or
   without its empty line) and body[0..bn) with key (EVP_PKEY_ED25519) for
   domain and selector at time now.  sign: field names (lowercase, 0-ended
   list) signed in every instance present; oversign: names listed once
   more in h=.  The whole "DKIM-Signature: ..." field, folded, CRLF lines
   and CRLF-ended, is appended to sig.  0, or -1 with errno (ENOMEM; EINVAL
   when OpenSSL refuses to sign). */
int dkimed_sign(EVP_PKEY *key, const char *domain, const char *selector, long long now,
                const char *const *sign, const char *const *oversign,
                const char *head, size_t hn, const char *body, size_t bn, struct buf *sig);

/* The relaxed canonical form of one field f[0..fn) (name, colon, value,
   folded lines included, no final line end), CRLF-ended, appended to out. */
int dkimed_canon_field(const char *f, size_t fn, struct buf *out);
/* The relaxed canonical form of body[0..bn), appended to out. */
int dkimed_canon_body(const char *body, size_t bn, struct buf *out);
#endif

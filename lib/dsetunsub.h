#ifndef DSETUNSUB_H
#define DSETUNSUB_H
/* dsetunsub.h: one-click unsubscribe (RFC 8058, RFC 2369): the signed
   per-recipient token, the List-Unsubscribe header fields deliver adds,
   and the check the unsubscribe endpoints (cgi-bin/unsubscribe, the
   receiving server's mailto address) make.

     TOKEN = B64URL(PAYLOAD) "." B64URL(MAC)
     PAYLOAD = TENANT LF COMPOSITION LF FILTER-NAME LF RECIPIENT
     MAC = the first 16 bytes of HMAC-SHA256(secret, "cmc-unsub1" NUL PAYLOAD)

   B64URL is base64 with the URL alphabet (- _) and no padding, so a token
   stands in a URL query and a mail subject as it is.  The secret is the
   file $CMC_HOME/etc/unsubscribe-secret (hex, as lib/verp.h reads and
   makes them).  Without the secret no token can be made, so a forged one
   cannot unsubscribe anybody; the payload is not secret (it names the
   recipient, who reads it in their own mail). */
#include <stddef.h>
#include "buf.h"
#include "verp.h"

#define DSETUNSUB_TOKEN_MAX 2048     /* bytes of a token */
#define DSETUNSUB_MAC_LEN 16
#define DSETUNSUB_SECRET "etc/unsubscribe-secret"
#define DSETUNSUB_LINE_MAX 998       /* a header line, RFC 5322 2.1.1 */

/* Append the token of (tenant, comp, filter, rcpt) to out.  0, or -1
   (EINVAL: a field holds LF or NUL, or no key; ENOMEM). */
int dsetunsub_token(struct buf *out, const struct verp_key *key, const char *tenant,
                    const char *comp, const char *filter, const char *rcpt);
struct dsetunsub {
  struct buf tenant, comp, filter, rcpt;  /* NUL-terminated after a check */
};
void dsetunsub_free(struct dsetunsub *u);
/* 1 if token[0..n) is genuine, with its fields in u; 0 if it is forged
   or malformed; -1 ENOMEM.  The MAC is compared in constant time. */
int dsetunsub_check(const struct verp_key *key, const char *token, size_t n, struct dsetunsub *u);
/* Append the header fields
     List-Unsubscribe: <URL?t=TOKEN>,
      <mailto:ADDRESS?subject=TOKEN>
     List-Unsubscribe-Post: List-Unsubscribe=One-Click
   (CRLF line ends; "&t=" when url already has a query).  0, or -1
   (EINVAL: a line would pass DSETUNSUB_LINE_MAX; ENOMEM). */
int dsetunsub_headers(struct buf *out, const char *url, const char *mailto, const char *token);
#endif

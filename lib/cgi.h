#ifndef CGI_H
#define CGI_H
/* cgi.h: the pieces of a CGI request (RFC 3875) a cgi-bin/ program needs
   parsed: application/x-www-form-urlencoded text (the query string, or a
   POST body), the content type and length, and HTML escaping for output.
   The program's main() reads the environment and the body (with the
   limits below) and hands the bytes here; nothing here reads, prints or
   exits.  Functions return 0 or -1 with errno (EINVAL malformed or over a
   limit, ENOMEM). */
#include <stddef.h>
#include "buf.h"

#define CGI_QUERY_MAX 8192           /* bytes of QUERY_STRING */
#define CGI_BODY_MAX 65536           /* bytes of a form body */
#define CGI_PARAMS_MAX 100           /* name=value pairs in one request */

struct cgi_param {
  char *name, *value;                /* decoded, NUL-terminated, no NUL inside */
};
struct cgi {
  struct cgi_param *p;
  size_t n, cap;
};
#define CGI_ZERO { 0, 0, 0 }

/* Add the pairs of s[0..n) ("a=1&b=two+words&c=%41"): '+' is a space,
   %XX a byte; a pair without '=' has the value "", empty pairs are
   skipped.  EINVAL: a bad %-escape, a %00, more than CGI_PARAMS_MAX pairs
   in c, or n over CGI_BODY_MAX. */
int cgi_parse(struct cgi *c, const char *s, size_t n);
/* The value of the first pair called name, or 0. */
const char *cgi_get(const struct cgi *c, const char *name);
void cgi_free(struct cgi *c);

/* 1 if content type ct (CONTENT_TYPE, may be 0) is the media type type,
   parameters (";charset=...") ignored, case ignored. */
int cgi_type_is(const char *ct, const char *type);
/* CONTENT_LENGTH s (0 or "": no body) into *n.  EINVAL if it is not a
   decimal number, EFBIG if it is over max. */
int cgi_length(const char *s, size_t max, size_t *n);
/* Append s with & < > " ' as HTML character references. */
int cgi_html(struct buf *out, const char *s);
#endif

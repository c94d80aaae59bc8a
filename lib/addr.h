#ifndef ADDR_H
#define ADDR_H
/* addr.h: mail addresses as DESIGN.md section 5 defines them.

   Local part: letters, digits, ! # $ % & ' * + - / = ? ^ \ _ ` { | } ~ and
   '.' (not first).  Forms in use that break the RFC (consecutive dots, a
   trailing dot, a backslash, other printable US-ASCII) are accepted and
   quoted internally: irregular..pattern@example.com ->
   "irregular..pattern"@example.com, hello\(^^)@example.com ->
   "hello\\(^^)"@example.com.  An already quoted local part is kept, its
   escapes checked.  UTF-8 local parts (SMTPUTF8) are accepted as they are.
   Domain: letters, digits, '.', '-', '_' (and UTF-8 labels for IDN); no
   leading, trailing or double dot; each label starts with a letter or
   digit.  No length limit on the address; the RCPT TO line limit
   (ADDR_LINE_MAX) belongs to the SMTP parser.  Comparison ignores case. */
#include <stddef.h>
#include "buf.h"

#define ADDR_LINE_MAX 1000         /* whole "RCPT TO:<...>" line incl. CRLF */

/* Parse the address p[0..n) (no angle brackets) into its internal form,
   appended to out.  0 ok; -1 errno EINVAL (malformed: the caller answers
   status 9 / 501 / 553) or ENOMEM.  allow_empty: "" is the null sender. */
int addr_parse(struct buf *out, const char *p, size_t n, int allow_empty);
/* 1 if a (internal form) has a non-ASCII byte (needs SMTPUTF8). */
int addr_is_utf8(const char *a);
/* Pointer to the domain part of an internal-form address (after the last
   '@'), or "" for the null address. */
const char *addr_domain(const char *a);
/* Case-insensitive comparison of two internal-form addresses (ASCII case
   folding; UTF-8 bytes compared as they are). */
int addr_cmp(const char *a, const char *b);
/* Lowercased copy appended to out (the key used in tables). */
int addr_key(struct buf *out, const char *a);
/* Domain as an A-label (libidn2) appended to out; ASCII domains lowercased.
   0, or -1 EINVAL for a domain that has no A-label form. */
int addr_domain_ascii(struct buf *out, const char *domain);
#endif

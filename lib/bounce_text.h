#ifndef BOUNCE_TEXT_H
#define BOUNCE_TEXT_H
/* bounce_text.h: scanning the human-readable text of a bounce (for
   bounce.c): case-insensitive search, one-line copies, addresses, the
   line where the returned message starts, HTML to text, the lines that
   carry an SMTP reply.  All work on counted, LF-only UTF-8 text. */
#include <stddef.h>
#include "buf.h"

/* Offset of needle (lowercase) in h[0..n), case ignored, or -1. */
long bounce_text_find(const char *h, size_t n, const char *needle);
/* s[0..n) into dst as one line: white space collapsed, trimmed, cut at a
   UTF-8 character boundary when it does not fit. */
void bounce_text_line(char *dst, size_t dn, const char *s, size_t n);
/* The same, appended to the line in dst with a space between. */
void bounce_text_append(char *dst, size_t dn, const char *s, size_t n);
/* The next address in s[from..n): bounds in *as, *ae; 1 found. */
int bounce_text_addr(const char *s, size_t n, size_t from, size_t *as, size_t *ae);
/* Length of t[0..n) before the returned message (a "--- Below this line
   is a copy of the message" mark, or header fields pasted in). */
size_t bounce_text_cut(const char *t, size_t n);
/* Append the text of HTML p[0..n): tags out, line breaks kept, entities. */
void bounce_text_html(struct buf *out, const char *p, size_t n);
/* Does line l[0..n) start with an address (after list marks)?  1 with its
   bounds and where the rest of the line starts. */
int bounce_text_rcpt(const char *l, size_t n, size_t *as, size_t *ae, size_t *rest);
/* 1 if s has fewer than 3 letters outside addresses: not a diagnostic. */
int bounce_text_weak(const char *s);
/* The lines of t that carry an SMTP reply ("550 5.1.1 ...", "<<< 550",
   "(reason: 550 ...)", "... said: 550 ..."), those naming addr (if not
   "") first, joined into dst.  1 if any. */
int bounce_text_replies(const char *t, size_t n, const char *addr, char *dst, size_t dn);
#endif

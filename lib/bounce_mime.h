#ifndef BOUNCE_MIME_H
#define BOUNCE_MIME_H
/* bounce_mime.h: the MIME pieces the bounce parser needs, on LF-only text
   (bounce.c turns CRLF into LF first): header fields with folding,
   Content-Type parameters, multipart boundaries, base64 and
   quoted-printable, RFC 2047 words, and charsets (ISO-2022-JP, Shift_JIS,
   EUC-JP, ...) to UTF-8 through iconv.  Nothing here allocates except
   through struct buf; functions return 0 or -1 with errno (ENOMEM). */
#include <stddef.h>
#include <string.h>
#include "buf.h"

#define MIME_BOUNDARY_MAX 200   /* RFC 2046 says 70; longer ones are not a boundary */
#define MIME_TYPE_MAX 64

struct mime_field {
  const char *name;             /* not NUL-terminated */
  size_t nlen;
  const char *val;              /* raw value, folding included */
  size_t vlen;
};

/* Offset of the body of the entity at p (after the blank line that ends the
   header), or n when the header never ends. */
size_t mime_header_end(const char *p, size_t n);
/* Next header field of the block [*pp, end).  1 and *pp advanced, 0 at the
   end of the block.  Lines that are not fields are skipped. */
int mime_field_next(const char **pp, const char *end, struct mime_field *f);
/* a[0..n) and lowercase b the same but for case? */
int mime_ieq(const char *a, const char *b, size_t n);
/* Is f the field name (lowercase)?  Inline: the length of a constant
   name is known when compiling, and most fields differ in length. */
static inline int mime_field_is(const struct mime_field *f, const char *name)
{
  return f->nlen == strlen(name) && mime_ieq(f->name, name, f->nlen);
}
/* The value unfolded, runs of white space made one space, trimmed. */
int mime_unfold(struct buf *out, const char *v, size_t n);
/* The media type of a Content-Type value, lowercased, into out
   ("text/plain" when empty). */
void mime_type(char out[MIME_TYPE_MAX], const char *v, size_t n);
/* Parameter name (lowercase) of a Content-Type-like value into out
   (quotes removed); 1 found, 0 not. */
int mime_param(const char *v, size_t n, const char *name, char *out, size_t outn);

/* Searching for a fixed string (Horspool): mime_find_init, then mime_find. */
#define MIME_FIND_MAX (MIME_BOUNDARY_MAX + 4)
struct mime_find {
  unsigned char skip[256];
  char pat[MIME_FIND_MAX];
  size_t n;
};
void mime_find_init(struct mime_find *f, const char *pat, size_t n);  /* n <= MIME_FIND_MAX */
const char *mime_find(const struct mime_find *f, const char *h, size_t hn);

/* Multipart walking: mime_parts_init then mime_part_next until 0. */
struct mime_parts {
  const char *p, *end;
  const char *bnd;
  size_t blen;
  int done;
  struct mime_find nl_bnd;      /* "\n--boundary" */
};
void mime_parts_init(struct mime_parts *it, const char *body, size_t n,
                     const char *bnd, size_t blen);
int mime_part_next(struct mime_parts *it, const char **part, size_t *plen);

/* Transfer decodings: append the decoded bytes to out. */
int mime_unbase64(struct buf *out, const char *p, size_t n);
int mime_unqp(struct buf *out, const char *p, size_t n);
/* Open iconv descriptors, kept from one call to the next (iconv_open
   loads a module each time).  Zero it to start; mime_convs_free at the end. */
#define MIME_CONVS 4
struct mime_convs {
  struct { char cs[48]; void *cd; } c[MIME_CONVS];
  unsigned next;
};
void mime_convs_free(struct mime_convs *cv);
/* Append p converted from charset to UTF-8.  Unknown charsets and bytes
   that do not convert are copied as they are; ISO-2022-JP escapes are
   recognised without a label.  cv may be 0 (no reuse). */
int mime_utf8(struct buf *out, struct mime_convs *cv, const char *charset, const char *p, size_t n);
/* Append the unfolded header value with RFC 2047 encoded words decoded. */
int mime_words(struct buf *out, struct mime_convs *cv, const char *v, size_t n);
#endif

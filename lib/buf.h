#ifndef BUF_H
#define BUF_H
/* buf.h: the one growable byte buffer.  Always NUL-terminated after len
   (cap > len) once anything was added, so s may be used as a C string when
   the content has no NUL.  Growth is overflow-checked; 0 ok, -1 ENOMEM. */
#include <stddef.h>

struct buf {
  char *s;
  size_t len;
  size_t cap;
};
#define BUF_ZERO { 0, 0, 0 }

int buf_ready(struct buf *b, size_t extra);        /* room for extra more bytes + NUL */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addz(struct buf *b, const char *s);       /* s including its NUL */
int buf_addu(struct buf *b, unsigned long long u);
int buf_printf(struct buf *b, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
int buf_set(struct buf *b, const void *p, size_t n);
void buf_trunc(struct buf *b, size_t len);        /* len <= b->len */
void buf_free(struct buf *b);
#endif

#ifndef CLASSIFY_LIT_H
#define CLASSIFY_LIT_H
/* classify_lit.h: the prefilter of the rule engine.  A pattern whose every
   match must contain one of a few literals is not run on a subject that
   cannot contain any of them.  The analysis is conservative: a pattern it
   does not understand gets no set and always runs. */
#include <stddef.h>

#define CLASSIFY_LIT_BITS 32768     /* bits of the 3-gram bitmap */

/* The literal sets of pattern pat (caseless): every match contains a
   literal of *f1 and one of *f2.  Each is malloc'd, or 0 for none. */
void classify_lit_sets(const char *pat, unsigned short **f1, unsigned short **f2);
/* The 3-gram bitmap (CLASSIFY_LIT_BITS / 8 bytes) of s[0..n), case ignored. */
void classify_lit_grams(unsigned char *bits, const char *s, size_t n);
/* Add the 3-grams of s[0..n) to bits. */
void classify_lit_more(unsigned char *bits, const char *s, size_t n);
/* The sets of many patterns indexed by the first gram of each literal, so
   that one pass over a subject finds the patterns worth a closer look. */
struct classify_lit_index {
  unsigned *start;              /* CLASSIFY_LIT_BITS + 1 offsets into id */
  unsigned *id;                 /* pattern numbers */
  unsigned n;                   /* patterns indexed */
};
/* Build the index of sets[0..n) (a 0 set is left out).  0, or -1 ENOMEM. */
int classify_lit_index(struct classify_lit_index *x, unsigned short *const *sets, unsigned n);
void classify_lit_index_free(struct classify_lit_index *x);
/* Bitmap bits and the candidates (x->n bits in cand) of subject s[0..n):
   a pattern is a candidate when the first gram of one of its literals
   occurs.  more: add to bits and cand rather than start afresh. */
void classify_lit_scan(const struct classify_lit_index *x, unsigned char *bits,
                       unsigned char *cand, const char *s, size_t n, int more);

/* Does h[0..n) contain lit (lowercase, ln bytes), ASCII case ignored? */
int classify_lit_find(const char *h, size_t n, const char *lit, size_t ln);

/* Can a literal of set f occur in the subject whose bitmap is bits? */
int classify_lit_may(const unsigned short *f, const unsigned char *bits);
#endif

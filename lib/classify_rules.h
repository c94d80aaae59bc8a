#ifndef CLASSIFY_RULES_H
#define CLASSIFY_RULES_H
/* classify_rules.h: the loaded rule set (struct classify of classify.h),
   for lib/classify*.c only: classify_load.c builds it, classify.c matches
   with it.  Everyone else goes through classify.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include "classify.h"
#include "classify_lit.h"

#define ENH_MAX 512

#define PATS_PER_LINE 8

/* One compiled pattern, shared by every line that uses the same text. */
#define PIECES_MAX 128

/* A pattern whose top level is an alternation "a|b|c" is kept as one
   piece per alternative, each with its own prefilter: only the pieces
   whose literals occur in the subject run (a long alternation run as
   one regex tries every alternative at every position). */
struct piece {
  pcre2_code *re;          /* 0 when the piece is a plain phrase: */
  char *lit;               /* the phrase, lowercase, searched for directly */
  size_t litn;
  unsigned short *f1, *f2; /* prefilter sets (classify_lit.h), or 0 */
  unsigned id;             /* number in the index of first sets */
};

/* One pattern, shared by every line that uses the same text. */
struct pat {
  char *src;
  int n;
  struct piece *pc;
};

struct rule {
  int status;              /* CLASSIFY_*, or for stages an index into the stage names; -1: @enhanced */
  int line;
  const char *file;
  int n;                   /* patterns; all must match (those marked negated must not) */
  int ref[PATS_PER_LINE];  /* pattern index << 1 | negated */
};

struct enh {
  char cls;                /* '4', '5' or 'X' */
  unsigned subj, detail;
  int status;
};

#define DEFINES_MAX 256

struct classify {
  struct pat *pats;
  size_t npats;
  struct { char name[32]; int pat; } def[DEFINES_MAX];
  size_t ndefs;
  struct rule *rules;
  size_t nrules;
  struct rule *stages;
  size_t nstages;
  struct enh enh[ENH_MAX];
  size_t nenh;
  int has_directive;
  struct classify_lit_index index; /* the pieces' f1 sets by first gram */
  unsigned npieces;
};

/* The SMTP stages, by index (struct rule's status for a stage rule). */
extern const char *const classify_stage_names[];
/* An enhanced status code "C.S.D" (class 2, 4, 5 or X/x): 1 with its
   class (x made X), subject and detail, else 0. */
int classify_enh_parse(const char *s, char *cls, unsigned *subj, unsigned *detail);
#endif

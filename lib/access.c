/* access.c: the access snapshot's reader (access.h): the file is read
   whole, split in place into records, users sorted by name for bsearch.
   No database code: smtp-recv links this, not tenant.c.  Names and
   password hashes are checked with tenant.h's helpers (tenant_check.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "access.h"
#include "buf.h"
#include "cidr.h"
#include "io.h"
#include "tenant.h"

struct anet {
  struct cidr c;
  const char *tenant, *comp;
};

struct auser {
  const char *name, *tenant, *comp, *hash;
};

struct arcvd {
  const char *tenant, *comp, *mode;
};

struct abounce {
  const char *tenant, *comp, *domain;
};

struct access {
  struct buf text;
  struct anet *nets;
  size_t nnets;
  struct auser *users;
  size_t nusers;
  struct arcvd *rcvd;
  size_t nrcvd;
  struct abounce *bounce;
  size_t nbounce;
};

static int user_cmp(const void *a, const void *b)
{
  return strcmp(((const struct auser *)a)->name, ((const struct auser *)b)->name);
}

/* Split line (NUL-terminated) at TABs into f; the count of fields. */
static size_t fields(char *line, char **f, size_t max)
{
  size_t n = 0;
  for (;;) {
    char *tab = strchr(line, '\t');
    if (n == max) return max + 1;
    f[n++] = line;
    if (!tab) return n;
    *tab = 0;
    line = tab + 1;
  }
}

static int grow(void **p, size_t n, size_t *cap, size_t size)
{
  void *q;
  size_t nc;
  if (n < *cap) return 0;
  nc = *cap ? *cap * 2 : 16;
  if (nc < *cap || nc > ((size_t)-1) / size) return errno = ENOMEM, -1;
  q = realloc(*p, nc * size);
  if (!q) return -1;
  *p = q;
  *cap = nc;
  return 0;
}

static int parse(struct access *a)
{
  char *p, *end;
  size_t capn = 0, capu = 0, capr = 0, capb = 0;
  if (!a->text.len) return 0;
  p = a->text.s;
  end = p + a->text.len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p)), *f[6];
    size_t n;
    if (!nl) return errno = EINVAL, -1;       /* a cut file */
    *nl = 0;
    if (*p && *p != '#') {
      n = fields(p, f, 5);
      if (!strcmp(f[0], "net")) {
        struct anet *x;
        if (n != 4 || !tenant_name_ok(f[1]) || !tenant_comp_ok(f[2])) return errno = EINVAL, -1;
        if (grow((void **)&a->nets, a->nnets, &capn, sizeof *a->nets) == -1) return -1;
        x = &a->nets[a->nnets];
        if (cidr_parse(f[3], &x->c) == -1) return -1;
        x->tenant = f[1];
        x->comp = f[2];
        a->nnets++;
      } else if (!strcmp(f[0], "user")) {
        struct auser *u;
        if (n != 5 || !tenant_user_ok(f[1]) || !tenant_name_ok(f[2]) || !tenant_comp_ok(f[3])
            || f[4][0] != '$')
          return errno = EINVAL, -1;
        if (grow((void **)&a->users, a->nusers, &capu, sizeof *a->users) == -1) return -1;
        u = &a->users[a->nusers++];
        u->name = f[1];
        u->tenant = f[2];
        u->comp = f[3];
        u->hash = f[4];
      } else if (!strcmp(f[0], "received")) {
        struct arcvd *x;
        if (n != 4 || !tenant_name_ok(f[1]) || !tenant_comp_ok(f[2])) return errno = EINVAL, -1;
        if (grow((void **)&a->rcvd, a->nrcvd, &capr, sizeof *a->rcvd) == -1) return -1;
        x = &a->rcvd[a->nrcvd++];
        x->tenant = f[1];
        x->comp = f[2];
        x->mode = f[3];
      } else if (!strcmp(f[0], "bounce")) {
        struct abounce *x;
        if (n != 4 || !tenant_name_ok(f[1]) || !tenant_comp_ok(f[2]) || !*f[3]) return errno = EINVAL, -1;
        if (grow((void **)&a->bounce, a->nbounce, &capb, sizeof *a->bounce) == -1) return -1;
        x = &a->bounce[a->nbounce++];
        x->tenant = f[1];
        x->comp = f[2];
        x->domain = f[3];
      }
      /* other record types are for later readers: ignored */
    }
    p = nl + 1;
  }
  if (a->nusers) qsort(a->users, a->nusers, sizeof *a->users, user_cmp);
  return 0;
}

int access_load(struct access **ap, const char *path)
{
  struct access *a = calloc(1, sizeof *a);
  *ap = 0;
  if (!a) return -1;
  if (file_read(path, &a->text, ACCESS_FILE_MAX) == -1) {
    if (errno != ENOENT) goto fail;
    buf_trunc(&a->text, 0);
  }
  if (parse(a) == -1) goto fail;
  *ap = a;
  return 0;
fail:
  access_free(a);
  return -1;
}

void access_free(struct access *a)
{
  int e = errno;
  if (!a) return;
  buf_free(&a->text);
  free(a->nets);
  free(a->users);
  free(a->rcvd);
  free(a->bounce);
  free(a);
  errno = e;
}

int access_unchanged(const struct stat *was, const struct stat *now)
{
  return now->st_dev == was->st_dev && now->st_ino == was->st_ino && now->st_size == was->st_size
         && now->st_mtim.tv_sec == was->st_mtim.tv_sec && now->st_mtim.tv_nsec == was->st_mtim.tv_nsec
         && now->st_ctim.tv_sec == was->st_ctim.tv_sec && now->st_ctim.tv_nsec == was->st_ctim.tv_nsec;
}

int access_by_ip(const struct access *a, const char *ip, const char **tenant, const char **comp)
{
  unsigned char addr[16];
  int family, best = -1;
  size_t i;
  if (!a || !ip || cidr_addr(ip, &family, addr) == -1) return 0;
  /* The longest prefix wins where tenants' ranges overlap. */
  for (i = 0; i < a->nnets; i++)
    if (cidr_match(&a->nets[i].c, family, addr)
        && (best < 0 || a->nets[i].c.prefix > a->nets[best].c.prefix))
      best = (int)i;
  if (best < 0) return 0;
  if (tenant) *tenant = a->nets[best].tenant;
  if (comp) *comp = a->nets[best].comp;
  return 1;
}

int access_by_user(const struct access *a, const char *user, const char *password,
                   const char **tenant, const char **comp)
{
  struct auser key, *u = 0;
  int ok;
  if (a && user && a->nusers) {
    key.name = user;
    u = bsearch(&key, a->users, a->nusers, sizeof *a->users, user_cmp);
  }
  /* The same crypt work whether or not the user exists: no hash is
     checked against tenant_verify's stand-in hash of no known password. */
  ok = tenant_verify(password, u ? u->hash : 0);
  if (ok != 1 || !u) return 0;
  if (tenant) *tenant = u->tenant;
  if (comp) *comp = u->comp;
  return 1;
}

const char *access_received(const struct access *a, const char *tenant, const char *comp)
{
  size_t i;
  if (!a || !tenant || !comp) return 0;
  for (i = 0; i < a->nrcvd; i++)
    if (!strcmp(a->rcvd[i].tenant, tenant) && !strcmp(a->rcvd[i].comp, comp)) return a->rcvd[i].mode;
  return 0;
}

int access_bounce(const struct access *a, const char *domain, const char **tenant,
                  const char **comp)
{
  size_t i;
  int n = 0;
  if (!a || !domain) return 0;
  for (i = 0; i < a->nbounce; i++)
    if (!strcasecmp(a->bounce[i].domain, domain)) {
      if (!n && tenant) *tenant = a->bounce[i].tenant;
      if (!n && comp) *comp = a->bounce[i].comp;
      n++;
    }
  return n;
}

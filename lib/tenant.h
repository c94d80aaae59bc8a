#ifndef TENANT_H
#define TENANT_H
/* tenant.h: tenants and their relay access, SMTP AUTH users and routes.

   Stored in the tables of tbl.h (writers: cmcctl, later the console/API).
   smtp-recv does not open the database: after every change of access data
   the writer regenerates the snapshot file $CMC_HOME/etc/access atomically
   (tenant_export_access), and smtp-recv reads it (access.h, which has the
   format and the reader's functions; included here for older callers).
   The name and password checks (tenant_check.c) need no database. */
#include <stddef.h>
#include "access.h"
#include "buf.h"
#include "tbl.h"

#define TENANT_NAME_MAX 64        /* [a-z0-9][a-z0-9_-]* */

/* --- database side (cmcctl, deliver) --- */
int tenant_add(struct tbl *t, const char *name);              /* 1 if exists */
int tenant_exists(struct tbl *t, const char *name);           /* 1 yes, 0 no, -1 */
typedef int tenant_fn(void *ctx, const char *name);
int tenant_list(struct tbl *t, tenant_fn *fn, void *ctx);
int tenant_name_ok(const char *name);                         /* 1 if valid */

int tenant_net_add(struct tbl *t, const char *tenant, const char *comp, const char *cidr);
int tenant_net_del(struct tbl *t, const char *tenant, const char *comp, const char *cidr);
/* password: plain text, hashed here (yescrypt via crypt_gensalt/crypt_r). */
int tenant_user_set(struct tbl *t, const char *tenant, const char *comp,
                    const char *user, const char *password);
int tenant_user_del(struct tbl *t, const char *tenant, const char *comp, const char *user);
/* domain: a domain, or "*" for all others.  hostport: "host:port" or "[ip]:port". */
int tenant_route_set(struct tbl *t, const char *tenant, const char *comp,
                     const char *domain, const char *hostport);
int tenant_route_del(struct tbl *t, const char *tenant, const char *comp, const char *domain);
/* Route for domain (exact, then each parent domain, then "*"): 0 found
   (hostport in out), 1 none (use MX), -1 error. */
int tenant_route_get(struct tbl *t, const char *tenant, const char *comp,
                     const char *domain, struct buf *out);
/* Per tenant and composition settings, as key=value text (e.g.
   retry_period=259200).  tenant_get: 0 found, 1 unset, -1 error. */
int tenant_set(struct tbl *t, const char *tenant, const char *comp,
               const char *key, const char *value);
int tenant_get(struct tbl *t, const char *tenant, const char *comp,
               const char *key, struct buf *out);
int tenant_unset(struct tbl *t, const char *tenant, const char *comp,
                 const char *key);                            /* 1 if unset */
/* Listings, in key order; comp 0 means every composition.  fn(ctx, comp,
   a, b) with: nets a = CIDR (canonical ADDR/PREFIX), b = ""; users a =
   name, b = ""; routes a = domain or "*", b = host:port; settings a = key,
   b = value.  fn non-zero stops the walk (as tbl_walk). */
typedef int tenant_item_fn(void *ctx, const char *comp, const char *a, const char *b);
int tenant_net_list(struct tbl *t, const char *tenant, const char *comp,
                    tenant_item_fn *fn, void *ctx);
int tenant_user_list(struct tbl *t, const char *tenant, const char *comp,
                     tenant_item_fn *fn, void *ctx);
int tenant_route_list(struct tbl *t, const char *tenant, const char *comp,
                      tenant_item_fn *fn, void *ctx);
int tenant_set_list(struct tbl *t, const char *tenant, const char *comp,
                    tenant_item_fn *fn, void *ctx);
int tenant_comp_ok(const char *comp);     /* 1 if valid: as a tenant name */
int tenant_user_ok(const char *user);     /* 1 if valid: [A-Za-z0-9._@+=-], 1..128 */
/* yescrypt hash of password into out (n >= 384 is enough); 0 or -1
   (EINVAL: empty, control characters or longer than 1024 bytes). */
int tenant_hash(const char *password, char *out, size_t n);
/* 1 if password matches hash (constant-time compare), 0 if not, -1. */
int tenant_verify(const char *password, const char *hash);
/* Errors of the writers above: EINVAL bad name/value, ENOENT unknown
   tenant, EEXIST user name taken by another tenant, EDEADLK/EAGAIN as tbl.h. */

/* Write the access snapshot (access.h) to path atomically. */
int tenant_export_access(struct tbl *t, const char *path);
#endif

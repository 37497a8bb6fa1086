/*
 * Real, linkable symbols for the parts of libibverbs' API that verbs.h defines as `static inline`
 * functions or macros (bindgen cannot bind those: there is no symbol to link against).
 * Each one is a one-line forward to the inline function of the same name without the prefix.
 */
#ifndef CYCLONE_VERBS_SHIM_H
#define CYCLONE_VERBS_SHIM_H
#include <infiniband/verbs.h>

/* Data path: these go through `qp->context->ops` / `cq->context->ops` (the provider). */
int cyclone_ibv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr);
int cyclone_ibv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
int cyclone_ibv_poll_cq(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);
int cyclone_ibv_req_notify_cq(struct ibv_cq *cq, int solicited_only);

/* Control path: macros or inline wrappers in verbs.h. */
struct ibv_device **cyclone_ibv_get_device_list(int *num_devices);
int cyclone_ibv_query_port(struct ibv_context *context, uint8_t port_num,
                           struct ibv_port_attr *port_attr);
int cyclone_ibv_query_gid_ex(struct ibv_context *context, uint32_t port_num, uint32_t gid_index,
                             struct ibv_gid_entry *entry, uint32_t flags);
ssize_t cyclone_ibv_query_gid_table(struct ibv_context *context, struct ibv_gid_entry *entries,
                                    size_t max_entries, uint32_t flags);
struct ibv_mr *cyclone_ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access);
#endif

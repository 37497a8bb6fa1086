/*
 * Prototypes of shim.c: out-of-line copies of DPDK's `static inline` functions (and macros) that
 * Rust cannot call directly. Each is a one-line forward to the DPDK function of the same name.
 */
#ifndef CYCLONE_DPDK_SHIM_H
#define CYCLONE_DPDK_SHIM_H

#include <stdint.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/* `rte_errno` is a per-lcore thread-local variable: read it from C. */
int cyclone_rte_errno(void);
uint16_t cyclone_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                                  uint16_t nb_pkts);
uint16_t cyclone_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                                  uint16_t nb_pkts);
struct rte_mbuf *cyclone_rte_pktmbuf_alloc(struct rte_mempool *mp);
int cyclone_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                                   unsigned int count);
void cyclone_rte_pktmbuf_free(struct rte_mbuf *m);
/* `rte_pktmbuf_mtod(m, void *)`. */
void *cyclone_rte_pktmbuf_mtod(struct rte_mbuf *m);
unsigned int cyclone_rte_lcore_id(void);
/* `rte_mempool_cache_flush` of the calling lcore's default cache of `mp` (nothing on a thread
 * that is not an EAL lcore, which has no cache). */
void cyclone_rte_mempool_cache_flush(struct rte_mempool *mp);
/* Flushes every lcore's cache of `mp`: only while no thread uses the mempool. */
void cyclone_rte_mempool_cache_flush_all(struct rte_mempool *mp);
/* Objects in the calling lcore's default cache of `mp` (0 without one). */
unsigned int cyclone_rte_mempool_cache_count(struct rte_mempool *mp);
/* Two ethdev ports over two new rte_rings, crossed over: what `name_a` sends, `name_b`
 * receives, and the other way (`rte_eth_from_rings` of the net_ring driver, looked up in its
 * already loaded plugin `plugin`). 0 and the port ids, or a negative errno. */
int cyclone_eth_ring_pair(const char *plugin, const char *name_a, const char *name_b,
                          unsigned int ring_size, uint16_t *port_a, uint16_t *port_b);

#endif

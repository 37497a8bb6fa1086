/*
 * Out-of-line copies of DPDK's `static inline` fast-path functions, so that Rust can call them.
 * Nothing here has logic of its own: each function forwards to the DPDK function it names.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include <rte_config.h>
#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "shim.h"

int cyclone_rte_errno(void) { return rte_errno; }

uint16_t cyclone_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                                  uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t cyclone_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                                  uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *cyclone_rte_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int cyclone_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                                   unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void cyclone_rte_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void *cyclone_rte_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }

unsigned int cyclone_rte_lcore_id(void) { return rte_lcore_id(); }

void cyclone_rte_mempool_cache_flush(struct rte_mempool *mp)
{
	struct rte_mempool_cache *cache = rte_mempool_default_cache(mp, rte_lcore_id());
	if (cache != NULL)
		rte_mempool_cache_flush(cache, mp);
}

void cyclone_rte_mempool_cache_flush_all(struct rte_mempool *mp)
{
	if (mp->cache_size == 0 || mp->local_cache == NULL)
		return;
	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++)
		rte_mempool_cache_flush(&mp->local_cache[i], mp);
}

unsigned int cyclone_rte_mempool_cache_count(struct rte_mempool *mp)
{
	struct rte_mempool_cache *cache = rte_mempool_default_cache(mp, rte_lcore_id());
	return cache == NULL ? 0 : cache->len;
}

/* `rte_eth_from_rings` of the net_ring driver, whose library the EAL loaded as a plugin (not
 * linked, so it is looked up in the loaded plugin, `plugin` being its path). */
typedef int (*cyclone_from_rings_fn)(const char *name, struct rte_ring *const rx_queues[],
                                     const unsigned int nb_rx_queues,
                                     struct rte_ring *const tx_queues[],
                                     const unsigned int nb_tx_queues, const unsigned int numa_node);

int cyclone_eth_ring_pair(const char *plugin, const char *name_a, const char *name_b,
                          unsigned int ring_size, uint16_t *port_a, uint16_t *port_b)
{
	void *lib = dlopen(plugin, RTLD_NOW | RTLD_NOLOAD);
	if (lib == NULL)
		return -ENOENT;
	cyclone_from_rings_fn from_rings = (cyclone_from_rings_fn)dlsym(lib, "rte_eth_from_rings");
	if (from_rings == NULL) {
		dlclose(lib);
		return -ENOSYS;
	}
	char ring_name[RTE_RING_NAMESIZE];
	/* to_a: what b sends and a receives; to_b: the other way. */
	snprintf(ring_name, sizeof(ring_name), "cyc_to_%s", name_a);
	struct rte_ring *to_a = rte_ring_create(ring_name, ring_size, (int)rte_socket_id(), 0);
	snprintf(ring_name, sizeof(ring_name), "cyc_to_%s", name_b);
	struct rte_ring *to_b = rte_ring_create(ring_name, ring_size, (int)rte_socket_id(), 0);
	int ret = 0;
	if (to_a == NULL || to_b == NULL) {
		ret = -rte_errno;
		goto fail;
	}
	int a = from_rings(name_a, &to_a, 1, &to_b, 1, rte_socket_id());
	if (a < 0) {
		ret = -rte_errno;
		goto fail;
	}
	int b = from_rings(name_b, &to_b, 1, &to_a, 1, rte_socket_id());
	if (b < 0) {
		ret = -rte_errno;
		goto fail; /* port a stays: the process is a test */
	}
	*port_a = (uint16_t)a;
	*port_b = (uint16_t)b;
	dlclose(lib); /* the EAL's own handle keeps the plugin loaded */
	return 0;
fail:
	if (ret == 0)
		ret = -EINVAL;
	dlclose(lib);
	return ret;
}

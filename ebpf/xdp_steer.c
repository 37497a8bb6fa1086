// SPDX-License-Identifier: (MIT OR Apache-2.0) AND GPL-2.0-only
//
// xdp_steer.c: Cyclone's XDP steering program.
//
// Runs on every frame an interface receives and sends to the receiving queue's AF_XDP socket
// exactly the traffic the dataplane owns:
//
//   - ARP whose target protocol address is one of ours (requests and replies), and
//   - IPv4 whose destination is one of ours; when the port filter is on (cfg bit 0), TCP/UDP
//     only if the destination port is in `our_ports` (ICMP and other protocols always).
//
// Everything else (other addresses, IPv6, VLAN-tagged frames, malformed frames) goes to the
// kernel with XDP_PASS. A queue with no socket in `xsks_map` also passes: bpf_redirect_map's
// third argument is the action used when the lookup fails.
//
// Maps shared with user space (backends/afxdp/src/program.rs):
//   xsks_map   XSKMAP      rx queue index -> AF_XDP socket
//   our_addrs  HASH        IPv4 address (network byte order, as in the header) -> 1
//   our_ports  HASH        TCP/UDP destination port (network byte order) -> 1
//   cfg        ARRAY[1]    bit 0: port filter on
//   counters   PERCPU_ARRAY[MAX_QUEUES * CNT_N] u64, index queue * CNT_N + counter
//
// MTU note: this is a plain SEC("xdp") program (no fragments), so on veth the kernel refuses
// to attach it when the *peer's* MTU is above 3506 ("veth: Peer MTU is too large to set XDP").
// A SEC("xdp.frags") build would lift that, at the cost of multi-buffer frames in the XSK.
//
// Every packet access is bounds-checked against data_end before the load, in the form the
// verifier tracks.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 64
#define MAX_ADDRS 64
#define MAX_PORTS 1024

// Counter slots per queue.
#define CNT_REDIRECTED 0 // handed to the queue's AF_XDP socket
#define CNT_PASSED 1     // given to the kernel (not ours, or no socket on the queue)
#define CNT_DROPPED 2    // redirect failed with an action other than PASS (should stay 0)
#define CNT_ABORTED 3    // rx queue index out of range of the counter map
#define CNT_N 4

#define CFG_PORT_FILTER 1u

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} xsks_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_ADDRS);
    __type(key, __u32);
    __type(value, __u8);
} our_addrs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_PORTS);
    __type(key, __u16);
    __type(value, __u8);
} our_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} cfg SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MAX_QUEUES * CNT_N);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

// The ARP payload for Ethernet/IPv4 (RFC 826), packed as on the wire.
struct arp_eth_ipv4 {
    __be16 htype;
    __be16 ptype;
    __u8 hlen;
    __u8 plen;
    __be16 oper;
    __u8 sha[6];
    __u8 spa[4];
    __u8 tha[6];
    __u8 tpa[4];
} __attribute__((packed));

static __always_inline void count(__u32 queue, __u32 slot)
{
    __u32 key = queue * CNT_N + slot;
    __u64 *c = bpf_map_lookup_elem(&counters, &key);
    if (c)
        *c += 1; // per-CPU slot: no other CPU writes it
}

static __always_inline int is_ours(__u32 addr)
{
    return bpf_map_lookup_elem(&our_addrs, &addr) != 0;
}

// Whether IPv4 packet `ip` (header already bounds-checked) passes the optional port filter.
static __always_inline int port_allowed(struct iphdr *ip, void *data_end)
{
    __u32 key = 0;
    __u32 *flags = bpf_map_lookup_elem(&cfg, &key);
    if (!flags || !(*flags & CFG_PORT_FILTER))
        return 1;
    if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
        return 1;
    // Non-first fragments carry no ports, so the filter cannot tell whose they are: the
    // kernel gets them. (With the filter on, fragmented TCP/UDP is not steered.)
    if (ip->frag_off & bpf_htons(0x1fff))
        return 0;
    __u32 ihl = ip->ihl & 0xf;
    if (ihl < 5)
        return 0;
    __u8 *l4 = (__u8 *)ip + ihl * 4;
    if (l4 + 4 > (__u8 *)data_end)
        return 0;
    __u16 dport = *(__u16 *)(l4 + 2); // network order, as the map keys are
    return bpf_map_lookup_elem(&our_ports, &dport) != 0;
}

SEC("xdp")
int cyclone_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u32 queue = ctx->rx_queue_index;
    int ours = 0;

    if (queue >= MAX_QUEUES) {
        // No counter slot and no XSKMAP entry for it: leave it to the kernel.
        __u32 key = (MAX_QUEUES - 1) * CNT_N + CNT_ABORTED;
        __u64 *c = bpf_map_lookup_elem(&counters, &key);
        if (c)
            *c += 1;
        return XDP_PASS;
    }

    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        goto pass;

    // VLAN-tagged frames (0x8100, 0x88a8) and everything not ARP/IPv4 fall through to pass.
    if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
        struct arp_eth_ipv4 *arp = (void *)(eth + 1);
        if ((void *)(arp + 1) > data_end)
            goto pass;
        if (arp->htype != bpf_htons(1) || arp->ptype != bpf_htons(ETH_P_IP) ||
            arp->hlen != 6 || arp->plen != 4)
            goto pass;
        __u32 tpa;
        __builtin_memcpy(&tpa, arp->tpa, 4);
        ours = is_ours(tpa);
    } else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > data_end)
            goto pass;
        ours = is_ours(ip->daddr) && port_allowed(ip, data_end);
    }

    if (ours) {
        long action = bpf_redirect_map(&xsks_map, queue, XDP_PASS);
        if (action == XDP_REDIRECT) {
            count(queue, CNT_REDIRECTED);
            return XDP_REDIRECT;
        }
        if (action != XDP_PASS) {
            count(queue, CNT_DROPPED);
            return (int)action;
        }
    }
pass:
    count(queue, CNT_PASSED);
    return XDP_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";

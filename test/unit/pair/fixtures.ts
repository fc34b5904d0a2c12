// A pair site as the lab builds it: two disk nodes (a, b), the outside
// network with the VIP, the blade networks inside (NAT router, service
// address) and inside2 (service address). Raw config, as a file gives it.
export const PAIR_ADDR = {
  vip: '192.168.1.100',
  outside: { a: '192.168.1.2', b: '192.168.1.3' },
  inside: { service: '10.0.0.1', router: '10.0.0.254', a: '10.0.0.2', b: '10.0.0.3' },
  inside2: { service: '10.0.1.1', a: '10.0.1.2', b: '10.0.1.3' },
} as const;

export function pairSite(node: 'a' | 'b', over: { pair?: Record<string, unknown>; top?: Record<string, unknown> } = {}): Record<string, unknown> {
  const peer = node === 'a' ? 'b' : 'a';
  return {
    server: { name: `disk-${node}` },
    store: { driver: 'postgres', url: `postgres://rackboot@${PAIR_ADDR.inside.service}/rackboot` },
    api: { listen: '0.0.0.0:8080', token: 'pair-token' },
    networks: [
      { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: PAIR_ADDR.inside.service, router: PAIR_ADDR.inside.router, staticRange: '10.0.0.10-10.0.0.199' },
      { name: 'inside2', interface: 'eth2', cidr: '10.0.1.0/24', serverAddress: PAIR_ADDR.inside2.service, staticRange: '10.0.1.10-10.0.1.199' },
    ],
    director: {
      enabled: true,
      backend: 'nftables',
      natRouter: { interface: 'eth1', address: `${PAIR_ADDR.inside.router}/24` },
      services: [{ name: 'web', vip: `${PAIR_ADDR.vip}/24`, interface: 'eth0', port: 80, scheduler: 'rr', realServers: { group: 'web', network: 'inside', port: 80 } }],
    },
    pair: {
      enabled: true,
      peer: { name: `disk-${peer}`, addresses: [PAIR_ADDR.outside[peer], PAIR_ADDR.inside[peer], PAIR_ADDR.inside2[peer]] },
      priority: node === 'a' ? 150 : 100,
      ...(over.pair ?? {}),
    },
    ...(over.top ?? {}),
  };
}

// Per-type latency profile for benchmarks: realistic durations of Azure operations in milliseconds,
// multiplied by `scale` (0 = no latency, the default for tests; e.g. 0.01 turns 90 s into 0.9 s).
// The figures are typical observed durations in westeurope, not guarantees.

export interface LatencyProfile {
  scale: number;
  /** type key -> verb (put | patch | delete | action name | "*") -> ms */
  types: Record<string, Record<string, number>>;
}

const s = 1000;

export const DEFAULT_LATENCY: Record<string, Record<string, number>> = {
  "microsoft.resources/resourcegroups": { put: 1 * s, delete: 60 * s },
  "microsoft.network/virtualnetworks": { put: 5 * s, delete: 10 * s },
  "microsoft.network/networksecuritygroups": { put: 4 * s, delete: 10 * s },
  "microsoft.network/publicipaddresses": { put: 4 * s, delete: 10 * s },
  "microsoft.network/loadbalancers": { put: 4 * s, delete: 10 * s },
  "microsoft.network/networkinterfaces": { put: 2 * s, delete: 10 * s },
  "microsoft.network/privatednszones": { put: 35 * s, delete: 30 * s },
  "microsoft.network/privatednszones/virtualnetworklinks": { put: 30 * s, delete: 30 * s },
  "microsoft.network/dnszones": { put: 2 * s, delete: 10 * s },
  "microsoft.compute/availabilitysets": { put: 1 * s, delete: 2 * s },
  "microsoft.compute/virtualmachines": {
    put: 60 * s,
    delete: 40 * s,
    restart: 30 * s,
    redeploy: 180 * s,
    runcommand: 20 * s,
    "*": 30 * s,
  },
  "microsoft.compute/virtualmachinescalesets": { put: 60 * s, patch: 60 * s, delete: 60 * s, "*": 60 * s },
  "microsoft.dbformysql/flexibleservers": { put: 420 * s, patch: 120 * s, delete: 120 * s, "*": 60 * s },
  "microsoft.dbformysql/flexibleservers/databases": { put: 20 * s, delete: 20 * s },
  "microsoft.dbformysql/flexibleservers/firewallrules": { put: 60 * s, delete: 60 * s },
  "microsoft.dbformysql/flexibleservers/configurations": { patch: 20 * s, "*": 20 * s },
  "microsoft.keyvault/vaults": { put: 15 * s, delete: 5 * s },
  "microsoft.authorization/roleassignments": { put: 2 * s },
  "microsoft.managedidentity/userassignedidentities": { put: 2 * s, delete: 2 * s },
};

// The Azure Monitor metrics Jumpgate's alert rules watch and its workers read: one list for the
// stack graph (which makes the rules), the alert matcher (which reads what they fire) and the scale
// worker (which measures what an alert claims).
export const ALERT_METRICS = {
  /** VM availability (1 = running), per VM; on a scale set, split by the VMName dimension */
  vmAvailability: "VmAvailabilityMetric",
  /** load balancer health probe status, split by BackendIPAddress */
  probe: "DipAvailability",
  cpu: "Percentage CPU",
  /** live Guacamole sessions, published by the node agent as a custom metric */
  liveSessions: { namespace: "jumpgate", name: "liveSessions" },
} as const;

// Real-shaped Azure Monitor notifications for a deployed stack, made from the recorded fixtures in
// test/fixtures/alerts (common alert schema, as an action group posts them to POST /api/alerts):
// the load balancer's health probe alert, `DipAvailability` below 100 for one `BackendIPAddress`.
// Used by the alert -> heal e2e test and the benchmark.
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { stackNames } from "../shared/graph/names";
import type { StackSpec } from "../shared/spec/types";

const FIXTURES = path.resolve(__dirname, "..", "..", "test", "fixtures", "alerts");
/** what the fixtures were recorded with */
const RECORDED = {
  subscription: "7c0a1e2b-3d4f-4a5b-8c6d-9e0f1a2b3c4d",
  resourceGroup: "rg-jump",
  rule: "web1-backend-probe",
  loadBalancer: "web1-lb",
  backendIp: "10.40.1.5",
  alertGuid: "5b1f0e62-34d8-4f3c-9a0e-2c7d1b8a6f01",
  fired: "2026-11-21T09:14:03.4712206Z",
};

export interface ProbeAlertOptions {
  /** the alert's id in Azure (one per rule and dimension combination); default: a new one */
  alertGuid?: string;
  /** when it fired; default now */
  firedAt?: Date;
}

/** The stack's load balancer probe alert (Fired) for one backend IP, as Azure Monitor sends it. */
export function probeAlert(
  spec: StackSpec,
  backendIp: string,
  options: ProbeAlertOptions = {},
): Record<string, unknown> {
  const names = stackNames(spec);
  const text = fs
    .readFileSync(path.join(FIXTURES, "metric-lb-dip-fired.json"), "utf8")
    .replaceAll(RECORDED.subscription, spec.subscriptionId)
    .replaceAll(RECORDED.rule, `${spec.name}-backend-probe`)
    .replaceAll(RECORDED.loadBalancer, names.loadBalancer)
    .replaceAll(`/resourcegroups/${RECORDED.resourceGroup}/`, `/resourcegroups/${spec.resourceGroup.toLowerCase()}/`)
    .replaceAll(`_${RECORDED.resourceGroup}_`, `_${spec.resourceGroup.toLowerCase()}_`)
    .replaceAll(RECORDED.backendIp, backendIp)
    .replaceAll(RECORDED.alertGuid, options.alertGuid ?? randomUUID())
    .replaceAll(RECORDED.fired, (options.firedAt ?? new Date()).toISOString());
  return JSON.parse(text) as Record<string, unknown>;
}

// The app's long-lived collaborators, built once per process from settings (Azure SDK style: one
// client factory). Tests and the sandbox point the settings at the emulator and Azurite, or install
// their own set with `useServices`.
import { AlertTokenValidator, alertTokenSettingsFromEnv } from "../shared/alerts/entra-token";
import { AzureClientFactory } from "../shared/azure/clients";
import { azureSettingsFromEnv, validateAzureSettings } from "../shared/azure/settings";
import { ConfigError, readIntSetting, readSetting } from "../shared/config";
import { ResourceEngine } from "../shared/arm/engine";
import { acmeSettingsFromEnv, type AcmeSettings } from "../shared/acme/settings";
import {
  AlertInbox,
  AuditLog,
  CertificateLedger,
  ConnectionLedger,
  FleetStateStore,
  RepairLedger,
  StackRegistry,
  StoreTables,
  storeSettingsFromEnv,
} from "../shared/store";
import type { DurableClient } from "durable-functions";
import type { StackSpec } from "../shared/spec/types";
import type { StackObserved } from "../shared/stack-status";

export interface Services {
  factory: AzureClientFactory;
  engine: ResourceEngine;
  registry: StackRegistry<StackSpec, StackObserved>;
  audit: AuditLog;
  /** alert signals per stack, deduplicated; read by the heal and scale orchestrations */
  inbox: AlertInbox;
  /** what healing did to each node, its brake and suspensions */
  repairs: RepairLedger;
  /** each stack's web nodes as scaling left them (the graph is built from these members) */
  fleet: FleetStateStore;
  /** each stack's certificate: current, schedule, backoff, orders, what each node serves */
  certificates: CertificateLedger;
  /** each stack's connections from the inventory: the last sync's summary and one row per connection */
  connections: ConnectionLedger;
  /** the ACME client: trust, polling, DNS-01 propagation wait */
  acme: AcmeSettings;
  /** tenant of the stacks' Key Vaults */
  tenantId: string;
  functionPrincipalId?: string;
  /** the recording writer role's GUID (stacks with recordings grant it to their web nodes) */
  recordingWriterRoleId?: string;
  /**
   * the blob endpoint of a stack's recordings account, `{account}` standing for its name (default
   * `https://{account}.blob.core.windows.net`; the tests point it at Azurite)
   */
  recordingsEndpoint?: string;
  /** action group that calls /api/alerts; stacks get alert rules only when it is set */
  alertActionGroupId?: string;
  nodeReadyTimeoutMinutes: number;
  /** token mode of the alert intake (POST /api/alerts/entra); undefined: off */
  alertToken?: AlertTokenValidator;
  /** how long the alert inbox, its ignored partition and the audit trail keep a row (days) */
  retention: RetentionDays;
  /** drift screening from Resource Graph: its lag behind ARM, and how often every resource is read through ARM */
  drift: DriftSettings;
  /**
   * The durable client activities start orchestrations with (the node image build): tests and the
   * sandbox hand the durable host's own; in Azure it is left out and such an activity takes its
   * `durableClient` input binding (functions/activities/register.ts).
   */
  durableClient?: DurableClient;
}

export interface DriftSettings {
  /** a resource ARM changed less than this ago is confirmed through ARM whatever Resource Graph shows */
  resourceGraphLagMs: number;
  /** every this many hours a stack's drift check reads every resource through ARM */
  fullCheckHours: number;
}

/** The drift screening settings. */
export function driftFromSettings(): DriftSettings {
  return {
    resourceGraphLagMs: readIntSetting("resourceGraphLagSeconds", undefined, 0) * 1000,
    fullCheckHours: readIntSetting("driftFullCheckHours", undefined, 1),
  };
}

export interface RetentionDays {
  alertSignals: number;
  ignoredAlerts: number;
  auditEvents: number;
}

let current: Services | undefined;

export function services(): Services {
  current ??= servicesFromSettings();
  return current;
}

/** Installs a set of services (tests, sandbox); `undefined` goes back to building from settings. */
export function useServices(next: Services | undefined): void {
  current = next;
}

export function servicesFromSettings(): Services {
  const factory = new AzureClientFactory(validateAzureSettings(azureSettingsFromEnv()));
  const tenantId = readSetting("tenantId");
  if (!tenantId) throw new ConfigError("JUMPGATE_TENANT_ID is required: the tenant of the stacks' Key Vaults");
  const store = new StoreTables(storeSettingsFromEnv());
  return {
    factory,
    engine: new ResourceEngine(factory),
    registry: new StackRegistry<StackSpec, StackObserved>(store),
    audit: new AuditLog(store),
    inbox: new AlertInbox(store),
    repairs: new RepairLedger(store),
    fleet: new FleetStateStore(store),
    certificates: new CertificateLedger(store),
    connections: new ConnectionLedger(store),
    acme: acmeSettingsFromEnv(),
    tenantId,
    functionPrincipalId: readSetting("functionPrincipalId"),
    recordingWriterRoleId: readSetting("recordingWriterRoleId"),
    alertActionGroupId: actionGroupIdSetting(),
    nodeReadyTimeoutMinutes: readIntSetting("nodeReadyTimeoutMinutes", undefined, 1),
    retention: retentionFromSettings(),
    drift: driftFromSettings(),
    ...alertTokenValidator(tenantId),
  };
}

function alertTokenValidator(tenantId: string): { alertToken?: AlertTokenValidator } {
  const settings = alertTokenSettingsFromEnv(tenantId);
  return settings ? { alertToken: new AlertTokenValidator(settings) } : {};
}

/** The retention settings, at least a day each. */
export function retentionFromSettings(): RetentionDays {
  return {
    alertSignals: readIntSetting("alertRetentionDays", undefined, 1),
    ignoredAlerts: readIntSetting("ignoredAlertRetentionDays", undefined, 1),
    auditEvents: readIntSetting("auditRetentionDays", undefined, 1),
  };
}

const ACTION_GROUP_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[^/]+\/providers\/microsoft\.insights\/actionGroups\/[^/]+$/i;

/** The action group of the alert rules, refused at start when it is not an action group's ARM id. */
function actionGroupIdSetting(): string | undefined {
  const id = readSetting("alertActionGroupId");
  if (id !== undefined && !ACTION_GROUP_ID.test(id)) {
    throw new ConfigError(
      `JUMPGATE_ALERT_ACTION_GROUP_ID must be an action group's ARM id (/subscriptions/<id>/resourceGroups/<rg>/providers/microsoft.insights/actionGroups/<name>), got '${id}'`,
    );
  }
  return id;
}

/**
 * The sandbox and the tests: the app talks to the loopback Azure emulator. The emulator credential is
 * accepted only with a loopback ARM endpoint (validateAzureSettings), so no real deployment is one.
 * Only there may a stack name loopback or private hosts (a local Pebble as its ACME CA).
 */
export function isSandbox(s: Services = services()): boolean {
  return s.factory.settings.credential === "emulator";
}

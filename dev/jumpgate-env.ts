// The whole app on loopback: the Azure emulator (real SDK clients through the app's factory),
// Azurite for the registry and audit trail, the durable test host running the app's real
// orchestrators and activities, and (optionally) the app's real HTTP routes served like the
// Functions host serves them. Used by e2e tests, the benchmark and the sandbox.
import "../emulator/durable/install";
import "../functions";
import { Emulator, type EmulatorOptions } from "../emulator/arm/emulator";
import {
  DurableTestHost,
  InMemoryDurableClient,
  fromRegistry,
  makeClientInputData,
  startDurableRpcServer,
  type DurableRpcServer,
} from "../emulator/durable";
import type { DurableTestHostOptions } from "../emulator/durable/durable-test-host";
import { startHttpHost, type HttpHost } from "../emulator/functions-host/http-host";
import { retentionFromSettings, useServices, type DriftSettings, type Services } from "../functions/services";
import { AlertTokenValidator, type AlertTokenSettings } from "../shared/alerts/entra-token";
import { ResourceEngine } from "../shared/arm/engine";
import { AzureClientFactory } from "../shared/azure/clients";
import type { AzureClientSettings } from "../shared/azure/settings";
import type { AcmeSettings } from "../shared/acme/settings";
import {
  AlertInbox,
  AuditLog,
  CertificateLedger,
  ConnectionLedger,
  FleetStateStore,
  RepairLedger,
  StackRegistry,
  StoreTables,
} from "../shared/store";
import type { StackSpec } from "../shared/spec/types";
import type { StackObserved } from "../shared/stack-status";
import { emulatorClientSettings } from "./azure";
import { AZURITE_ACCOUNT, startAzurite, type AzuriteServer } from "./servers/azurite";
import { startHttpGate, type HttpGate } from "./servers/http-gate";

export interface JumpgateEnvOptions {
  emulator?: EmulatorOptions;
  azure?: Partial<AzureClientSettings>;
  durable?: Partial<Omit<DurableTestHostOptions, "orchestrators" | "activities">>;
  /** serve the HTTP routes (needs the real-time pump, see `realTime`) */
  http?: boolean | { port?: number };
  /** run the durable host on the wall clock (timeScale speeds up timers) instead of the virtual clock */
  realTime?: { timeScale?: number };
  nodeReadyTimeoutMinutes?: number;
  /** give every stack the alert rules that call this action group */
  alertActionGroupId?: string;
  /** turn on the alert intake's token mode (POST /api/alerts/entra) */
  alertToken?: AlertTokenSettings;
  /** the ACME client's settings (default: fast polls, no DNS wait, no extra CA) */
  acme?: { dnsWaitSeconds?: number; transport?: Partial<AcmeSettings["transport"]> };
  log?: (line: string) => void;
  /**
   * Put an HTTP gate (dev/servers/http-gate.ts) in front of the app's table store and of
   * the durable RPC routes its HTTP functions use, so a test can order concurrent requests.
   */
  gates?: boolean;
  /** drift screening (default: a 5-minute Resource Graph lag, a full check every 24 hours) */
  drift?: Partial<DriftSettings>;
}

export interface JumpgateEnv {
  emulator: Emulator;
  azurite: AzuriteServer;
  host: DurableTestHost;
  services: Services;
  registry: StackRegistry<StackSpec, StackObserved>;
  audit: AuditLog;
  inbox: AlertInbox;
  repairs: RepairLedger;
  fleet: FleetStateStore;
  certificates: CertificateLedger;
  rpc?: DurableRpcServer;
  http?: HttpHost;
  /** base URL of the HTTP API when served, e.g. http://127.0.0.1:7071/api */
  api?: string;
  /** with `gates`: the gate in front of the table store, and the one in front of the durable RPC routes */
  gates?: { tables: HttpGate; durable?: HttpGate };
  stop(): Promise<void>;
}

export const TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47";

export async function startJumpgateEnv(options: JumpgateEnvOptions = {}): Promise<JumpgateEnv> {
  const emulator = new Emulator({ tenantId: TENANT_ID, ...options.emulator });
  await emulator.start();
  const azurite = await startAzurite();
  const tablesGate = options.gates ? await startHttpGate(new URL(azurite.tableEndpoint).origin) : undefined;
  const connectionString = tablesGate
    ? azurite.connectionString.replace(/TableEndpoint=[^;]+;/, `TableEndpoint=${tablesGate.url}/${AZURITE_ACCOUNT};`)
    : azurite.connectionString;
  const settings = emulatorClientSettings(emulator, {
    // the emulator answers a Run Command POST only once its script has run (Azure answers 202 at
    // once), so a request may take as long as the scripts may: real node sandboxes start NGINX
    requestTimeoutMs: Math.max(10_000, options.emulator?.runCommand?.timeoutMs ?? 0),
    lroTimeoutMs: 120_000,
    ...options.azure,
  });
  const factory = new AzureClientFactory(settings);
  const tables = new StoreTables({
    connectionString,
    tablePrefix: "jumpgate",
    requestTimeoutMs: 10_000,
    retry: { maxRetries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 100 },
  });
  const registry = new StackRegistry<StackSpec, StackObserved>(tables);
  const audit = new AuditLog(tables);
  const inbox = new AlertInbox(tables);
  const repairs = new RepairLedger(tables);
  const fleet = new FleetStateStore(tables);
  const certificates = new CertificateLedger(tables);
  const connections = new ConnectionLedger(tables);
  const services: Services = {
    factory,
    engine: new ResourceEngine(factory),
    registry,
    audit,
    inbox,
    repairs,
    fleet,
    certificates,
    connections,
    acme: {
      dnsWaitSeconds: options.acme?.dnsWaitSeconds ?? 0,
      transport: {
        requestTimeoutMs: 5_000,
        pollMinMs: 50,
        pollMaxMs: 400,
        pollAttempts: 15,
        ...options.acme?.transport,
      },
    },
    tenantId: TENANT_ID,
    nodeReadyTimeoutMinutes: options.nodeReadyTimeoutMinutes ?? 30,
    alertActionGroupId: options.alertActionGroupId,
    retention: retentionFromSettings(),
    drift: { resourceGraphLagMs: 300_000, fullCheckHours: 24, ...options.drift },
    ...(options.alertToken ? { alertToken: new AlertTokenValidator(options.alertToken) } : {}),
  };
  useServices(services);

  const registrations = fromRegistry();
  const host = new DurableTestHost({
    ...registrations,
    ...(options.realTime ? { startTime: new Date() } : {}),
    ...options.durable,
  });
  // activities that start an orchestration (the node image build) start it on this host
  services.durableClient = new InMemoryDurableClient(host);
  const env: JumpgateEnv = {
    emulator,
    azurite,
    host,
    services,
    registry,
    audit,
    inbox,
    repairs,
    fleet,
    certificates,
    ...(tablesGate ? { gates: { tables: tablesGate } } : {}),
    stop: async () => {
      await env.http?.close();
      await env.gates?.durable?.stop();
      await env.rpc?.close();
      await env.gates?.tables.stop();
      if (options.realTime) await host.stopPump();
      useServices(undefined);
      await azurite.stop();
      await emulator.stop();
    },
  };
  try {
    if (options.realTime) host.startPump({ timeScale: options.realTime.timeScale ?? 1 });
    if (options.http) {
      env.rpc = await startDurableRpcServer(host);
      let clientData = env.rpc.clientData();
      if (env.gates) {
        const rpc = new URL(env.rpc.rpcBaseUrl);
        env.gates.durable = await startHttpGate(rpc.origin);
        clientData = makeClientInputData({ rpcBaseUrl: `${env.gates.durable.url}${rpc.pathname}` });
      }
      const port = typeof options.http === "object" ? options.http.port : undefined;
      env.http = await startHttpHost(Object.values(registrations.http), {
        port,
        clientData,
        log: options.log,
      });
      env.api = env.http.url;
    }
  } catch (e) {
    await env.stop();
    throw e;
  }
  return env;
}

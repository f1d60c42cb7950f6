// The one place that builds Azure SDK clients. Every client gets the same endpoint, credential,
// retry policy, trust store and a deadline on every HTTP attempt; callers get LRO options (poll
// interval + overall deadline) and per-call abort signals from here, so the app, the tests and the
// sandbox run the same code against Azure or the emulator.
import type * as ArmAuthorization from "@azure/arm-authorization";
import type * as ArmCompute from "@azure/arm-compute";
import type * as ArmDns from "@azure/arm-dns";
import type * as ArmKeyVault from "@azure/arm-keyvault";
import type * as ArmMysql from "@azure/arm-mysql-flexible";
import type * as ArmNetwork from "@azure/arm-network";
import type * as ArmPrivateDns from "@azure/arm-privatedns";
import type * as ArmResourceGraph from "@azure/arm-resourcegraph";
import type * as ArmResources from "@azure/arm-resources";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type * as Identity from "@azure/identity";
import type * as KeyVaultSecrets from "@azure/keyvault-secrets";
import type * as MonitorMetrics from "@azure/monitor-query-metrics";
import type * as StorageBlob from "@azure/storage-blob";
import { onFirstUse } from "../load-on-use";
import { ArmBudget, armBudgetPolicy } from "./arm-budget";
import { requestTimeoutPolicy } from "./request-timeout";
import { azureSettingsFromEnv, validateAzureSettings, type AzureClientSettings } from "./settings";

// the SDK packages load when a client is first built (see load-on-use.ts)
const armAuthorization = onFirstUse<typeof ArmAuthorization>("@azure/arm-authorization");
const armCompute = onFirstUse<typeof ArmCompute>("@azure/arm-compute");
const armDns = onFirstUse<typeof ArmDns>("@azure/arm-dns");
const armKeyVault = onFirstUse<typeof ArmKeyVault>("@azure/arm-keyvault");
const armMysql = onFirstUse<typeof ArmMysql>("@azure/arm-mysql-flexible");
const armNetwork = onFirstUse<typeof ArmNetwork>("@azure/arm-network");
const armPrivateDns = onFirstUse<typeof ArmPrivateDns>("@azure/arm-privatedns");
const armResourceGraph = onFirstUse<typeof ArmResourceGraph>("@azure/arm-resourcegraph");
const armResources = onFirstUse<typeof ArmResources>("@azure/arm-resources");
const identity = onFirstUse<typeof Identity>("@azure/identity");
const storageBlob = onFirstUse<typeof StorageBlob>("@azure/storage-blob");
const keyVaultSecrets = onFirstUse<typeof KeyVaultSecrets>("@azure/keyvault-secrets");
const monitorMetrics = onFirstUse<typeof MonitorMetrics>("@azure/monitor-query-metrics");

/** Options every `begin*AndWait` call takes. */
export interface LroCallOptions {
  updateIntervalInMs: number;
  abortSignal: AbortSignal;
}

/** A fixed token for the loopback emulator, which accepts any bearer token. */
export class EmulatorCredential implements TokenCredential {
  async getToken(): Promise<AccessToken> {
    return { token: "emulator-token", expiresOnTimestamp: Date.now() + 3600_000 };
  }
}

export class AzureClientFactory {
  readonly settings: AzureClientSettings;
  readonly credential: TokenCredential;
  /** ARM's request budget per subscription, shared by every ARM client of this factory */
  readonly budget: ArmBudget;
  private readonly cache = new Map<string, unknown>();

  constructor(settings: AzureClientSettings, credential?: TokenCredential) {
    this.settings = validateAzureSettings(settings);
    this.budget = new ArmBudget(this.settings.budget);
    this.credential =
      credential ??
      (settings.credential === "emulator" ? new EmulatorCredential() : new (identity().DefaultAzureCredential)());
  }

  static fromEnv(env?: Record<string, string | undefined>): AzureClientFactory {
    return new AzureClientFactory(azureSettingsFromEnv(env));
  }

  /** Options shared by every client: retries, trust, per-attempt timeout. */
  private commonOptions() {
    return {
      retryOptions: { ...this.settings.retry },
      ...(this.settings.caPem ? { tlsOptions: { ca: this.settings.caPem } } : {}),
      additionalPolicies: [
        { policy: requestTimeoutPolicy(this.settings.requestTimeoutMs), position: "perRetry" as const },
      ],
      userAgentOptions: { userAgentPrefix: "jumpgate" },
    };
  }

  /** ARM clients also take a token of the subscription's budget before each attempt, and share its 429 pauses. */
  private armOptions() {
    const common = this.commonOptions();
    return {
      ...common,
      additionalPolicies: [
        ...common.additionalPolicies,
        { policy: armBudgetPolicy(this.budget), position: "perRetry" as const },
      ],
      endpoint: this.settings.armEndpoint,
    };
  }

  private cached<T>(key: string, make: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key) as T;
  }

  resources(subscriptionId: string): ArmResources.ResourceManagementClient {
    return this.cached(
      `resources:${subscriptionId}`,
      () => new (armResources().ResourceManagementClient)(this.credential, subscriptionId, this.armOptions()),
    );
  }

  network(subscriptionId: string): ArmNetwork.NetworkManagementClient {
    return this.cached(
      `network:${subscriptionId}`,
      () => new (armNetwork().NetworkManagementClient)(this.credential, subscriptionId, this.armOptions()),
    );
  }

  compute(subscriptionId: string): ArmCompute.ComputeManagementClient {
    return this.cached(
      `compute:${subscriptionId}`,
      () => new (armCompute().ComputeManagementClient)(this.credential, subscriptionId, this.armOptions()),
    );
  }

  mysql(subscriptionId: string): ArmMysql.MySQLManagementFlexibleServerClient {
    return this.cached(
      `mysql:${subscriptionId}`,
      () => new (armMysql().MySQLManagementFlexibleServerClient)(this.credential, subscriptionId, this.armOptions()),
    );
  }

  keyVaultManagement(subscriptionId: string): ArmKeyVault.KeyVaultManagementClient {
    return this.cached(
      `keyvault:${subscriptionId}`,
      () => new (armKeyVault().KeyVaultManagementClient)(this.credential, subscriptionId, this.armOptions()),
    );
  }

  authorization(subscriptionId: string): ArmAuthorization.AuthorizationManagementClient {
    return this.cached(
      `authorization:${subscriptionId}`,
      () => new (armAuthorization().AuthorizationManagementClient)(this.credential, subscriptionId, this.armOptions()),
    );
  }

  privateDns(subscriptionId: string): ArmPrivateDns.PrivateDnsManagementClient {
    return this.cached(
      `privatedns:${subscriptionId}`,
      () => new (armPrivateDns().PrivateDnsManagementClient)(this.credential, subscriptionId, this.armOptions()),
    );
  }

  dns(subscriptionId: string): ArmDns.DnsManagementClient {
    return this.cached(
      `dns:${subscriptionId}`,
      () => new (armDns().DnsManagementClient)(this.credential, subscriptionId, this.armOptions()),
    );
  }

  /** Azure Resource Graph (tenant-wide; each query names its subscriptions). */
  resourceGraph(): ArmResourceGraph.ResourceGraphClient {
    return this.cached(
      "resourcegraph",
      () => new (armResourceGraph().ResourceGraphClient)(this.credential, this.armOptions()),
    );
  }

  /**
   * One blob container, by its URL, through the app's identity (Entra ID only: the recordings
   * accounts have no shared key). Storage's own retry options: a few tries, each with the deadline.
   */
  container(containerUrl: string): StorageBlob.ContainerClient {
    return this.cached(`container:${containerUrl}`, () => {
      const options: StorageBlob.StoragePipelineOptions & { tlsOptions?: { ca: string } } = {
        retryOptions: { maxTries: 3, tryTimeoutInMs: this.settings.requestTimeoutMs },
        userAgentOptions: { userAgentPrefix: "jumpgate" },
        ...(this.settings.caPem ? { tlsOptions: { ca: this.settings.caPem } } : {}),
      };
      return new (storageBlob().ContainerClient)(containerUrl, this.credential, options);
    });
  }

  /** Secrets of one vault, by its vault URI (`properties.vaultUri` of the vault resource). */
  secrets(vaultUrl: string): KeyVaultSecrets.SecretClient {
    return this.cached(
      `secrets:${vaultUrl.toLowerCase()}`,
      () =>
        new (keyVaultSecrets().SecretClient)(vaultUrl, this.credential, {
          ...this.commonOptions(),
          disableChallengeResourceVerification: !this.settings.verifyKeyVaultChallengeResource,
        }),
    );
  }

  /** Metrics of resources in one region. */
  metrics(location: string): MonitorMetrics.MetricsClient {
    const endpoint = this.settings.metricsEndpoint.replace("{location}", location.replace(/\s+/g, "").toLowerCase());
    return this.cached(
      `metrics:${endpoint}`,
      () => new (monitorMetrics().MetricsClient)(endpoint, this.credential, this.commonOptions()),
    );
  }

  /** Poll interval and overall deadline for one long-running operation. */
  lro(signal?: AbortSignal): LroCallOptions {
    return {
      updateIntervalInMs: this.settings.lroPollIntervalMs,
      abortSignal: this.deadline(this.settings.lroTimeoutMs, signal),
    };
  }

  /**
   * An abort signal for a plain (non-LRO) call, joined with the caller's: every attempt may use its
   * full deadline plus the longest retry wait.
   */
  call(signal?: AbortSignal): { abortSignal: AbortSignal } {
    const { maxRetries, maxRetryDelayInMs } = this.settings.retry;
    const budget = (this.settings.requestTimeoutMs + maxRetryDelayInMs) * (maxRetries + 1);
    return { abortSignal: this.deadline(budget, signal) };
  }

  private deadline(ms: number, signal?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(ms);
    return signal ? AbortSignal.any([timeout, signal]) : timeout;
  }
}

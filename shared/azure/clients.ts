// The one place that builds Azure SDK clients. Every client gets the same endpoint, credential,
// retry policy, trust store and a deadline on every HTTP attempt; callers get LRO options (poll
// interval + overall deadline) and per-call abort signals from here, so the app, the tests and the
// sandbox run the same code against Azure or the emulator.
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { ComputeManagementClient } from "@azure/arm-compute";
import { DnsManagementClient } from "@azure/arm-dns";
import { KeyVaultManagementClient } from "@azure/arm-keyvault";
import { MySQLManagementFlexibleServerClient } from "@azure/arm-mysql-flexible";
import { NetworkManagementClient } from "@azure/arm-network";
import { PrivateDnsManagementClient } from "@azure/arm-privatedns";
import { ResourceGraphClient } from "@azure/arm-resourcegraph";
import { ResourceManagementClient } from "@azure/arm-resources";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { MetricsClient } from "@azure/monitor-query-metrics";
import { ArmBudget, armBudgetPolicy } from "./arm-budget";
import { requestTimeoutPolicy } from "./request-timeout";
import { azureSettingsFromEnv, validateAzureSettings, type AzureClientSettings } from "./settings";

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
      credential ?? (settings.credential === "emulator" ? new EmulatorCredential() : new DefaultAzureCredential());
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

  resources(subscriptionId: string): ResourceManagementClient {
    return this.cached(
      `resources:${subscriptionId}`,
      () => new ResourceManagementClient(this.credential, subscriptionId, this.armOptions()),
    );
  }

  network(subscriptionId: string): NetworkManagementClient {
    return this.cached(
      `network:${subscriptionId}`,
      () => new NetworkManagementClient(this.credential, subscriptionId, this.armOptions()),
    );
  }

  compute(subscriptionId: string): ComputeManagementClient {
    return this.cached(
      `compute:${subscriptionId}`,
      () => new ComputeManagementClient(this.credential, subscriptionId, this.armOptions()),
    );
  }

  mysql(subscriptionId: string): MySQLManagementFlexibleServerClient {
    return this.cached(
      `mysql:${subscriptionId}`,
      () => new MySQLManagementFlexibleServerClient(this.credential, subscriptionId, this.armOptions()),
    );
  }

  keyVaultManagement(subscriptionId: string): KeyVaultManagementClient {
    return this.cached(
      `keyvault:${subscriptionId}`,
      () => new KeyVaultManagementClient(this.credential, subscriptionId, this.armOptions()),
    );
  }

  authorization(subscriptionId: string): AuthorizationManagementClient {
    return this.cached(
      `authorization:${subscriptionId}`,
      () => new AuthorizationManagementClient(this.credential, subscriptionId, this.armOptions()),
    );
  }

  privateDns(subscriptionId: string): PrivateDnsManagementClient {
    return this.cached(
      `privatedns:${subscriptionId}`,
      () => new PrivateDnsManagementClient(this.credential, subscriptionId, this.armOptions()),
    );
  }

  dns(subscriptionId: string): DnsManagementClient {
    return this.cached(
      `dns:${subscriptionId}`,
      () => new DnsManagementClient(this.credential, subscriptionId, this.armOptions()),
    );
  }

  /** Azure Resource Graph (tenant-wide; each query names its subscriptions). */
  resourceGraph(): ResourceGraphClient {
    return this.cached("resourcegraph", () => new ResourceGraphClient(this.credential, this.armOptions()));
  }

  /** Secrets of one vault, by its vault URI (`properties.vaultUri` of the vault resource). */
  secrets(vaultUrl: string): SecretClient {
    return this.cached(
      `secrets:${vaultUrl.toLowerCase()}`,
      () =>
        new SecretClient(vaultUrl, this.credential, {
          ...this.commonOptions(),
          disableChallengeResourceVerification: !this.settings.verifyKeyVaultChallengeResource,
        }),
    );
  }

  /** Metrics of resources in one region. */
  metrics(location: string): MetricsClient {
    const endpoint = this.settings.metricsEndpoint.replace("{location}", location.replace(/\s+/g, "").toLowerCase());
    return this.cached(`metrics:${endpoint}`, () => new MetricsClient(endpoint, this.credential, this.commonOptions()));
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

// The ACME client's settings, bound from app settings (or given directly by tests and the sandbox).
import * as fs from "node:fs";
import { ConfigError, readIntSetting, readSetting, type Env } from "../config";
import type { AcmeTransport } from "./issue";

export interface AcmeSettings {
  transport: AcmeTransport;
  /** wait after writing a DNS-01 TXT record before the CA is told to look */
  dnsWaitSeconds: number;
}

/** Deadline of one request to the CA. */
const ACME_REQUEST_TIMEOUT_MS = 30_000;
const POLL_ATTEMPTS = 15;

export function acmeSettingsFromEnv(env?: Env): AcmeSettings {
  const caFile = readSetting("acmeCaFile", env);
  let caPem: string | undefined;
  if (caFile) {
    try {
      caPem = fs.readFileSync(caFile, "utf8");
    } catch (e) {
      throw new ConfigError(`JUMPGATE_ACME_CA_FILE: cannot read '${caFile}': ${(e as Error).message}`);
    }
  }
  const pollMinMs = readIntSetting("acmePollMs", env, 1);
  return {
    transport: {
      ...(caPem ? { caPem } : {}),
      requestTimeoutMs: ACME_REQUEST_TIMEOUT_MS,
      pollMinMs,
      pollMaxMs: Math.min(30_000, Math.max(pollMinMs, pollMinMs * 8)),
      pollAttempts: POLL_ATTEMPTS,
    },
    dnsWaitSeconds: readIntSetting("acmeDnsWaitSeconds", env),
  };
}

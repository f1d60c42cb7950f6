// The external events that wake a sleeping worker, and what they carry: the contract between the
// triggers that raise them (alert-wake.ts, certificate-wake.ts) and the workers that wait for them.
// A wake-up only shortens a wait: the workers read their work from the inbox and the ledgers.

/** Wakes a stack's heal or scale worker; its data is the new signal ids. */
export const SIGNAL_EVENT = "signal";

/** Wakes a stack's certificate worker; its data is a CertificateWake. */
export const CERTIFICATE_WAKE_EVENT = "wake";

export interface CertificateWake {
  /** "timer" (the twice-daily sweep), "request" (POST .../rotate/certificate), ... */
  reason: string;
  /** the sweep spreads stacks: wait this long before looking */
  jitterSeconds?: number;
}

/** A certificate wake-up as the worker takes it: anything else raised on it is a plain "wake". */
export function certificateWakeOf(data: unknown): CertificateWake {
  if (!data || typeof data !== "object") return { reason: "wake" };
  const { reason, jitterSeconds } = data as { reason?: unknown; jitterSeconds?: unknown };
  return {
    reason: typeof reason === "string" ? reason.slice(0, 100) : "wake",
    ...(typeof jitterSeconds === "number" && jitterSeconds > 0
      ? { jitterSeconds: Math.min(Math.floor(jitterSeconds), 3600) }
      : {}),
  };
}

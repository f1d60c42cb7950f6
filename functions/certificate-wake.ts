// Waking a stack's certificate worker (`cert-<stack>`, renewCertificate): raise the wake event on a
// live instance, or start one. A lost wake-up is harmless (the worker wakes itself at its next
// renewal time, backoff end, or within 12 hours) and two are harmless too (the second round finds
// nothing due). Check-then-start races with another caller; when the start is refused because the
// other one started it first, the event goes to that instance instead.
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { InstanceIds, Names } from "./names";
import type { CertificateWorkerInput } from "./orchestrators/renew-certificate";
import { instanceStatus } from "./stack-claim";
import { CERTIFICATE_WAKE_EVENT, type CertificateWake } from "./workflow/events";

const TERMINAL = new Set<string>([
  df.OrchestrationRuntimeStatus.Completed,
  df.OrchestrationRuntimeStatus.Failed,
  df.OrchestrationRuntimeStatus.Terminated,
  "Canceled",
]);

export async function isCertificateWorkerLive(client: DurableClient, stack: string): Promise<boolean> {
  const status = await instanceStatus(client, InstanceIds.certificate(stack));
  return status !== undefined && !TERMINAL.has(status.runtimeStatus);
}

export async function wakeCertificateWorker(
  client: DurableClient,
  stack: string,
  wake: CertificateWake,
): Promise<"started" | "signalled"> {
  const instanceId = InstanceIds.certificate(stack);
  if (await isCertificateWorkerLive(client, stack)) {
    await client.raiseEvent(instanceId, CERTIFICATE_WAKE_EVENT, wake);
    return "signalled";
  }
  const input: CertificateWorkerInput = { stack, wake };
  try {
    await client.startNew(Names.orchestrators.renewCertificate, { instanceId, input });
    return "started";
  } catch (error) {
    if (await isCertificateWorkerLive(client, stack)) {
      await client.raiseEvent(instanceId, CERTIFICATE_WAKE_EVENT, wake);
      return "signalled";
    }
    throw error;
  }
}

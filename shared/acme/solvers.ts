// How the CA checks that the stack's name is its own (RFC 8555 §8): HTTP-01 through every web node
// behind the load balancer (the token goes on every node through its agent before the CA is told to
// look, and comes off afterwards), or DNS-01 through a TXT record in the spec's Azure DNS zone.
import type { AzureClientFactory } from "../azure/clients";
import type { WebNodeRef } from "../node/model";
import { runAgentCommand } from "../node/run-agent";
import type { StackSpec } from "../spec/types";
import type { ChallengeProof, ChallengeSolver } from "./issue";

/** Longest wait for one node to take or drop an HTTP-01 token. */
const CHALLENGE_RUN_COMMAND_TIMEOUT_MS = 3 * 60_000;

/**
 * HTTP-01 behind a load balancer: the CA may reach any node, so the key authorization goes on every
 * node (through its agent) before the CA is told to look, and comes off every node afterwards.
 */
export function httpSolver(
  factory: AzureClientFactory,
  spec: StackSpec,
  nodes: readonly WebNodeRef[],
): ChallengeSolver {
  if (nodes.length === 0) throw new Error("HTTP-01 needs web nodes to serve the token, and the stack has none");
  const run = (vmName: string, args: string[]) =>
    runAgentCommand(
      factory,
      {
        subscriptionId: spec.subscriptionId,
        resourceGroup: spec.resourceGroup,
        vmName,
        command: "acme-challenge",
        args,
      },
      // a hung VM can keep Run Command waiting; the activity must end well within the host's timeout
      AbortSignal.timeout(CHALLENGE_RUN_COMMAND_TIMEOUT_MS),
    );
  return {
    type: "http-01",
    async present(proof: ChallengeProof) {
      const results = await Promise.all(nodes.map((n) => run(n.name, ["put", proof.token, proof.value])));
      const failed = results.filter((r) => !r.reachable || r.exitCode !== 0);
      if (failed.length > 0) {
        throw new Error(
          `the HTTP-01 token could not be placed on ${failed
            .map((r) => `${r.vmName} (${r.error ?? lastLine(r.stderr) ?? `exit ${r.exitCode}`})`)
            .join(", ")}: the load balancer could route the CA there`,
        );
      }
    },
    async cleanup(proof: ChallengeProof) {
      await Promise.all(nodes.map((n) => run(n.name, ["remove", proof.token]).catch(() => undefined)));
    },
  };
}

/** DNS-01 in the spec's Azure DNS zone: a TXT record set `_acme-challenge.<name>`, removed afterwards. */
export function dnsSolver(factory: AzureClientFactory, spec: StackSpec, dnsWaitSeconds: number): ChallengeSolver {
  const zone = spec.tls.acme.dnsZone;
  if (!zone) throw new Error("dns-01 needs tls.acme.dnsZone");
  const dns = factory.dns(zone.subscriptionId ?? spec.subscriptionId);
  const recordName = (identifier: string) => {
    const host = identifier.toLowerCase().replace(/^\*\./, "");
    const apex = zone.name.toLowerCase();
    if (host !== apex && !host.endsWith(`.${apex}`)) throw new Error(`${host} is not in the DNS zone ${apex}`);
    return host === apex ? "_acme-challenge" : `_acme-challenge.${host.slice(0, -(apex.length + 1))}`;
  };
  return {
    type: "dns-01",
    async present(proof: ChallengeProof) {
      await dns.recordSets.createOrUpdate(
        zone.resourceGroup,
        zone.name,
        recordName(proof.identifier),
        "TXT",
        { ttl: 60, txtRecords: [{ value: [proof.value] }] },
        factory.call(),
      );
      if (dnsWaitSeconds > 0) await new Promise((r) => setTimeout(r, dnsWaitSeconds * 1000));
    },
    async cleanup(proof: ChallengeProof) {
      await dns.recordSets.delete(zone.resourceGroup, zone.name, recordName(proof.identifier), "TXT", factory.call());
    },
  };
}

function lastLine(text?: string): string | undefined {
  const line = text?.trim().split("\n").pop();
  return line ? line.slice(0, 200) : undefined;
}

// Nodes a deploy creates get the stack's current certificate before they can take traffic: PUT
// passes the certificate the ledger knows to deployStack, which installs it (`install-cert --secret
// tls-bundle`, the latest Key Vault version: the contract heal and scale use too) on every node that
// does not serve it, before the node gets database credentials and can be healthy. A stack without a
// certificate deploys exactly as before (the committed deployStack histories still replay).
// Stand-in agents answer Run Command here; the real agent's install-cert runs in the certificate tests.
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HistoryEventType, type InstanceState } from "../../emulator/durable";
import type { DeployInput } from "../../functions/orchestrators/deploy-stack";
import { NODE_AGENT_PATH } from "../../shared/node/constants";
import { SECRET_NAMES } from "../../shared/secret-names";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";

const STACK = "certdep";
const SERIAL = "5A17C3";

/**
 * A booted node's stand-in: healthy; it serves serial 01 (its bootstrap certificate) until
 * install-cert, then SERIAL. Each VM keeps its own state in its Run Command sandbox.
 */
function standInRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-certdep-"));
  const agent = path.join(root, NODE_AGENT_PATH);
  fs.mkdirSync(path.dirname(agent), { recursive: true });
  fs.writeFileSync(
    agent,
    [
      "#!/usr/bin/env bash",
      'state="$RUN_COMMAND_SANDBOX/served-serial"',
      'serial=$(cat "$state" 2>/dev/null || echo 01)',
      'case "$1" in',
      '  health) printf \'{"healthy":true,"draining":false,"liveSessions":0,"certificate":{"serial":"%s","notAfter":"2099-01-01T00:00:00Z"},"checks":[]}\\n\' "$serial" ;;',
      `  install-cert) echo ${SERIAL} >"$state"; echo '{"installed":true}' ;;`,
      "  *) echo '{\"changed\":[]}' ;;",
      "esac",
    ].join("\n"),
    { mode: 0o755 },
  );
  return root;
}

function agentCalls(instance: InstanceState): { vm: string; command: string; args: string[] }[] {
  return instance.history
    .filter((e) => e.EventType === HistoryEventType.TaskScheduled && e.Name === "runNodeAgent")
    .map((e) => {
      const input = JSON.parse(String(e.Input)) as { vmName: string; command: string; args?: string[] };
      return { vm: input.vmName, command: input.command, args: input.args ?? [] };
    });
}

describe("deploy: new nodes get the current certificate before they take traffic", { timeout: 60_000 }, () => {
  let env: JumpgateEnv;
  let root: string;
  const body = {
    subscriptionId: "00000000-0000-0000-0000-0000000cde91",
    resourceGroup: "rg-certdep",
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 2 },
  };

  before(async () => {
    root = standInRoot();
    env = await startJumpgateEnv({ http: true, emulator: { runCommand: { env: { JUMPGATE_NODE_ROOT: root } } } });
  });
  after(async () => {
    await env?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const put = async (spec: object) => {
    const response = await fetch(`${env.api}/stacks/${STACK}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(spec),
    });
    assert.equal(response.status, 202, await response.clone().text());
    const { operation } = (await response.json()) as { operation: { instanceId: string } };
    await env.host.runUntilIdle();
    const instance = env.host.getStatus(operation.instanceId)!;
    assert.equal(instance.runtimeStatus, "Completed", JSON.stringify(instance.output));
    return instance;
  };

  test("a stack without a certificate deploys as before: nothing is installed", async () => {
    const first = await put(body);
    assert.equal((first.input as DeployInput).certificate, undefined);
    assert.deepEqual(
      agentCalls(first).filter((c) => c.command === "install-cert"),
      [],
    );
  });

  test("with a certificate: every node that does not serve it installs the latest version before it is checked healthy", async () => {
    await env.certificates.update(STACK, (s) => ({
      ...s,
      current: {
        version: "v1",
        serial: SERIAL,
        notBefore: "2026-01-01T00:00:00.000Z",
        notAfter: "2099-01-01T00:00:00.000Z",
        dnsNames: [`${STACK}.westeurope.cloudapp.azure.com`],
        issuer: "CN=test",
        storedAt: "2026-01-01T00:00:00.000Z",
      },
    }));
    const grown = await put({ ...body, fleet: { mode: "availabilitySet", size: 3 } });
    assert.deepEqual((grown.input as DeployInput).certificate, { secret: SECRET_NAMES.tlsBundle, serial: SERIAL });
    const calls = agentCalls(grown);
    const installs = calls.filter((c) => c.command === "install-cert");
    assert.deepEqual(
      installs.map((c) => [c.vm, c.args]),
      [1, 2, 3].map((n) => [`${STACK}-web-${n}`, ["--secret", SECRET_NAMES.tlsBundle]]),
      "the nodes serving their bootstrap certificate (the new web-3 among them) install the current one",
    );
    // after the first look at every node, before the final health wait
    const firstInstall = calls.findIndex((c) => c.command === "install-cert");
    assert.ok(calls.slice(0, firstInstall).filter((c) => c.command === "health").length >= 3);
    assert.ok(calls.slice(firstInstall).some((c) => c.command === "health"));

    // again: every node serves it, nothing is installed
    const again = await put({ ...body, fleet: { mode: "availabilitySet", size: 3 } });
    assert.deepEqual(
      agentCalls(again).filter((c) => c.command === "install-cert"),
      [],
    );
  });
});

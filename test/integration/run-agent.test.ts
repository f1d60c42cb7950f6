// runAgentCommand (shared/node/run-agent.ts) through the app's compute client and the emulator's VM
// Run Command, in both LRO modes: an answering agent, a VM whose agent does not report (Azure fails
// the long-running operation with VMAgentStatusCommunicationError), and a stopped VM (409
// OperationNotAllowed). The last two are "unreachable", which a deploy waits out; anything else fails.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { runAgentCommand } from "../../shared/node/run-agent";
import { createTestVms, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";
import { standInAgentRoot } from "../../dev/stand-in-agent";

for (const mode of ["instant", "async"] as const) {
  describe(`runAgentCommand through VM Run Command (${mode} LRO mode)`, () => {
    let az: AzureFixture;
    let root: string;
    const run = (vmName: string) =>
      runAgentCommand(az.factory, { subscriptionId: SUB, resourceGroup: RG, vmName, command: "health" });

    before(async () => {
      root = standInAgentRoot("jumpgate-run-agent-");
      az = await startAzure({ lro: { mode, pollsBeforeDone: 1 }, runCommand: { env: { JUMPGATE_NODE_ROOT: root } } });
      await createTestVms(az, ["web-1", "web-2", "web-3"]);
      az.emulator.runCommand.setVm("web-2", "unreachable");
      await az.factory.compute(SUB).virtualMachines.beginPowerOffAndWait(RG, "web-3", az.factory.lro());
    });

    after(async () => {
      await az?.stop();
      if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    test("an answering agent: reachable, exit code and its JSON", async () => {
      const r = await run("web-1");
      assert.deepEqual([r.reachable, r.exitCode, (r.json as { healthy: boolean }).healthy], [true, 0, true]);
    });

    test("a VM agent that does not report is unreachable, not an error", async () => {
      const r = await run("web-2");
      assert.equal(r.reachable, false, JSON.stringify(r));
      assert.match(r.error ?? "", /^VMAgentStatusCommunicationError: VM 'web-2' has not reported status/);
    });

    test("a stopped VM is unreachable, not an error", async () => {
      const r = await run("web-3");
      assert.equal(r.reachable, false, JSON.stringify(r));
      assert.match(r.error ?? "", /^OperationNotAllowed: /);
    });

    test("any other failure is an error", async () => {
      await assert.rejects(run("no-such-vm"), /not found|ResourceNotFound/i);
    });
  });
}

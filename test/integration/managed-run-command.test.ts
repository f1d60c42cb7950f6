// Managed Run Command in the emulator, through the pinned @azure/arm-compute client the app uses:
// `virtualMachines/runCommands` as the REST reference and Azure's Linux handler define it. The PUT
// is a compute long-running operation that ends when the script has; named parameters, protected or
// not, reach the script as environment variables; the instance view (on $expand=instanceView) has
// the exit code and both streams; protectedParameters never come back on a GET or a list and never
// enter the journal; a VM agent that does not answer fails the operation with its code. And the
// app's own runner (runAgentCommand with protected parameters) on top of it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { armFailure } from "../../shared/arm/errors";
import { runAgentCommand } from "../../shared/node/run-agent";
import { createTestVms, LOCATION, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";

const SECRET = `s3cr3t-${process.pid}-value`;
const VM = "rc-web-1";

for (const mode of ["async", "instant"] as const) {
  describe(`managed Run Command (${mode} LROs)`, () => {
    let az: AzureFixture;
    const rcId = (name: string) =>
      `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${VM}/runCommands/${name}`;

    before(async () => {
      az = await startAzure({ lro: { mode, pollsBeforeDone: 1 } });
      await createTestVms(az, [VM]);
    });
    after(() => az?.stop());

    test("PUT runs the script once it is created; parameters are its environment; the instance view has the answer", async () => {
      const runCommands = az.factory.compute(SUB).virtualMachineRunCommands;
      az.emulator.journal.clear();
      const created = await runCommands.createOrUpdate(
        RG,
        VM,
        "check-env",
        {
          location: LOCATION,
          source: {
            // proves the values arrived without printing the protected one
            script: [
              'if [[ $(printf %s "${SECRET:-}" | sha256sum) == "$EXPECTED_SHA256 "* ]]; then echo \'{"secret":"arrived"}\'; fi',
              'echo "plain=$PLAIN"',
              "echo to-stderr >&2",
              "exit 3",
            ].join("\n"),
          },
          parameters: [
            { name: "PLAIN", value: "visible" },
            { name: "EXPECTED_SHA256", value: createHash("sha256").update(SECRET).digest("hex") },
          ],
          protectedParameters: [{ name: "SECRET", value: SECRET }],
          asyncExecution: false,
          treatFailureAsDeploymentFailure: false,
        },
        az.factory.lro(),
      );
      assert.equal(created.provisioningState, "Succeeded");
      assert.equal(created.protectedParameters, undefined, "the PUT's answer does not echo them");
      const plain = await runCommands.getByVirtualMachine(RG, VM, "check-env", az.factory.call());
      assert.equal(plain.instanceView, undefined, "the instance view only on $expand");
      assert.equal(plain.protectedParameters, undefined, "never returned by a GET");
      assert.equal(plain.parameters?.find((p) => p.name === "PLAIN")?.value, "visible");
      const done = await runCommands.getByVirtualMachine(RG, VM, "check-env", {
        expand: "instanceView",
        ...az.factory.call(),
      });
      assert.equal(done.protectedParameters, undefined);
      const view = done.instanceView!;
      assert.deepEqual(
        [view.executionState, view.exitCode, view.output, view.error?.trim()],
        ["Failed", 3, '{"secret":"arrived"}\nplain=visible\n', "to-stderr"],
      );
      assert.ok(view.startTime instanceof Date && view.endTime instanceof Date);
      const listed = [];
      for await (const r of runCommands.listByVirtualMachine(RG, VM, az.factory.call())) listed.push(r);
      assert.deepEqual(
        listed.map((r) => [r.name, r.protectedParameters]),
        [["check-env", undefined]],
      );

      await runCommands.delete(RG, VM, "check-env", az.factory.lro());
      await assert.rejects(
        runCommands.getByVirtualMachine(RG, VM, "check-env", az.factory.call()),
        (e: unknown) => armFailure(e).status === 404,
      );
      // the journal keeps the request, never the value
      const put = az.emulator.journal.list({ method: "PUT" }).find((e) => e.path === rcId("check-env"))!;
      assert.equal(
        (put.body as { properties: { protectedParameters: unknown } }).properties.protectedParameters,
        "<redacted>",
      );
      assert.ok(!JSON.stringify(az.emulator.journal.list()).includes(SECRET));
    });

    test("a VM agent that does not answer fails the operation with its code; a stopped VM is refused", async () => {
      const runCommands = az.factory.compute(SUB).virtualMachineRunCommands;
      az.emulator.runCommand.setVm(VM, "unreachable");
      try {
        await assert.rejects(
          runCommands.createOrUpdate(
            RG,
            VM,
            "no-agent",
            { location: LOCATION, source: { script: "true" } },
            az.factory.lro(),
          ),
          (e: unknown) => armFailure(e).code === "VMAgentStatusCommunicationError",
        );
        // the app's runner reports it as an unreachable node, like the action Run Command
        const result = await runAgentCommand(
          az.factory,
          { subscriptionId: SUB, resourceGroup: RG, vmName: VM, command: "bootstrap-db" },
          undefined,
          { protectedParameters: [{ name: "JUMPGATE_DB_ADMIN_PASSWORD", value: SECRET }], location: LOCATION },
        );
        assert.equal(result.reachable, false);
        assert.match(result.error ?? "", /^VMAgentStatusCommunicationError/);
      } finally {
        az.emulator.runCommand.setVm(VM, undefined);
      }
      await az.factory.compute(SUB).virtualMachines.beginPowerOffAndWait(RG, VM, az.factory.lro());
      try {
        await assert.rejects(
          runCommands.createOrUpdate(
            RG,
            VM,
            "stopped",
            { location: LOCATION, source: { script: "true" } },
            az.factory.lro(),
          ),
          (e: unknown) => armFailure(e).code === "OperationNotAllowed",
        );
      } finally {
        await az.factory.compute(SUB).virtualMachines.beginStartAndWait(RG, VM, az.factory.lro());
      }
    });

    test("the app's runner: the agent's answer from the instance view, and the run command deleted at once", async () => {
      // a stand-in agent that answers like the real one and says whether the password arrived
      az.emulator.runCommand.setVm(VM, (_vm, input) =>
        Promise.resolve({
          exitCode: 0,
          stdout: `${JSON.stringify({ handed: input.parameters.some((p) => p.name === "JUMPGATE_DB_ADMIN_PASSWORD" && p.value === SECRET), changed: [] })}\n`,
          stderr: "jumpgate-node: nothing to change\n",
        }),
      );
      try {
        az.emulator.journal.clear();
        const result = await runAgentCommand(
          az.factory,
          { subscriptionId: SUB, resourceGroup: RG, vmName: VM, command: "bootstrap-db" },
          undefined,
          { protectedParameters: [{ name: "JUMPGATE_DB_ADMIN_PASSWORD", value: SECRET }], location: LOCATION },
        );
        assert.deepEqual(
          [result.reachable, result.exitCode, result.json, result.stderr],
          [true, 0, { handed: true, changed: [] }, "jumpgate-node: nothing to change"],
        );
        const writes = az.emulator.journal
          .writes()
          .map((w) => `${w.method} ${w.path.replace(/[0-9a-f]{12}$/, "<id>")}`);
        assert.deepEqual(writes, [
          `PUT ${rcId("jumpgate-bootstrap-db-<id>")}`,
          `DELETE ${rcId("jumpgate-bootstrap-db-<id>")}`,
        ]);
        assert.deepEqual(
          az.emulator.store
            .all()
            .filter(
              (d) => d.type === "Microsoft.Compute/virtualMachines/runCommands" && d.name.startsWith("jumpgate-"),
            ),
          [],
          "nothing left on the VM",
        );
        assert.ok(!JSON.stringify(az.emulator.journal.list()).includes(SECRET));
      } finally {
        az.emulator.runCommand.setVm(VM, undefined);
      }
    });
  });
}

// (Re)records the committed history fixtures of rotateDatabaseCredentials, from runs of the app as it
// is now on the real agent and MariaDB (test/support/rotation-harness.ts), so the replay gate
// (test/orchestration/history-replay.test.ts) fails when a later change would break rotations in
// flight. A fixture that holds any Key Vault value is refused. Commit them with the code they were
// recorded from.
//
//   npm run build && node dist/test/support/record-rotation-fixtures.js [fixturesDir]
import * as fs from "node:fs";
import { defaultHistoryFixturesDir, recordHistoryFixture } from "../../emulator/durable";
import type { RotateDatabaseStatus } from "../../functions/orchestrators/rotate-database";
import { RotationHarness } from "./rotation-harness";

export async function recordRotationFixtures(dir: string = defaultHistoryFixturesDir()): Promise<string[]> {
  const h = await RotationHarness.start("jgrotfx", "00000000-0000-0000-0000-0000000070fe");
  const written: string[] = [];
  try {
    const status = () => h.env.host.getStatus(h.instanceId)?.customStatus as RotateDatabaseStatus | undefined;

    // the first node is on the new user; the second one is being drained
    h.start({ rotationId: "fixture-rolling" });
    await h.env.host.runUntilIdle({ until: () => status()?.nodes[1]?.state === "draining" });
    written.push(recordHistoryFixture(h.env.host, h.instanceId, { scenario: "rolling-second-node", dir }));
    await h.env.host.runUntilIdle();
    await h.tap.settle();

    // a deploy (gone, but its claim stays) holds the stack: the rotation waits on a durable timer
    await h.env.registry.setOperation(h.spec.name, {
      kind: "deploy",
      instanceId: "deploy-jgrotfx-g1-fixture",
      startedAt: h.env.host.now.toISOString(),
    });
    h.start({ rotationId: "fixture-waiting" });
    await h.env.host.runUntilIdle({ until: () => status()?.phase === "waiting-for-stack" });
    written.push(recordHistoryFixture(h.env.host, h.instanceId, { scenario: "waiting-for-stack", dir }));
    h.env.host.terminate(h.instanceId, "fixture recorded");
    await h.env.host.runUntilIdle();

    const values = h.env.emulator.keyVault.secretValues(h.names.keyVault);
    for (const file of written) {
      const text = fs.readFileSync(file, "utf8");
      if (values.some((v) => text.includes(v))) {
        fs.rmSync(file);
        throw new Error(`${file} held a Key Vault value; removed`);
      }
    }
  } finally {
    await h.stop();
  }
  return written;
}

if (require.main === module) {
  recordRotationFixtures(process.argv[2]).then(
    (files) => console.log(files.join("\n")),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}

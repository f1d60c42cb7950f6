// (Re)records the committed history fixtures of heal (the version new instances run: healStackV6;
// those of healStackV5, healStackV4, healStackV3, healStackV2 and healStack, recorded before them, stay as they are), from runs of the app as it is now on the
// emulator, so the replay gate (test/orchestration/history-replay.test.ts) fails when a later change
// would break heal instances in flight. Commit the fixtures with the code they were recorded from.
//
//   npm run build && node dist/test/support/record-heal-fixtures.js [fixturesDir]
import { defaultHistoryFixturesDir, recordHistoryFixture } from "../../emulator/durable";
import { InstanceIds } from "../../functions/names";
import type { HealStatus } from "../../functions/orchestrators/heal-stack";
import { HealHarness } from "./heal-harness";

export async function recordHealFixtures(dir: string = defaultHistoryFixturesDir()): Promise<string[]> {
  const h = await HealHarness.start("00000000-0000-0000-0000-0000000000f1");
  const written: string[] = [];
  try {
    const phase = (name: string) => (h.healStatus(h.spec(name))?.customStatus as HealStatus | undefined)?.phase;

    // a Tomcat that died: its unit is restarted (restart-services), heal verifies the node
    const tomcat = h.spec("fxtomcat");
    await h.deploy(tomcat);
    h.fleet.adopt(h.vmNames(tomcat));
    h.fleet.break(h.vmNames(tomcat)[0], "tomcat-down");
    await h.deliver(tomcat, h.signal(tomcat, { node: h.vmNames(tomcat)[0] }));
    await h.env.host.runUntilIdle({ until: () => phase("fxtomcat") === "verifying" });
    written.push(
      recordHistoryFixture(h.env.host, InstanceIds.heal(tomcat.name), { scenario: "verifying-restart-services", dir }),
    );

    // a Tomcat that crashes again after its unit's restart: that step failed, heal backs off before the VM restart
    const crash = h.spec("fxcrash");
    await h.deploy(crash);
    h.fleet.adopt(h.vmNames(crash));
    h.fleet.break(h.vmNames(crash)[0], "tomcat-crash-loop");
    await h.deliver(crash, h.signal(crash, { node: h.vmNames(crash)[0] }));
    await h.env.host.runUntilIdle({ until: () => phase("fxcrash") === "waiting" });
    written.push(
      recordHistoryFixture(h.env.host, InstanceIds.heal(crash.name), {
        scenario: "backoff-after-failed-restart-services",
        dir,
      }),
    );

    // a hung node: the restart did not help, heal backs off before the redeploy
    const hung = h.spec("fxhung");
    await h.deploy(hung);
    h.fleet.adopt(h.vmNames(hung));
    h.fleet.break(h.vmNames(hung)[0], "hung");
    await h.deliver(hung, h.signal(hung, { node: h.vmNames(hung)[0] }));
    await h.env.host.runUntilIdle({ until: () => phase("fxhung") === "waiting" });
    written.push(
      recordHistoryFixture(h.env.host, InstanceIds.heal(hung.name), { scenario: "backoff-after-failed-restart", dir }),
    );

    // room below fleet.max: the restart did not help at its first look, a surge node comes up
    const surge = h.spec("fxsurge", { fleet: { mode: "availabilitySet", size: 2, max: 3 } });
    await h.deploy(surge);
    h.fleet.adopt(h.vmNames(surge));
    h.fleet.break(h.vmNames(surge)[0], "hung");
    await h.deliver(surge, h.signal(surge, { node: h.vmNames(surge)[0] }));
    await h.env.host.runUntilIdle({ until: () => phase("fxsurge") === "surging" });
    written.push(recordHistoryFixture(h.env.host, InstanceIds.heal(surge.name), { scenario: "surging", dir }));
  } finally {
    await h.stop();
  }
  return written;
}

if (require.main === module) {
  recordHealFixtures(process.argv[2]).then(
    (files) => console.log(files.join("\n")),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}

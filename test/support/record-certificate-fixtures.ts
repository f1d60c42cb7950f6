// (Re)records the committed history fixtures of renewCertificate (the certificate worker), from runs
// of the app as it is now against a real Pebble and the real node agent, so the replay gate
// (test/orchestration/history-replay.test.ts) fails when a later change would break workers in
// flight. Commit the fixtures with the code they were recorded from.
//
//   npm run build && node dist/test/support/record-certificate-fixtures.js [fixturesDir]
import "../../emulator/durable/install";
import { defaultHistoryFixturesDir, recordHistoryFixture } from "../../emulator/durable";
import { CertificateE2e } from "./certificate-e2e";

export async function recordCertificateFixtures(dir: string = defaultHistoryFixturesDir()): Promise<string[]> {
  const written: string[] = [];

  // a forced rotation: issued over HTTP-01, installed on both nodes, reading back what they serve
  const rolling = new CertificateE2e("fxcertroll");
  await rolling.start();
  try {
    await rolling.rotate();
    await rolling.host.runUntilIdle({ until: () => rolling.workerStatus()?.phase === "verifying" });
    written.push(recordHistoryFixture(rolling.host, rolling.workerId, { scenario: "rolling-out", dir }));
  } finally {
    await rolling.stop();
  }

  // the CA is down: the attempt failed, the next round sleeps out the backoff
  const down = new CertificateE2e("fxcertdown");
  await down.start();
  try {
    await down.h.pebble.stopCa();
    await down.rotate();
    await down.host.runUntilIdle({
      until: () => down.workerStatus()?.phase === "sleeping" && !!down.workerStatus()?.lastFailure,
    });
    written.push(recordHistoryFixture(down.host, down.workerId, { scenario: "backing-off", dir }));
  } finally {
    await down.stop();
  }
  return written;
}

if (require.main === module) {
  recordCertificateFixtures(process.argv[2]).then(
    (files) => console.log(files.join("\n")),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}

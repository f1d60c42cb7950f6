// (Re)records the committed history fixtures: the sample app's, and the app's own orchestrators'
// (app-record-fixtures.ts, on the emulator and Azurite). Fixtures are recorded from a run of the code
// as it is now; commit them together with the release they belong to, so the replay gate
// (test/orchestration/history-replay.test.ts) can tell when later code would break in-flight instances.
//
//   npm run build && node dist/test/support/durable-record-fixtures.js [fixturesDir] [--only sample|app]
//
// The virtual clock and the host's deterministic ids make re-recording unchanged sample code
// byte-identical; the app's fixtures also carry ids and versions the emulator makes up.
import "../../emulator/durable/install";
import { recordAppFixtures } from "./app-record-fixtures";
import { SampleNames, type RetryInput } from "./durable-sample-app";
import {
  defaultHistoryFixturesDir,
  DurableTestHost,
  fromRegistry,
  recordHistoryFixture,
  HistoryEventType,
  type DurableTestHostOptions,
  type InstanceState,
} from "../../emulator/durable";

export interface FixtureScenario {
  orchestrator: string;
  scenario: string;
  input: unknown;
  /** record when this first holds (checked before every episode); default: when the run is idle */
  until?: (status: InstanceState) => boolean;
  hostOptions?: Partial<DurableTestHostOptions>;
}

const has = (status: InstanceState, eventType: number): boolean =>
  status.history.some((e) => e.EventType === eventType);

export const sampleFixtureScenarios: FixtureScenario[] = [
  {
    orchestrator: SampleNames.FanOut,
    scenario: "partial-fan-in",
    input: { count: 3 },
    hostOptions: { maxEventsPerEpisode: 1 },
    until: (s) => s.episodes === 3,
  },
  { orchestrator: SampleNames.FanOut, scenario: "completed", input: { count: 2 } },
  {
    orchestrator: SampleNames.Approval,
    scenario: "awaiting-approval",
    input: { timeoutMs: 24 * 60 * 60 * 1000 },
    until: (s) => s.customStatus === "awaiting-approval",
  },
  {
    orchestrator: SampleNames.Retry,
    scenario: "second-attempt-scheduled",
    input: { key: "fixture-retry", failTimes: 5, maxAttempts: 3, firstRetryMs: 1000, backoff: 2 } satisfies RetryInput,
    until: (s) => s.episodes === 3,
  },
  {
    orchestrator: SampleNames.Timer,
    scenario: "long-timer-second-chunk",
    input: { delayMs: 10 * 24 * 60 * 60 * 1000 },
    until: (s) => s.episodes === 2,
  },
  {
    orchestrator: SampleNames.Parent,
    scenario: "waiting-for-first-child",
    input: { items: ["a", "b"] },
    until: (s) => has(s, HistoryEventType.SubOrchestrationInstanceCreated),
  },
  {
    orchestrator: SampleNames.Versioned,
    scenario: "second-notify-scheduled",
    input: null,
    hostOptions: { maxEventsPerEpisode: 1 },
    until: (s) => s.episodes === 2,
  },
];

/** Runs every scenario on a fresh host and writes its fixture; returns the files written. */
export async function recordSampleFixtures(
  dir: string = defaultHistoryFixturesDir(),
  scenarios: readonly FixtureScenario[] = sampleFixtureScenarios,
): Promise<string[]> {
  const written: string[] = [];
  for (const scenario of scenarios) {
    const host = new DurableTestHost({ ...fromRegistry(), ...scenario.hostOptions });
    const id = host.startNew(scenario.orchestrator, {
      input: scenario.input,
      instanceId: `fixture-${scenario.scenario}`,
    });
    const until = scenario.until;
    await host.runUntilIdle(until ? { until: () => until(host.getStatus(id) as InstanceState) } : {});
    written.push(recordHistoryFixture(host, id, { scenario: scenario.scenario, dir }));
  }
  return written;
}

async function main(args: string[]): Promise<string[]> {
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
  if (only !== undefined && only !== "sample" && only !== "app") throw new Error("--only takes sample or app");
  const dir = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--only") ?? defaultHistoryFixturesDir();
  const files: string[] = [];
  if (only !== "app") files.push(...(await recordSampleFixtures(dir)));
  if (only !== "sample") files.push(...(await recordAppFixtures(dir)));
  return files;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (files) => console.log(`recorded ${files.length} fixture(s):\n${files.join("\n")}`),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}

// Recorded histories as committed JSON fixtures, and the replay gate built on them. A fixture is the
// history of an instance at some point of its life, recorded with the code that was released; the
// gate replays each one against the current code. A failure is exactly what Azure would do to an
// in-flight instance after deploying that code: "Non-Deterministic workflow detected: ...".
//
// Layout: test/fixtures/histories/<orchestratorName>/<scenario>.json = { orchestrator, input, history }
import * as fs from "node:fs";
import * as path from "node:path";
import type { DurableTestHost, ReplayResult } from "./durable-test-host";
import { HarnessError } from "./errors";
import type { InstanceState } from "./instance-state";
import type { HistoryEventJson } from "./wire";

export interface HistoryFixture {
  orchestrator: string;
  input: unknown;
  history: HistoryEventJson[];
}

export interface HistoryFixtureFile {
  orchestrator: string;
  scenario: string;
  path: string;
}

const SCENARIO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The source root (package.json next to tsconfig.json), walking up from `start`: works from src and dist. */
export function findRepoRoot(start: string = __dirname): string {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "tsconfig.json"))) return dir;
    if (path.dirname(dir) === dir) throw new HarnessError(`No package.json above ${start}.`);
  }
}

export function defaultHistoryFixturesDir(): string {
  return path.join(findRepoRoot(), "test", "fixtures", "histories");
}

/** A fixture of the instance's current execution, as it is right now. */
export function fixtureFromInstance(instance: InstanceState): HistoryFixture {
  return {
    orchestrator: instance.name,
    input: structuredClone(instance.input),
    history: structuredClone(instance.history),
  };
}

/** Writes `<dir>/<orchestrator>/<scenario>.json` and returns its path. */
export function writeHistoryFixture(fixture: HistoryFixture, options: { scenario: string; dir?: string }): string {
  if (!SCENARIO_NAME.test(options.scenario) || !SCENARIO_NAME.test(fixture.orchestrator)) {
    throw new HarnessError(`Unusable fixture name '${fixture.orchestrator}/${options.scenario}'.`);
  }
  const file = path.join(options.dir ?? defaultHistoryFixturesDir(), fixture.orchestrator, `${options.scenario}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const ordered: HistoryFixture = {
    orchestrator: fixture.orchestrator,
    input: fixture.input,
    history: fixture.history,
  };
  fs.writeFileSync(file, `${JSON.stringify(ordered, null, 2)}\n`);
  return file;
}

/** What a recorded VM's or scale set's `customData` becomes with `stubCustomData` ("#cloud-config\n"). */
const CUSTOM_DATA_STUB = "I2Nsb3VkLWNvbmZpZwo=";

/**
 * Records an instance of `host` as a fixture file (see writeHistoryFixture). `stubCustomData` cuts
 * every `customData` string in the events' Input and Result to a stub: a web node's is tens of KB of
 * cloud-init, and replay never compares activity inputs or results by content.
 */
export function recordHistoryFixture(
  host: DurableTestHost,
  instanceId: string,
  options: { scenario: string; dir?: string; stubCustomData?: boolean },
): string {
  const instance = host.getStatus(instanceId);
  if (!instance) throw new HarnessError(`No instance '${instanceId}' to record.`);
  if (instance.history.length === 0) throw new HarnessError(`Instance '${instanceId}' has no history yet.`);
  const fixture = fixtureFromInstance(instance);
  if (options.stubCustomData) fixture.history = fixture.history.map(withoutCustomData);
  return writeHistoryFixture(fixture, options);
}

function withoutCustomData(event: HistoryEventJson): HistoryEventJson {
  const stub = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(stub)
      : value && typeof value === "object"
        ? Object.fromEntries(
            Object.entries(value).map(([k, v]) => [
              k,
              k === "customData" && typeof v === "string" ? CUSTOM_DATA_STUB : stub(v),
            ]),
          )
        : value;
  const out = { ...event };
  for (const field of ["Input", "Result"]) {
    if (typeof out[field] !== "string") continue;
    try {
      out[field] = JSON.stringify(stub(JSON.parse(out[field])));
    } catch {
      // not JSON: left as it is
    }
  }
  return out;
}

/** Every `<orchestrator>/<scenario>.json` under `dir`, sorted; none if the directory does not exist. */
export function discoverHistoryFixtures(dir: string = defaultHistoryFixturesDir()): HistoryFixtureFile[] {
  if (!fs.existsSync(dir)) return [];
  const files: HistoryFixtureFile[] = [];
  for (const orchestrator of fs.readdirSync(dir).sort()) {
    const folder = path.join(dir, orchestrator);
    if (!fs.statSync(folder).isDirectory()) continue;
    for (const name of fs.readdirSync(folder).sort()) {
      if (!name.endsWith(".json")) continue;
      files.push({ orchestrator, scenario: name.slice(0, -".json".length), path: path.join(folder, name) });
    }
  }
  return files;
}

export function loadHistoryFixture(file: string): HistoryFixture {
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
  if (typeof parsed !== "object" || parsed === null) throw new HarnessError(`${file}: not a JSON object.`);
  const { orchestrator, input, history } = parsed as Record<string, unknown>;
  if (typeof orchestrator !== "string" || !Array.isArray(history) || history.length === 0) {
    throw new HarnessError(`${file}: expected { orchestrator: string, input, history: [non-empty] }.`);
  }
  const folder = path.basename(path.dirname(file));
  if (folder !== orchestrator) {
    throw new HarnessError(`${file}: lives under '${folder}/' but records orchestrator '${orchestrator}'.`);
  }
  return { orchestrator, input, history: history as HistoryEventJson[] };
}

/** One episode of replay with the host's checks; nothing is committed to the host. */
export function replayHistoryFixture(host: DurableTestHost, fixture: HistoryFixture): Promise<ReplayResult> {
  return host.replayHistory(fixture.orchestrator, fixture.history, { input: fixture.input });
}

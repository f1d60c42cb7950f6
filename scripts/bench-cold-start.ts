// Cold start: how long a fresh Node process takes to load the Function App's entry module (which
// registers every function), against the bare functions framework it builds on (@azure/functions
// + durable-functions) in the same run. Samples alternate between the two, each in a new process,
// and the medians are compared: the machine's load changes both alike. Bar: entry <= 3 x bare.
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const ENTRY = path.join(__dirname, "..", "functions", "index.js");
const SAMPLES = Number(process.env.BENCH_COLD_START_SAMPLES ?? "7");

/** Milliseconds a fresh process spends in `require` of the given modules. */
function loadMs(modules: string[]): number {
  const script =
    `const t = process.hrtime.bigint();` +
    modules.map((m) => `require(${JSON.stringify(m)});`).join("") +
    `process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e6));`;
  const out = execFileSync(process.execPath, ["-e", script], { encoding: "utf8", stdio: "pipe", timeout: 60_000 });
  return Number(out);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function benchColdStart(): void {
  const bare: number[] = [];
  const entry: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    bare.push(loadMs(["@azure/functions", "durable-functions"]));
    entry.push(loadMs([ENTRY]));
  }
  const print = (label: string, value: string) => console.log(`  ${label.padEnd(52)} ${value}`);
  const list = (values: number[]) => values.map((v) => v.toFixed(0)).join(", ");
  console.log(`\ncold start (${SAMPLES} fresh processes each, alternating; medians)`);
  print("bare framework load: functions + durable (ms)", `${median(bare).toFixed(0)} (${list(bare)})`);
  print("entry module load, all functions registered (ms)", `${median(entry).toFixed(0)} (${list(entry)})`);
  print("entry / bare (bar <= 3)", (median(entry) / median(bare)).toFixed(2));
}

// `npm run demo`: the whole life of a stack on the sandbox with real nodes (scripts/sandbox-env.ts),
// through the app's HTTP API only: deploy (following the operation's progress), look at the stack,
// break a node and deliver the alert Azure Monitor would send, follow the heal, rotate the TLS
// certificate and the database credentials, tear down, and print the audit trail. Each step says in
// one line what it does as it starts, then short result lines. Exit code 0 only when every step
// succeeded; every server is stopped (by PID) at the end, on failure and on Ctrl-C.
//
// What the demo does outside the API is what Azure itself would do: the fault inside a VM (its
// Guacamole stops answering), and Azure Monitor's part (the load balancer probe alert for that
// node's backend address, common alert schema). No secret value is ever printed: the API returns
// none, and the demo reads no Key Vault value.
import { performance } from "node:perf_hooks";
import { probeAlert } from "../dev/alert-payloads";
import type { StackSpec } from "../shared/spec/types";
import { startSandbox, type Sandbox } from "./sandbox-env";

type Json = Record<string, unknown>;

export interface DemoOptions {
  /** where the demo's lines go (default: stdout) */
  out?: (line: string) => void;
  stack?: string;
  /** durable timers run this many times faster than the wall clock (default 30) */
  timeScale?: number;
  /** realistic ARM latencies times this (default 0.005: a VM in 0.3 s, MySQL in 2 s) */
  latencyScale?: number;
  /** port of the API (default: any free port) */
  port?: number;
  /** aborts the demo (Ctrl-C); the servers are stopped all the same */
  signal?: AbortSignal;
  /** called with the sandbox before it stops, whatever happened (a test reads the emulator there) */
  beforeStop?: (sandbox: Sandbox) => Promise<void> | void;
}

export interface DemoStep {
  title: string;
  ok: boolean;
  seconds: number;
  /** the result lines, or why it failed */
  detail: string[];
}

export interface AuditLine {
  time: string;
  what: string;
  why: string;
  actor: string;
}

export interface DemoResult {
  ok: boolean;
  steps: DemoStep[];
  /** the audit trail, oldest first */
  audit: AuditLine[];
  seconds: number;
}

class StepFailure extends Error {}

const SUBSCRIPTION = "00000000-0000-0000-0000-00000000de30";

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const stack = options.stack ?? "demo";
  const timeScale = options.timeScale ?? 30;
  const started = performance.now();
  const steps: DemoStep[] = [];
  let audit: AuditLine[] = [];
  const hostLog: string[] = [];
  let sandbox: Sandbox | undefined;
  let api = "";
  let current: DemoStep | undefined;

  const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;
  const note = (line: string) => {
    current?.detail.push(line);
    out(`    ${line}`);
  };
  const aborted = () => {
    if (options.signal?.aborted) throw new StepFailure("interrupted");
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      options.signal?.addEventListener("abort", wake, { once: true });
    });

  async function step(title: string, explain: string, run: () => Promise<string>): Promise<void> {
    aborted();
    const t0 = performance.now();
    current = { title, ok: false, seconds: 0, detail: [] };
    steps.push(current);
    out(`→ ${explain}`);
    try {
      const result = await run();
      current.ok = true;
      current.seconds = seconds(t0);
      out(`  ✓ ${result} (${current.seconds} s)`);
    } catch (e) {
      current.seconds = seconds(t0);
      const why = e instanceof Error ? e.message : String(e);
      current.detail.push(why);
      out(`  ✗ ${title} failed: ${why}`);
      throw e;
    } finally {
      current = undefined;
    }
  }

  async function call(
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; json: Json; location?: string }> {
    aborted();
    const url = route.startsWith("http") ? route : `${api}${route}`;
    const res = await fetch(url, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as Json) : {};
    return { status: res.status, json, location: res.headers.get("location") ?? undefined };
  }

  /** The call must answer `status`; else the step fails with what the API said. */
  async function expect(status: number, method: string, route: string, body?: unknown) {
    const r = await call(method, route, body);
    if (r.status !== status) {
      const said = typeof r.json.detail === "string" ? r.json.detail : JSON.stringify(r.json).slice(0, 300);
      throw new StepFailure(`${method} ${route.replace(api, "")} answered ${r.status}: ${said}`);
    }
    return r;
  }

  /**
   * Polls `route` until `done` says so, printing `describe`'s line whenever it changes. Fails after
   * `timeoutMs`, naming the last line.
   */
  async function follow(
    route: string,
    describe: (body: Json) => string | undefined,
    done: (body: Json) => boolean,
    timeoutMs = 120_000,
  ): Promise<Json> {
    const deadline = performance.now() + timeoutMs;
    let last: string | undefined;
    for (;;) {
      const { json } = await expect(200, "GET", route);
      const line = describe(json);
      if (line && line !== last) note(`· ${line}`);
      last = line ?? last;
      if (done(json)) return json;
      if (performance.now() > deadline) {
        throw new StepFailure(`not done within ${timeoutMs / 1000} s (last: ${last ?? "no progress reported"})`);
      }
      await sleep(200);
      aborted();
    }
  }

  const finished = (op: Json) => op.runtimeStatus === "Completed" || op.runtimeStatus === "Failed";
  const mustComplete = (op: Json, what: string) => {
    if (op.runtimeStatus !== "Completed") {
      const failure = typeof op.failure === "string" ? op.failure : JSON.stringify(op.progress ?? {});
      throw new StepFailure(`${what} ended ${String(op.runtimeStatus)}: ${failure}`);
    }
  };
  const getStack = async () => (await expect(200, "GET", `/stacks/${stack}`)).json as unknown as StackBody;

  try {
    out(`Jumpgate demo: one stack's whole life through the app's HTTP API (durable timers ${timeScale}x)`);
    await step(
      "sandbox",
      "Starting the sandbox: the app's HTTP API and durable engine, the Azure emulator, Azurite, a real MariaDB as the MySQL server and a local Pebble as the ACME CA …",
      async () => {
        sandbox = await startSandbox({
          nodes: "real",
          port: options.port ?? 0,
          timeScale,
          latencyScale: options.latencyScale ?? 0.005,
          log: (line) => hostLog.push(line),
        });
        api = sandbox.api;
        return `API at ${api}; ACME directory ${sandbox.real!.acmeDirectoryUrl}`;
      },
    );
    const acmeDirectoryUrl = sandbox!.real!.acmeDirectoryUrl;
    // the default ACME directory is Let's Encrypt: the demo's certificates come from the local CA only
    const acmeHost = new URL(acmeDirectoryUrl).hostname;
    if (acmeHost !== "127.0.0.1" && acmeHost !== "localhost")
      throw new Error(`refusing a non-local ACME CA: ${acmeDirectoryUrl}`);
    const body = {
      subscriptionId: SUBSCRIPTION,
      resourceGroup: `rg-${stack}`,
      location: "westeurope",
      fleet: { mode: "availabilitySet", size: 2 },
      tls: { acme: { directoryUrl: acmeDirectoryUrl, contact: "ops@example.com" } },
    };

    await step(
      "deploy",
      `Deploying stack '${stack}' (PUT /api/stacks/${stack}): 2 web nodes in an availability set behind a load balancer, a MySQL flexible server, a Key Vault for every secret; each node runs the real node agent with NGINX …`,
      async () => {
        const put = await expect(202, "PUT", `/stacks/${stack}`, body);
        note(
          `· 202 Accepted, generation ${String(put.json.generation)}; following ${put.location!.replace(api, "/api")}`,
        );
        const resources = quarterly();
        const op = await follow(
          put.location!,
          (o) => {
            const p = (o.progress ?? {}) as DeployProgress;
            if (p.phase === "resources" && p.resources) return resources(p.resources);
            if (p.nodes?.length && p.phase !== "succeeded") return nodeLine(p.phase ?? "nodes", p.nodes);
            return p.phase ? (PHASES[p.phase] ?? p.phase) : undefined;
          },
          finished,
        );
        mustComplete(op, "the deploy");
        const output = op.output as { resources: { lastAction?: string }[]; nodes: unknown[] };
        const created = output.resources.filter((r) => r.lastAction === "created").length;
        return `deployed: ${created} Azure resources created, ${output.nodes.length} nodes healthy`;
      },
    );

    let web1 = "";
    await step(
      "status",
      `Reading the stack (GET /api/stacks/${stack}): node health and the certificate each node serves …`,
      async () => {
        const s = await getStack();
        const nodes = s.observed?.nodes ?? [];
        if (nodes.length !== 2 || !nodes.every((n) => n.healthy)) {
          throw new StepFailure(`expected 2 healthy nodes: ${JSON.stringify(nodes.map((n) => [n.name, n.healthy]))}`);
        }
        for (const n of nodes)
          note(
            `${n.name}: healthy, serves certificate ${n.certificate?.serial ?? "?"} (its self-signed bootstrap one)`,
          );
        note(`database: nodes log in as ${s.credentials.database.currentUser}`);
        web1 = nodes[0].name;
        return `generation ${s.generation} observed, ${nodes.length}/${nodes.length} nodes healthy`;
      },
    );

    await step(
      "heal",
      `Breaking ${web1}: its Guacamole stops answering (Tomcat still runs, so systemd restarts nothing); the load balancer's probe fails and Azure Monitor posts its probe alert to POST /api/alerts …`,
      async () => {
        const { backendIp } = await sandbox!.breakNode(web1);
        note(`· the load balancer's probe marks ${web1} (${backendIp}) down: DipAvailability 0 %`);
        const desired = (await getStack()).desired;
        const alert = await expect(202, "POST", "/alerts", probeAlert(desired, backendIp));
        const signals = (alert.json.signals ?? []) as { intent: string; backendIp?: string; duplicate: boolean }[];
        if (signals.length !== 1 || signals[0].intent !== "heal") {
          throw new StepFailure(`the alert gave no heal signal: ${JSON.stringify(alert.json)}`);
        }
        note(`· alert accepted: a heal signal for backend ${signals[0].backendIp}`);
        const op = await follow(
          `/stacks/${stack}/operations/heal-${stack}`,
          (o) => {
            const p = (o.progress ?? {}) as HealProgress;
            if (p.lastAction)
              return `heal: ${p.lastAction.step} of ${p.lastAction.node} ${p.lastAction.outcome}${p.lastAction.detail ? `: ${p.lastAction.detail}` : ""}`;
            if (p.decisions?.length) return `heal: ${p.phase}; ${p.decisions.join("; ")}`;
            return p.phase ? `heal: ${p.phase}${p.waitingFor ? ` (${p.waitingFor})` : ""}` : undefined;
          },
          finished,
        );
        mustComplete(op, "the heal");
        const p = (op.progress ?? {}) as HealProgress;
        if (p.lastAction?.outcome !== "succeeded") throw new StepFailure(`no successful repair: ${JSON.stringify(p)}`);
        return `${web1} repaired by a ${p.lastAction.step} and healthy again; the heal found nothing left to do`;
      },
    );

    await step(
      "certificate",
      `Rotating the TLS certificate (POST /api/stacks/${stack}/rotate/certificate): a new one from the ACME CA over HTTP-01 on every node, rolled out one node at a time and read back over TLS …`,
      async () => {
        const before = await getStack();
        const served = new Map((before.observed?.nodes ?? []).map((n) => [n.name, n.certificate?.serial]));
        await expect(202, "POST", `/stacks/${stack}/rotate/certificate`);
        const previous = before.certificate.current?.serial;
        // the worker never ends (it sleeps until the next renewal): done when every node serves the new one
        const after = await follow(
          `/stacks/${stack}`,
          (s) => {
            const phase = (s as unknown as StackBody).certificate.worker?.phase;
            return phase ? `certificate worker: ${phase}` : undefined;
          },
          (s) => {
            const c = (s as unknown as StackBody).certificate;
            return (
              !!c.current &&
              c.current.serial !== previous &&
              c.nodes.length > 0 &&
              c.nodes.every((n) => n.current) &&
              c.worker?.phase === "sleeping"
            );
          },
        );
        const c = (after as unknown as StackBody).certificate;
        for (const n of c.nodes)
          note(
            `${n.name}: serves ${n.serial} (was ${served.get(n.name) ?? previous ?? "?"}), valid until ${n.notAfter}`,
          );
        note(
          `next renewal ${c.nextRenewalAt ?? "?"}; orders this week ${c.ordersLast7Days.used}/${c.ordersLast7Days.limit}`,
        );
        return `certificate ${c.current!.serial} issued by ${c.current!.issuer ?? "the ACME CA"} and served by every node`;
      },
    );

    await step(
      "database",
      `Rotating the database credentials (POST /api/stacks/${stack}/rotate/database): a new password for the idle app user, tested, each node switched to it one at a time; then the admin password through ARM …`,
      async () => {
        const before = (await getStack()).credentials.database;
        const post = await expect(202, "POST", `/stacks/${stack}/rotate/database`, { appUsers: true, admin: true });
        const op = await follow(
          post.location!,
          (o) => {
            const p = (o.progress ?? {}) as RotateProgress;
            if (!p.phase) return undefined;
            const nodes = (p.nodes ?? []).filter((n) => n.state !== "waiting").map((n) => `${n.name} ${n.state}`);
            return `rotation: ${p.phase}${nodes.length ? ` (${nodes.join(", ")})` : ""}`;
          },
          finished,
        );
        mustComplete(op, "the rotation");
        const output = op.output as { outcome: string; appUsers?: string; admin?: string; failure?: string };
        if (output.outcome !== "succeeded")
          throw new StepFailure(`rotation ${output.outcome}: ${output.failure ?? ""}`);
        const db = (await getStack()).credentials;
        for (const line of [output.appUsers, output.admin]) if (line) note(line);
        note(
          `nodes log in as ${db.database.currentUser} (was ${before.currentUser}); credential age ${db.database.ageDays ?? "?"} of ${db.database.maxAgeDays} days, admin password age ${db.admin.ageDays ?? "?"} of ${db.admin.maxAgeDays} days`,
        );
        if (db.database.currentUser === before.currentUser)
          throw new StepFailure("the current app user did not change");
        return `credentials rotated: ${before.currentUser} → ${db.database.currentUser}`;
      },
    );

    await step(
      "teardown",
      `Tearing the stack down (DELETE /api/stacks/${stack}): every resource tagged for it, in reverse dependency order …`,
      async () => {
        const del = await expect(202, "DELETE", `/stacks/${stack}`);
        const resources = quarterly();
        const op = await follow(
          del.location!,
          (o) => {
            const p = (o.progress ?? {}) as DeployProgress;
            if (p.phase === "resources" && p.resources) return resources(p.resources, "deleted");
            return p.phase ? (PHASES[p.phase] ?? p.phase) : undefined;
          },
          finished,
        );
        mustComplete(op, "the teardown");
        const output = op.output as { deleted: string[] };
        const gone = await call("GET", `/stacks/${stack}`);
        if (gone.status !== 404) throw new StepFailure(`the stack is still registered (GET answered ${gone.status})`);
        return `${output.deleted.length} resources deleted; the stack is gone (GET answers 404), its Key Vault soft-deleted`;
      },
    );

    await step("audit", `The audit trail (GET /api/stacks/${stack}/events): who did what, and why …`, async () => {
      const { json } = await expect(200, "GET", `/stacks/${stack}/events?limit=1000`);
      audit = ((json.events ?? []) as AuditLine[]).reverse();
      for (const e of audit) out(`    ${e.time.slice(11, 23)}  ${e.what} — ${e.why}  [${e.actor}]`);
      const missing = AUDITED.filter((want) => !audit.some((e) => want.test(e.what) && e.why.trim() !== ""));
      if (missing.length > 0)
        throw new StepFailure(`no audit event with a reason for: ${missing.map(String).join(", ")}`);
      return `${audit.length} events, every action with its reason`;
    });
  } catch (e) {
    if (!(e instanceof StepFailure) && !steps.some((s) => !s.ok)) {
      out(`  ✗ ${e instanceof Error ? e.message : String(e)}`);
    }
    // what the app logged besides answered requests (errors, started operations) helps to see why
    const notable = hostLog.filter((line) => !/ -> [23]\d\d \(\d+ ms\)$/.test(line));
    if (notable.length > 0 && !options.signal?.aborted) {
      out("  the app's last log lines:");
      for (const line of notable.slice(-10)) out(`    ${line}`);
    }
  } finally {
    if (sandbox) {
      const t0 = performance.now();
      try {
        await options.beforeStop?.(sandbox);
      } finally {
        await sandbox.stop();
      }
      out(`Stopped every server (${seconds(t0)} s).`);
    }
  }
  const ok = steps.length === STEPS && steps.every((s) => s.ok);
  const total = seconds(started);
  const failed = steps.find((s) => !s.ok);
  out(
    ok
      ? `Demo complete: ${steps.length} steps in ${total} s.`
      : `Demo FAILED at step '${failed?.title ?? "?"}'${failed ? `: ${failed.detail.at(-1) ?? ""}` : ""} (${total} s).`,
  );
  return { ok, steps, audit, seconds: total };
}

const STEPS = 8;
/** Actions the trail must show, each with its reason. */
const AUDITED = [
  /^deploy succeeded$/,
  /^alert fired: heal/,
  /^node .+ restarted$/,
  /^certificate issued$/,
  /^certificate rolled out$/,
  /^database credentials rotated$/,
  /^teardown succeeded$/,
];

/** One progress line per quarter of the resources done (and the last), not one per resource. */
function quarterly(): (r: { total: number; done: number; running: string[] }, verb?: string) => string | undefined {
  let shown = -1;
  let line: string | undefined;
  return (r, verb = "applied") => {
    const quarter = r.done === r.total ? 4 : Math.floor((r.done / Math.max(r.total, 1)) * 4);
    if (quarter !== shown) {
      shown = quarter;
      const running = r.running.slice(0, 3).join(", ") + (r.running.length > 3 ? ", …" : "");
      line = `resources: ${r.done}/${r.total} ${verb}${running ? `; in progress: ${running}` : ""}`;
    }
    return line;
  };
}

/** "health: 1/2 nodes healthy; demo-web-2: database: no database credentials installed yet" */
function nodeLine(phase: string, nodes: { name: string; healthy: boolean; problems: string[] }[]): string {
  const healthy = nodes.filter((n) => n.healthy).length;
  const waiting = nodes.find((n) => !n.healthy);
  const why = waiting ? `; ${waiting.name}: ${waiting.problems[0] ?? "not answering yet"}` : "";
  return `${PHASES[phase] ?? phase} (${healthy}/${nodes.length} nodes healthy${why})`;
}

const PHASES: Record<string, string> = {
  graph: "building the resource graph",
  nodes: "waiting for the nodes' agents",
  database: "bootstrapping the database through one node, then credentials to every node",
  health: "waiting for every node to be healthy",
  succeeded: "succeeded",
  failed: "failed",
};

interface DeployProgress {
  phase?: string;
  resources?: { total: number; done: number; running: string[] };
  nodes?: { name: string; healthy: boolean; problems: string[] }[];
}

interface HealProgress {
  phase?: string;
  waitingFor?: string;
  decisions?: string[];
  lastAction?: { node: string; step: string; outcome: string; detail?: string };
}

interface RotateProgress {
  phase?: string;
  nodes?: { name: string; state: string }[];
}

interface StackBody {
  generation: number;
  desired: StackSpec;
  observed?: { nodes: { name: string; healthy: boolean; certificate?: { serial?: string } }[] };
  credentials: {
    database: { currentUser: string; ageDays: number | null; maxAgeDays: number };
    admin: { ageDays: number | null; maxAgeDays: number };
  };
  certificate: {
    current: { serial: string; issuer?: string } | null;
    nodes: { name: string; serial: string | null; notAfter: string | null; current: boolean }[];
    nextRenewalAt: string | null;
    ordersLast7Days: { used: number; limit: number };
    worker: { phase: string | null } | null;
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const controller = new AbortController();
  let interrupts = 0;
  const interrupt = () => {
    interrupts += 1;
    if (interrupts === 1) {
      process.stdout.write("\nInterrupted: stopping every server …\n");
      controller.abort();
    }
  };
  process.on("SIGINT", interrupt);
  process.on("SIGTERM", interrupt);
  runDemo({
    signal: controller.signal,
    ...(arg("time-scale") ? { timeScale: Number(arg("time-scale")) } : {}),
    ...(arg("latency") ? { latencyScale: Number(arg("latency")) } : {}),
    ...(arg("port") ? { port: Number(arg("port")) } : {}),
  }).then(
    (r) => process.exit(r.ok ? 0 : 1),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}

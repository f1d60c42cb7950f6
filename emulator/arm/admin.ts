// The emulator's admin API under /_emulator/, so a sandbox or a test in another process can drive
// what in-process tests reach directly: LRO mode, faults, latency, reset, seed/snapshot, journal,
// operations, run-command mode and metric values.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Emulator } from "./emulator";
import type { FaultEffect, FaultMatch } from "./faults";
import { errorReply, isObject, parseJsonBody, readBody, send, type Reply } from "./http";
import type { LroMode } from "./operations";
import type { RunCommandMode } from "./run-command";
import { ArmError, type ResourceDoc } from "./types";

const LRO_MODES: LroMode[] = ["instant", "async", "manual"];

export class AdminApi {
  constructor(private readonly emu: Emulator) {}

  async handle(req: IncomingMessage, res: ServerResponse, method: string, path: string, url: URL): Promise<void> {
    let reply: Reply;
    try {
      const body = parseJsonBody(await readBody(req));
      reply = this.route(method, path.replace(/^\/_emulator/, "").replace(/\/$/, ""), url.searchParams, body);
    } catch (e) {
      if (e instanceof ArmError) reply = errorReply(e);
      else reply = errorReply(new ArmError(400, "BadAdminRequest", e instanceof Error ? e.message : String(e)));
    }
    send(res, reply);
  }

  private route(method: string, path: string, query: URLSearchParams, body: unknown): Reply {
    const emu = this.emu;
    const key = `${method} ${path}`;
    switch (key) {
      case "GET /health":
        return ok({ url: emu.url, ca: emu.caPath, lro: emu.lro.settings, resources: emu.store.all().length });
      case "POST /reset":
        emu.reset();
        return ok({ reset: true });
      case "GET /journal":
        return ok({
          entries: emu.journal.list({
            method: query.get("method") ?? undefined,
            operation: query.get("operation") ?? undefined,
            type: query.get("type") ?? undefined,
          }),
        });
      case "DELETE /journal":
        emu.journal.clear();
        return { status: 204 };
      case "GET /resource-graph":
        return ok({ lagMs: emu.resourceGraph.lagMs });
      case "PUT /resource-graph": {
        const b = object(body);
        if (!(Number.isInteger(b.lagMs) && (b.lagMs as number) >= 0)) throw bad("lagMs must be a whole number >= 0");
        emu.resourceGraph.lagMs = b.lagMs as number;
        return ok({ lagMs: emu.resourceGraph.lagMs });
      }
      case "GET /lro":
        return ok(emu.lro.settings);
      case "PUT /lro": {
        const b = object(body);
        if (b.mode !== undefined && !LRO_MODES.includes(b.mode as LroMode))
          throw bad(`mode must be one of ${LRO_MODES.join(", ")}`);
        if (
          b.pollsBeforeDone !== undefined &&
          !(Number.isInteger(b.pollsBeforeDone) && (b.pollsBeforeDone as number) >= 0)
        )
          throw bad("pollsBeforeDone must be a whole number");
        if (
          b.retryAfterSeconds !== undefined &&
          b.retryAfterSeconds !== null &&
          !(Number.isInteger(b.retryAfterSeconds) && (b.retryAfterSeconds as number) >= 0)
        ) {
          throw bad("retryAfterSeconds must be a whole number or null");
        }
        emu.lro.settings = {
          ...emu.lro.settings,
          ...(b.mode !== undefined ? { mode: b.mode as LroMode } : {}),
          ...(b.pollsBeforeDone !== undefined ? { pollsBeforeDone: b.pollsBeforeDone as number } : {}),
          ...(b.retryAfterSeconds !== undefined
            ? { retryAfterSeconds: (b.retryAfterSeconds as number | null) ?? undefined }
            : {}),
        };
        return ok(emu.lro.settings);
      }
      case "GET /faults":
        return ok({ faults: emu.faults.list() });
      case "POST /faults": {
        const b = object(body);
        const rule = emu.faults.add({
          match: b.match as FaultMatch | undefined,
          effect: b.effect as FaultEffect,
          after: b.after as number | undefined,
          times: b.times as number | undefined,
        });
        return { status: 201, body: rule };
      }
      case "DELETE /faults":
        emu.faults.clear();
        return { status: 204 };
      case "GET /latency":
        return ok(emu.latency);
      case "PUT /latency": {
        const b = object(body);
        if (typeof b.scale !== "number" || b.scale < 0) throw bad("scale must be a non-negative number");
        emu.latency = {
          scale: b.scale,
          types: isObject(b.types) ? (b.types as Record<string, Record<string, number>>) : emu.latency.types,
        };
        return ok(emu.latency);
      }
      case "GET /snapshot":
        return ok({ resources: emu.store.snapshot().map((d) => emu.arm.present(d)) });
      case "POST /seed": {
        const b = object(body);
        if (!Array.isArray(b.resources)) throw bad("resources must be an array of resource documents");
        emu.seed(b.resources as ResourceDoc[]);
        return ok({ seeded: b.resources.length });
      }
      case "GET /operations":
        return ok({
          operations: emu.lro.list().map((o) => ({
            id: o.id,
            verb: o.verb,
            action: o.action,
            resourceId: o.resourceId,
            status: o.status,
            polls: o.polls,
            startTime: o.startTime,
            endTime: o.endTime,
            error: o.error,
          })),
        });
      case "GET /run-command":
        return ok({ mode: emu.runCommand.options.mode, root: emu.runCommand.options.root });
      case "PUT /run-command": {
        const b = object(body);
        const mode = b.mode as RunCommandMode | undefined;
        if (mode !== undefined && mode !== "bash" && mode !== "unreachable")
          throw bad("mode must be bash or unreachable");
        if (typeof b.vm === "string") emu.runCommand.setVm(b.vm, mode);
        else if (mode) emu.runCommand.options.mode = mode;
        if (isObject(b.env)) Object.assign(emu.runCommand.options.env, b.env);
        return ok({ mode: emu.runCommand.options.mode });
      }
      case "PUT /metrics": {
        const b = object(body);
        if (typeof b.resourceId !== "string" || typeof b.metric !== "string" || typeof b.value !== "number") {
          throw bad("resourceId, metric and value are required");
        }
        emu.metrics.set(
          b.resourceId,
          b.metric,
          b.value,
          isObject(b.dimensions) ? (b.dimensions as Record<string, string>) : {},
        );
        return { status: 204 };
      }
      case "DELETE /metrics":
        emu.metrics.clear(query.get("resourceId") ?? undefined);
        return { status: 204 };
    }
    const complete = /^\/operations\/([^/]+)\/complete$/.exec(path);
    if (method === "POST" && complete) {
      const b = isObject(body) ? body : {};
      const op = emu.completeOperation(complete[1], {
        status: b.status as "Succeeded" | "Failed" | "Canceled" | undefined,
        error: b.error as { code: string; message: string } | undefined,
      });
      return ok({ id: op.id, status: op.status });
    }
    throw new ArmError(404, "NotFound", `No admin route ${method} /_emulator${path}`);
  }
}

function ok(body: unknown): Reply {
  return { status: 200, body };
}

function bad(message: string): ArmError {
  return new ArmError(400, "BadAdminRequest", message);
}

function object(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw bad("a JSON object body is required");
  return body;
}

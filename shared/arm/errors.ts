// One error type for everything that goes wrong applying, planning or removing a node: which node,
// which resource, ARM's status and code, and ARM's message. It is plain data (it survives JSON, so
// an orchestration's failure details keep it) and it never carries a request body or a secret value:
// only ARM's own message, with every secret value this process handled scrubbed out of it.
import { isRestError } from "../azure/rest-error";
import { AzureRequestTimeoutError } from "../azure/request-timeout";

export type EngineVerb = "read" | "write" | "delete" | "secret";

export interface ArmApplyErrorDetails {
  /** graph key of the node */
  key: string;
  /** ARM id (or vault id + /secrets/name) of the resource */
  id: string;
  /** HTTP status, when the failure was an HTTP answer (a failed long-running operation has none) */
  status?: number;
  /** ARM's error code (`InvalidResourceReference`), or the engine's (`OperationFailed`, `RequestTimeout`) */
  code: string;
  message: string;
}

const MAX_MESSAGE = 1_000;

export class ArmApplyError extends Error implements ArmApplyErrorDetails {
  readonly key: string;
  readonly id: string;
  readonly status?: number;
  readonly code: string;

  constructor(details: ArmApplyErrorDetails) {
    super(details.message.slice(0, MAX_MESSAGE));
    this.name = "ArmApplyError";
    this.key = details.key;
    this.id = details.id;
    this.status = details.status;
    this.code = details.code;
  }

  toJSON(): ArmApplyErrorDetails & { name: string } {
    return {
      name: this.name,
      key: this.key,
      id: this.id,
      ...(this.status !== undefined ? { status: this.status } : {}),
      code: this.code,
      message: this.message,
    };
  }
}

/** core-lro's failure text: "The long-running operation has failed. <code>. <message>" */
const LRO_FAILED = /^The long-running operation has failed(?:\. ([^.\s]+)\. ([\s\S]*))?$/;

/** ARM's status, code and message of a failure, whatever layer raised it. */
export function armFailure(e: unknown): { status?: number; code: string; message: string } {
  if (e instanceof ArmApplyError) return { status: e.status, code: e.code, message: e.message };
  if (isRestError(e)) {
    return {
      status: e.statusCode,
      code: e.code ?? (e.statusCode ? `Http${e.statusCode}` : "RequestFailed"),
      message: e.message,
    };
  }
  if (e instanceof AzureRequestTimeoutError) return { code: e.code, message: e.message };
  if (e instanceof Error) {
    const lro = LRO_FAILED.exec(e.message);
    if (lro) return { code: lro[1] ?? "OperationFailed", message: lro[2] ?? "The long-running operation failed." };
    if (e.name === "AbortError") return { code: "Aborted", message: e.message || "The operation was aborted." };
    return { code: e.name && e.name !== "Error" ? e.name : "Unexpected", message: e.message };
  }
  return { code: "Unexpected", message: String(e) };
}

export function isNotFound(e: unknown): boolean {
  return isRestError(e) && e.statusCode === 404;
}

/** Replaces every known secret value in `text`. */
export function scrub(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("<redacted>");
  return out;
}

/** What a person can do about an ARM error that comes from a choice in the spec, by ARM's code. */
const SPEC_HINTS: Record<string, string> = {
  DnsRecordInUse:
    "a public IP's DNS label is unique per region across all of Azure and another one holds this label: set tls.dnsLabel to another label, or leave it out for the stack's own hashed default",
};

export function toArmApplyError(
  e: unknown,
  node: { key: string; id: string },
  verb: EngineVerb,
  secrets: Iterable<string> = [],
): ArmApplyError {
  if (e instanceof ArmApplyError) return e;
  const f = armFailure(e);
  const status = f.status !== undefined ? `${f.status} ` : "";
  const hint = SPEC_HINTS[f.code] ? ` (${SPEC_HINTS[f.code]})` : "";
  const message = scrub(`${node.key}: ${verb} ${node.id} failed: ${status}${f.code}: ${f.message}${hint}`, secrets);
  return new ArmApplyError({ key: node.key, id: node.id, status: f.status, code: f.code, message });
}

// Validation and normalization of an Azure Monitor alert notification (common alert schema) into a
// ParsedAlert: the essentials Jumpgate needs, targets lowercased (ARM ids are case-insensitive and
// Azure itself lowercases parts of them), the metric or log criteria, and the facts of a Resource
// Health event. The schema is in common-alert-schema.ts; this file adds what a schema can't say
// (no prototype-changing keys anywhere, bounded nesting, dates that are real dates) and turns ajv's
// errors into {pointer, detail} pairs for a 400 problem.
//
// A payload that passes is not trusted for anything but its shape: whether it names something
// Jumpgate manages is decided by match.ts against the registry. Its strings are kept without
// control characters (shared/text.ts): they reach logs, the audit trail and status pages.
import type { ErrorObject } from "ajv/dist/2020";
import { invalidAlertProblem, type Problem } from "../http/problem";
import { parseJsonBody } from "../http/json-body";
import { stripControlCharactersDeep } from "../text";
import type { AlertCondition } from "./signal";
import { ALERT_LIMITS, parseAlertTime } from "./common-alert-schema";
import { compiledValidator } from "../validators";

export { parseAlertTime };

export interface AlertFieldError {
  /** RFC 6901 pointer into the notification ("" is the whole body) */
  pointer: string;
  detail: string;
}

export interface AlertDimension {
  name: string;
  value: string;
}

/** One metric criterion, or one log search alert query, of `alertContext.condition.allOf`. */
export interface AlertCriterion {
  metricName?: string;
  namespace?: string;
  /** as sent: "GreaterThan", "LessThanOrEqual", "GreaterOrLessThan", "LowerThan", "Less Than", ... */
  operator?: string;
  /** the threshold as a number, when it is one (Azure sends it as a string) */
  threshold?: number;
  metricValue?: number;
  timeAggregation?: string;
  dimensions: AlertDimension[];
  /** log search alerts only */
  searchQuery?: string;
}

/** The facts of a Resource Health activity-log event (`alertContext.properties`). */
export interface ResourceHealthFacts {
  currentHealthStatus?: string;
  previousHealthStatus?: string;
  title?: string;
  /** "Downtime", ... */
  type?: string;
  /** "PlatformInitiated" or "UserInitiated" */
  cause?: string;
  /** the event's status: "Active", "Resolved", "In Progress", "Updated" */
  status?: string;
  operationName?: string;
  /** the resource is healthy again: currentHealthStatus Available, status Resolved, or a Resolved event */
  recovered: boolean;
}

/** Which kind of alert this is, from signalType, monitoringService and the activity log's eventSource. */
export type AlertFamily = "metric" | "log" | "resource-health" | "service-health" | "activity-log" | "other";

export interface ParsedAlert {
  alertId: string;
  /** the alert rule's name ("(unnamed rule)" when Azure sends none, as for budget alerts) */
  rule: string;
  ruleId?: string;
  severity?: string;
  /** essentials.signalType as sent ("Metric", "Log", "Activity Log", "ActivityLog"); "" when null */
  signalType: string;
  monitoringService?: string;
  monitorCondition: AlertCondition;
  family: AlertFamily;
  /** essentials.alertTargetIDs, lowercased, without duplicates */
  targets: string[];
  /** essentials.alertTargetIDs as sent (same order as `targets`) */
  targetIds: string[];
  configurationItems: string[];
  /** ISO 8601, UTC, millisecond precision */
  firedAt: string;
  resolvedAt?: string;
  essentialsVersion: string;
  alertContextVersion: string;
  conditionType?: string;
  criteria: AlertCriterion[];
  /** activity-log alerts: what the event was */
  activityLog?: { eventSource?: string; operationName?: string; status?: string };
  resourceHealth?: ResourceHealthFacts;
}

export type AlertParseResult = { ok: true; alert: ParsedAlert } | { ok: false; errors: AlertFieldError[] };

/** Keys that change an object's prototype when copied with plain assignment; no alert has them. */
const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);
/** The problem lists at most this many errors (a hostile body can have thousands). */
const MAX_REPORTED_ERRORS = 20;
const UNNAMED_RULE = "(unnamed rule)";

/** COMMON_ALERT_SCHEMA, compiled ahead of time (shared/validators) */
const envelopeValidator = compiledValidator<Envelope>("common-alert");

/** Validates a notification (already parsed from JSON) and normalizes it. Never mutates `input`. */
export function parseAlert(input: unknown): AlertParseResult {
  const structural = structuralErrors(input);
  if (structural.length > 0) return { ok: false, errors: structural };
  const validateEnvelope = envelopeValidator();
  if (!validateEnvelope(input)) {
    const errors = dedupe((validateEnvelope.errors ?? []).flatMap(describe));
    return { ok: false, errors: errors.slice(0, MAX_REPORTED_ERRORS) };
  }
  // everything an alert says may end up in logs, the audit trail and status pages: no control characters
  return { ok: true, alert: normalize(stripControlCharactersDeep(input)) };
}

export type AlertBodyResult = { ok: true; alert: ParsedAlert } | { ok: false; problem: Problem };

/**
 * The request body of POST /api/alerts to a ParsedAlert, or the problem to answer with: 415 for a
 * non-JSON content type, 413 above 256 KiB, 400 for a body that is not JSON or not a common alert
 * schema notification (with pointers).
 */
export function parseAlertBody(
  raw: Uint8Array | string | null | undefined,
  contentType: string | null,
): AlertBodyResult {
  const body = parseJsonBody(raw, contentType, {
    maxBodyBytes: ALERT_LIMITS.maxBodyBytes,
    maxJsonDepth: ALERT_LIMITS.maxJsonDepth,
    expected: "an Azure Monitor alert in the common alert schema",
  });
  if (!body.ok) return body;
  const parsed = parseAlert(body.value);
  if (!parsed.ok) return { ok: false, problem: invalidAlertProblem(parsed.errors) };
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// What the schema can't check: keys and depth, walked without recursion.

function structuralErrors(input: unknown): AlertFieldError[] {
  const errors: AlertFieldError[] = [];
  const stack: { value: unknown; pointer: string; depth: number }[] = [{ value: input, pointer: "", depth: 0 }];
  while (stack.length > 0 && errors.length < MAX_REPORTED_ERRORS) {
    const { value, pointer, depth } = stack.pop()!;
    if (value === null || typeof value !== "object") {
      if (!isJsonScalar(value)) errors.push({ pointer, detail: `${label(pointer)} is not JSON data` });
      continue;
    }
    if (depth >= ALERT_LIMITS.maxJsonDepth) {
      errors.push({ pointer, detail: `${label(pointer)} is nested deeper than ${ALERT_LIMITS.maxJsonDepth} levels` });
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--)
        stack.push({ value: value[i], pointer: `${pointer}/${i}`, depth: depth + 1 });
      continue;
    }
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== null) {
      errors.push({ pointer, detail: `${label(pointer)} is not a plain JSON object` });
      continue;
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i];
      const child = `${pointer}/${escapeSegment(key)}`;
      if (PROTOTYPE_KEYS.has(key)) {
        errors.push({ pointer: child, detail: `the key '${key}' is not allowed anywhere in an alert` });
        continue;
      }
      stack.push({ value: (value as Record<string, unknown>)[key], pointer: child, depth: depth + 1 });
    }
  }
  return errors;
}

function isJsonScalar(value: unknown): boolean {
  return (
    value === null ||
    typeof value === "string" ||
    typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value))
  );
}

// ---------------------------------------------------------------------------------------------
// ajv errors, made readable

function describe(error: ErrorObject): AlertFieldError[] {
  const at = error.instancePath;
  const params = error.params as Record<string, unknown>;
  const what = label(at);
  switch (error.keyword) {
    case "if":
      return []; // the failing keyword inside `then` is reported itself
    case "required": {
      const pointer = `${at}/${escapeSegment(String(params.missingProperty))}`;
      return [{ pointer, detail: `${label(pointer)} is required` }];
    }
    case "const":
      return [{ pointer: at, detail: `${what} must be ${JSON.stringify(params.allowedValue)}` }];
    case "enum": {
      const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ");
      return [{ pointer: at, detail: `${what} must be one of ${allowed}` }];
    }
    case "type": {
      const types = String(params.type).split(",").join(" or ");
      return [{ pointer: at, detail: `${what} must be ${types}, got ${typeName(error.data)}` }];
    }
    case "format":
      return [{ pointer: at, detail: `${what} must be an ISO 8601 date and time, e.g. "2026-01-02T03:04:05.678Z"` }];
    case "pattern":
      return [{ pointer: at, detail: `${what} must be a version number such as "1.0"` }];
    case "maxItems":
      return [{ pointer: at, detail: `${what} may list at most ${String(params.limit)} entries` }];
    case "maxProperties":
      return [{ pointer: at, detail: `${what} may have at most ${String(params.limit)} entries` }];
    case "maxLength":
      return [{ pointer: at, detail: `${what} may be at most ${String(params.limit)} characters long` }];
    case "minLength":
      return [{ pointer: at, detail: `${what} must not be empty` }];
    default:
      return [{ pointer: at, detail: `${what} ${error.message ?? "is not valid"}` }];
  }
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

function label(pointer: string): string {
  if (pointer === "") return "the alert";
  const segments = pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  return segments
    .map((s, i) => {
      const segment = s.length > 64 ? `${s.slice(0, 64)}…` : s;
      if (/^(0|[1-9][0-9]*)$/.test(segment)) return `[${segment}]`;
      if (/^[A-Za-z_$][\w$]*$/.test(segment)) return i === 0 ? segment : `.${segment}`;
      return `[${JSON.stringify(segment)}]`;
    })
    .join("");
}

function escapeSegment(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

function dedupe(errors: AlertFieldError[]): AlertFieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.pointer}\u0000${e.detail}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Normalization of a valid notification

interface Envelope {
  data: {
    essentials: Essentials;
    alertContext?: Record<string, unknown> | null;
  };
}

interface Essentials {
  alertId: string;
  alertRule: string | null;
  alertRuleID?: string | null;
  alertRuleId?: string | null;
  severity: string | null;
  signalType: string | null;
  monitorCondition: AlertCondition;
  monitoringService: string | null;
  alertTargetIDs: string[] | null;
  configurationItems?: (string | null)[] | null;
  firedDateTime: string;
  resolvedDateTime?: string | null;
  essentialsVersion: string;
  alertContextVersion: string;
}

function normalize(envelope: Envelope): ParsedAlert {
  const e = envelope.data.essentials;
  const context = envelope.data.alertContext ?? {};
  const targetIds: string[] = [];
  const targets: string[] = [];
  for (const id of e.alertTargetIDs ?? []) {
    const lower = id.trim().toLowerCase().replace(/\/+$/, "");
    if (lower === "" || targets.includes(lower)) continue;
    targets.push(lower);
    targetIds.push(id.trim().replace(/\/+$/, ""));
  }
  const activityLog = activityLogFacts(context);
  const family = familyOf(e, activityLog);
  const resolvedAt = e.resolvedDateTime ? parseAlertTime(e.resolvedDateTime) : undefined;
  const ruleId = e.alertRuleID ?? e.alertRuleId;
  const conditionType = text(context.conditionType);
  return {
    alertId: e.alertId,
    rule: e.alertRule?.trim() || UNNAMED_RULE,
    ...(ruleId ? { ruleId } : {}),
    ...(e.severity ? { severity: e.severity } : {}),
    signalType: e.signalType ?? "",
    ...(e.monitoringService ? { monitoringService: e.monitoringService } : {}),
    monitorCondition: e.monitorCondition,
    family,
    targets,
    targetIds,
    configurationItems: (e.configurationItems ?? []).filter((c): c is string => typeof c === "string"),
    firedAt: parseAlertTime(e.firedDateTime)!, // the schema's format checked it
    ...(resolvedAt ? { resolvedAt } : {}),
    essentialsVersion: e.essentialsVersion,
    alertContextVersion: e.alertContextVersion,
    ...(conditionType ? { conditionType } : {}),
    criteria: criteriaOf(context),
    ...(activityLog ? { activityLog } : {}),
    ...(family === "resource-health" ? { resourceHealth: resourceHealthFacts(context, activityLog) } : {}),
  };
}

function familyOf(e: Essentials, activityLog: ParsedAlert["activityLog"]): AlertFamily {
  const signal = (e.signalType ?? "").toLowerCase().replace(/\s+/g, "");
  const service = (e.monitoringService ?? "").toLowerCase().replace(/\s+/g, "");
  const source = (activityLog?.eventSource ?? "").toLowerCase();
  const operation = (activityLog?.operationName ?? "").toLowerCase();
  if (source === "resourcehealth" || operation.startsWith("microsoft.resourcehealth/") || service === "resourcehealth")
    return "resource-health";
  if (source === "servicehealth" || operation.startsWith("microsoft.servicehealth/") || service === "servicehealth")
    return "service-health";
  if (signal === "metric") return "metric";
  if (signal === "log") return "log";
  if (signal === "activitylog") return "activity-log";
  return "other";
}

function activityLogFacts(context: Record<string, unknown>): ParsedAlert["activityLog"] {
  const eventSource = text(context.eventSource);
  const operationName = text(context.operationName);
  const status = text(context.status);
  if (eventSource === undefined && operationName === undefined) return undefined;
  return {
    ...(eventSource ? { eventSource } : {}),
    ...(operationName ? { operationName } : {}),
    ...(status ? { status } : {}),
  };
}

function resourceHealthFacts(
  context: Record<string, unknown>,
  activityLog: ParsedAlert["activityLog"],
): ResourceHealthFacts {
  const p = isObject(context.properties) ? context.properties : {};
  const facts = {
    currentHealthStatus: text(p.currentHealthStatus),
    previousHealthStatus: text(p.previousHealthStatus),
    title: text(p.title),
    type: text(p.type),
    cause: text(p.cause),
    status: activityLog?.status,
    operationName: activityLog?.operationName,
  };
  const recovered =
    facts.currentHealthStatus?.toLowerCase() === "available" ||
    facts.status?.toLowerCase() === "resolved" ||
    /\/resolved\/action$/i.test(facts.operationName ?? "");
  const present = Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined)) as Omit<
    ResourceHealthFacts,
    "recovered"
  >;
  return { ...present, recovered };
}

function criteriaOf(context: Record<string, unknown>): AlertCriterion[] {
  const condition = context.condition;
  const allOf = isObject(condition) && Array.isArray(condition.allOf) ? (condition.allOf as unknown[]) : undefined;
  if (allOf) return allOf.filter(isObject).map(criterionOf);
  // log search alerts V1: one query, its dimensions at the top of the context
  if (context.SearchQuery !== undefined || Array.isArray(context.Dimensions)) {
    return [
      criterionOf({
        searchQuery: context.SearchQuery,
        operator: context.Operator,
        threshold: context.Threshold,
        dimensions: context.Dimensions,
      }),
    ];
  }
  return [];
}

function criterionOf(c: Record<string, unknown>): AlertCriterion {
  const dimensions = Array.isArray(c.dimensions)
    ? (c.dimensions as unknown[]).filter(isObject).flatMap((d) => {
        const name = text(d.name);
        const raw = d.value;
        const value =
          typeof raw === "string" ? raw : typeof raw === "number" || typeof raw === "boolean" ? String(raw) : undefined;
        return name !== undefined && value !== undefined ? [{ name, value }] : [];
      })
    : [];
  const out: AlertCriterion = { dimensions };
  const metricName = text(c.metricName);
  const namespace = text(c.metricNamespace);
  const operator = text(c.operator);
  const threshold = numberOf(c.threshold);
  const metricValue = numberOf(c.metricValue);
  const timeAggregation = text(c.timeAggregation);
  const searchQuery = text(c.searchQuery);
  if (metricName !== undefined) out.metricName = metricName;
  if (namespace !== undefined) out.namespace = namespace;
  if (operator !== undefined) out.operator = operator;
  if (threshold !== undefined) out.threshold = threshold;
  if (metricValue !== undefined) out.metricValue = metricValue;
  if (timeAggregation !== undefined) out.timeAggregation = timeAggregation;
  if (searchQuery !== undefined) out.searchQuery = searchQuery;
  return out;
}

/** A non-empty string, trimmed, or undefined (numbers, nulls and objects are not text). */
function text(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

function numberOf(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const n = Number(value.trim());
  return Number.isFinite(n) ? n : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

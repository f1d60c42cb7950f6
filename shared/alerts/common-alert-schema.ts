// The Azure Monitor common alert schema (`schemaId: "azureMonitorCommonAlertSchema"`), as the
// envelope Jumpgate accepts on POST /api/alerts. Source: Microsoft's "Common alert schema" and
// "Sample alert payloads" pages (learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema,
// .../alerts-payload-samples), including the Test Action payloads an action group sends.
//
// What is enforced, and why so little:
//   - the envelope: `schemaId`, `data`, `data.essentials`;
//   - every essentials field the documentation lists for all alert types: `alertId`,
//     `monitorCondition` (Fired | Resolved) and `firedDateTime` must hold a value; `alertRule`,
//     `severity`, `signalType`, `monitoringService` and `alertTargetIDs` must be present but may be
//     null (Azure's own budget alerts send them as null); versions look like "1.0";
//   - the parts Jumpgate reads, typed loosely where it reads them: `alertContext.condition.allOf[]`
//     of metric and log search alerts (metricName, operator, threshold, metricValue, dimensions) and
//     `alertContext.properties` of Resource Health events;
//   - sizes: at most 100 targets, 64 criteria, 64 dimensions per criterion, bounded string lengths.
// Everything else is tolerated: unknown fields anywhere, and alertContext shapes Jumpgate does not
// read (log alerts V1 search results, Service Health's numeric `channels`, Prometheus labels, ...).
// Real payloads mix types freely (thresholds are strings, metric values numbers, `properties` is
// null or an object), so those fields accept every type Azure is documented to send.

/** Condition types whose `condition.allOf[]` lists metric or log criteria. */
export const CRITERIA_CONDITION_TYPES = [
  "SingleResourceMultipleMetricCriteria",
  "MultipleResourceMultipleMetricCriteria",
  "DynamicThresholdCriteria",
  "WebtestLocationAvailabilityCriteria",
  "LogQueryCriteria",
] as const;

export const ALERT_LIMITS = {
  /** Azure's cap on a common-schema notification (256 KB) */
  maxBodyBytes: 256 * 1024,
  /** real payloads nest about 8 levels (log alert V1 search results) */
  maxJsonDepth: 64,
  maxTargets: 100,
  maxCriteria: 64,
  maxDimensions: 64,
} as const;

const VERSION = { type: "string", pattern: "^[0-9]{1,4}(\\.[0-9]{1,4}){0,3}$" } as const;
const DATE_TIME = { type: "string", format: "alert-date-time" } as const;
const nullableText = (maxLength: number) => ({ type: ["string", "null"], maxLength }) as const;

const DIMENSION = {
  type: "object",
  required: ["name", "value"],
  properties: {
    name: { type: "string", minLength: 1, maxLength: 256 },
    value: { type: ["string", "number", "boolean", "null"], maxLength: 2048 },
  },
} as const;

const DIMENSIONS = { type: ["array", "null"], maxItems: ALERT_LIMITS.maxDimensions, items: DIMENSION } as const;

/** One entry of `condition.allOf`: a metric criterion, or a log search alert V2 query. */
const CRITERION = {
  type: "object",
  properties: {
    metricName: nullableText(512),
    metricNamespace: nullableText(512),
    operator: nullableText(64),
    threshold: { type: ["string", "number", "null"], maxLength: 64 },
    metricValue: { type: ["number", "string", "null"], maxLength: 64 },
    timeAggregation: nullableText(64),
    dimensions: DIMENSIONS,
    searchQuery: { type: ["string", "null"] },
  },
} as const;

const CRITERIA_CONDITION = {
  type: "object",
  required: ["allOf"],
  properties: {
    allOf: { type: "array", maxItems: ALERT_LIMITS.maxCriteria, items: CRITERION },
    windowSize: nullableText(64),
    windowStartTime: { type: ["string", "null"], maxLength: 64 },
    windowEndTime: { type: ["string", "null"], maxLength: 64 },
  },
} as const;

const RESOURCE_HEALTH_PROPERTIES = {
  type: ["object", "null"],
  properties: {
    title: nullableText(4096),
    currentHealthStatus: nullableText(64),
    previousHealthStatus: nullableText(64),
    type: nullableText(64),
    cause: nullableText(64),
  },
} as const;

const ALERT_CONTEXT = {
  type: ["object", "null"],
  properties: {
    // log search alerts V1 (Log Analytics / Application Insights) put their dimensions here
    Dimensions: DIMENSIONS,
  },
  allOf: [
    {
      if: {
        type: "object",
        required: ["conditionType"],
        properties: { conditionType: { enum: CRITERIA_CONDITION_TYPES } },
      },
      then: { type: "object", required: ["condition"], properties: { condition: CRITERIA_CONDITION } },
    },
    {
      if: { type: "object", required: ["eventSource"], properties: { eventSource: { const: "ResourceHealth" } } },
      then: { type: "object", properties: { properties: RESOURCE_HEALTH_PROPERTIES } },
    },
  ],
} as const;

const ESSENTIALS = {
  type: "object",
  required: [
    "alertId",
    "alertRule",
    "severity",
    "signalType",
    "monitorCondition",
    "monitoringService",
    "alertTargetIDs",
    "firedDateTime",
    "essentialsVersion",
    "alertContextVersion",
  ],
  properties: {
    alertId: { type: "string", minLength: 1, maxLength: 1024 },
    alertRule: nullableText(1024),
    alertRuleID: nullableText(2048),
    alertRuleId: nullableText(2048),
    severity: { enum: ["Sev0", "Sev1", "Sev2", "Sev3", "Sev4", null] },
    signalType: nullableText(64),
    monitorCondition: { enum: ["Fired", "Resolved"] },
    monitoringService: nullableText(256),
    alertTargetIDs: {
      type: ["array", "null"],
      maxItems: ALERT_LIMITS.maxTargets,
      items: { type: "string", minLength: 1, maxLength: 2048 },
    },
    configurationItems: {
      type: ["array", "null"],
      maxItems: 1000,
      items: { type: ["string", "null"], maxLength: 2048 },
    },
    originAlertId: nullableText(2048),
    firedDateTime: DATE_TIME,
    resolvedDateTime: { type: ["string", "null"], format: "alert-date-time" },
    description: { type: ["string", "null"] },
    essentialsVersion: VERSION,
    alertContextVersion: VERSION,
    targetResourceGroup: nullableText(1024),
    targetResourceType: nullableText(1024),
  },
} as const;

export const COMMON_ALERT_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://jumpgate.dev/schemas/azure-monitor-common-alert.json",
  title: "Azure Monitor common alert schema notification",
  type: "object",
  required: ["schemaId", "data"],
  properties: {
    schemaId: { const: "azureMonitorCommonAlertSchema" },
    data: {
      type: "object",
      required: ["essentials"],
      properties: {
        essentials: ESSENTIALS,
        alertContext: ALERT_CONTEXT,
        customProperties: { type: ["object", "null"], maxProperties: 256 },
      },
    },
  },
} as const;

/**
 * ISO 8601 date and time as Azure writes it: any number of fractional digits (".3713213"), a "Z"
 * or an offset, or no zone at all (read as UTC).
 */
export const ALERT_DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})?$/;

/** An Azure date-time as ISO 8601 UTC with milliseconds, or undefined when it is not one. */
export function parseAlertTime(value: string): string | undefined {
  const m = ALERT_DATE_TIME.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [0, 5, 8, 11, 14, 17].map((at) =>
    Number(value.slice(at, at === 0 ? 4 : at + 2)),
  );
  // Date.parse would roll "02-31" over into March; a date that isn't on the calendar is refused
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59)
    return undefined;
  let iso = `${value.slice(0, 10)}T${value.slice(11)}`
    .replace(/(\.\d{3})\d+/, "$1") // Azure writes up to 7 fractional digits; keep milliseconds
    .replace(/([+-]\d{2})(\d{2})$/, "$1:$2");
  if (m[2] === undefined) iso += "Z"; // no zone: Azure means UTC, Date.parse would read local time
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

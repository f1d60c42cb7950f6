// Azure Monitor alert rules: metric alerts (api 2018-03-01) and activity log alerts (api 2020-10-01),
// the rules a stack's deploy creates so Azure Monitor calls Jumpgate's /api/alerts. Only the rules
// are emulated (they are what Jumpgate writes); the emulator does not evaluate them. Validation
// follows what ARM refuses: missing scopes, an unknown criteria type, a multi-resource rule without
// its target type and region, durations that are not ISO 8601, thresholds that are not numbers, and
// a multi-resource rule on a metric that is not the target type's platform metric (Azure Monitor
// watches many resources with one rule for platform metrics only: "Monitor multiple resources with
// one alert rule", learn.microsoft.com/azure/azure-monitor/alerts/alerts-types; the message is ours).
import { getPath } from "../store";
import { ArmError, type Json, type TypeDefinition } from "../types";
import { props } from "./common";

const METRIC_CRITERIA = {
  single: "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
  multi: "Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria",
  webtest: "Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria",
};
const OPERATORS = ["Equals", "GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"];
const AGGREGATIONS = ["Average", "Count", "Minimum", "Maximum", "Total"];
const ISO_DURATION = /^P(T(\d+H)?(\d+M)?|1D)$/;

/** A non-empty string member of a JSON object, or undefined. */
function text(obj: Json | undefined, key: string): string | undefined {
  const v = obj?.[key];
  return typeof v === "string" && v !== "" ? v : undefined;
}

function badRequest(message: string): ArmError {
  return new ArmError(400, "BadRequest", message);
}

const metricAlerts: TypeDefinition = {
  type: "Microsoft.Insights/metricAlerts",
  apiVersions: ["2018-03-01", "2024-03-01-preview"],
  tracked: true,
  put: "sync",
  createStatus: 200,
  provisioningState: false,
  delete: "sync",
  validate(doc) {
    const p = props(doc);
    const scopes = p.scopes;
    if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => typeof s === "string" && s !== "")) {
      throw badRequest("Scopes cannot be empty.");
    }
    for (const field of ["evaluationFrequency", "windowSize"]) {
      if (typeof p[field] !== "string" || !ISO_DURATION.test(p[field])) {
        throw badRequest(`The ${field} '${String(p[field])}' is not a supported ISO 8601 duration.`);
      }
    }
    if (!Number.isInteger(p.severity) || (p.severity as number) < 0 || (p.severity as number) > 4) {
      throw badRequest("Severity must be an integer from 0 to 4.");
    }
    const criteria = p.criteria as Json | undefined;
    const kind = text(criteria, "odata.type");
    if (!kind || !Object.values(METRIC_CRITERIA).includes(kind)) {
      throw badRequest(`The criteria type '${String(kind)}' is not supported.`);
    }
    const multiTarget = scopes.length > 1 || !/\/providers\//i.test(scopes[0] as string);
    if (kind === METRIC_CRITERIA.single && multiTarget) {
      throw badRequest("Alerts with SingleResourceMultipleMetricCriteria must have exactly one resource as scope.");
    }
    if (kind === METRIC_CRITERIA.multi && (!text(p, "targetResourceType") || !text(p, "targetResourceRegion"))) {
      throw badRequest("targetResourceType and targetResourceRegion are required for multi-resource metric alerts.");
    }
    const allOf = criteria?.allOf;
    if (!Array.isArray(allOf) || allOf.length === 0) throw badRequest("The criteria must have at least one condition.");
    for (const c of allOf as Json[]) {
      if (!text(c, "name") || !text(c, "metricName"))
        throw badRequest("Every condition needs a name and a metricName.");
      if (!OPERATORS.includes(text(c, "operator") ?? "")) throw badRequest(`Invalid operator '${String(c.operator)}'.`);
      if (!AGGREGATIONS.includes(text(c, "timeAggregation") ?? "")) {
        throw badRequest(`Invalid timeAggregation '${String(c.timeAggregation)}'.`);
      }
      if (typeof c.threshold !== "number") throw badRequest("The threshold must be a number.");
      const namespace = text(c, "metricNamespace");
      const target = text(p, "targetResourceType");
      if (kind === METRIC_CRITERIA.multi && namespace && target && namespace.toLowerCase() !== target.toLowerCase()) {
        throw badRequest(
          `Multi-resource metric alerts support the platform metrics of ${target} only, not metric namespace '${namespace}'.`,
        );
      }
    }
    for (const action of (Array.isArray(p.actions) ? p.actions : []) as Json[]) {
      if (!text(action, "actionGroupId")) throw badRequest("Every action needs an actionGroupId.");
    }
  },
  normalize(doc) {
    const p = props(doc);
    p.enabled ??= true;
    p.autoMitigate ??= true;
    p.actions ??= [];
    p.targetResourceType ??= "";
    p.targetResourceRegion ??= "";
    p.isMigrated ??= false;
    doc.tags ??= {}; // MetricAlertCollectionTests: `tags: {}` when the request sent none
  },
};

const activityLogAlerts: TypeDefinition = {
  type: "Microsoft.Insights/activityLogAlerts",
  apiVersions: ["2020-10-01", "2023-01-01-preview"],
  tracked: true,
  put: "sync",
  createStatus: 201,
  provisioningState: false,
  delete: "sync",
  validate(doc) {
    const p = props(doc);
    if (!Array.isArray(p.scopes) || p.scopes.length === 0) throw badRequest("Scopes cannot be empty.");
    const allOf = getPath(p, ["condition", "allOf"]);
    if (!Array.isArray(allOf) || allOf.length === 0) {
      throw badRequest("The condition must have at least one leaf condition.");
    }
    for (const c of allOf as Json[]) {
      if (!text(c, "field") && !Array.isArray(c.anyOf)) throw badRequest("Every leaf condition needs a field.");
    }
    const groups = getPath(p, ["actions", "actionGroups"]);
    if (groups !== undefined && !Array.isArray(groups)) throw badRequest("actions.actionGroups must be an array.");
  },
  normalize(doc) {
    const p = props(doc);
    p.enabled ??= true;
    doc.tags ??= {}; // ActivityLogAlertCollectionTests: `tags: {}` when the request sent none
  },
};

const RECEIVER_LISTS = [
  "emailReceivers",
  "smsReceivers",
  "webhookReceivers",
  "eventHubReceivers",
  "itsmReceivers",
  "azureAppPushReceivers",
  "automationRunbookReceivers",
  "voiceReceivers",
  "logicAppReceivers",
  "azureFunctionReceivers",
  "armRoleReceivers",
];

/**
 * Action groups (api 2023-01-01): Jumpgate's infra creates the one that posts alerts to /api/alerts
 * and stacks' alert rules name it. A synchronous create (201) that echoes every receiver list
 * (ActionGroupCollectionTests).
 */
const actionGroups: TypeDefinition = {
  type: "Microsoft.Insights/actionGroups",
  apiVersions: ["2023-01-01", "2022-06-01", "2021-09-01"],
  tracked: true,
  put: "sync",
  createStatus: 201,
  provisioningState: false,
  delete: "sync",
  validate(doc) {
    const name = text(props(doc), "groupShortName");
    if (!name || name.length > 12) throw badRequest("groupShortName is required and at most 12 characters long.");
  },
  normalize(doc) {
    const p = props(doc);
    p.enabled ??= true;
    for (const list of RECEIVER_LISTS) p[list] ??= [];
    for (const r of p.emailReceivers as Json[]) {
      r.useCommonAlertSchema ??= false;
      r.status ??= "Enabled";
    }
    (doc as Json).tags ??= null; // recorded as `tags: null` when the request sent none
  },
};

export const INSIGHTS_TYPES: TypeDefinition[] = [metricAlerts, activityLogAlerts, actionGroups];

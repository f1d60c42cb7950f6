// Daily retention of Jumpgate's own tables: the alert inbox (a stack's signals, and the ignored
// partition, each with its own period) and the audit trail. Without it a noisy alert rule, or
// someone posting forged alerts, grows the tables without bound. Each call deletes a bounded batch
// per table; a backlog larger than that goes over the following days.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import { Names } from "../names";
import { services } from "../services";

const DAY_MS = 24 * 60 * 60_000;

export interface RetentionOutcome {
  signals: number;
  ignored: number;
  events: number;
}

export async function storeRetention(_timer: Timer, context: InvocationContext): Promise<RetentionOutcome> {
  const { inbox, audit, retention } = services();
  const now = Date.now();
  const before = (days: number) => new Date(now - days * DAY_MS);
  const alerts = await inbox.prune({
    signalsBefore: before(retention.alertSignals),
    ignoredBefore: before(retention.ignoredAlerts),
  });
  const events = await audit.prune(before(retention.auditEvents));
  context.log(
    `retention: deleted ${alerts.signals} alert signal(s) older than ${retention.alertSignals} day(s), ` +
      `${alerts.ignored} ignored alert(s) older than ${retention.ignoredAlerts} day(s), ` +
      `${events} audit event(s) older than ${retention.auditEvents} day(s)`,
  );
  return { signals: alerts.signals, ignored: alerts.ignored, events };
}

app.timer(Names.timers.storeRetention, {
  // 03:53 UTC: away from the top of the hour and from the other timers
  schedule: "0 53 3 * * *",
  handler: storeRetention,
});

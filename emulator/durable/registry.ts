// Sorts the captured registrations by what triggers them. The durable parts feed DurableTestHost;
// HTTP and timer triggers keep their routing/schedule metadata and handlers so that a sandbox can
// serve the app's real routes and timers with the emulated host behind them.
import type { ActivityInvoker } from "./activity-invocation";
import {
  capturedFunctions,
  isFunctionsCoreStubInstalled,
  type CapturedBinding,
  type CapturedFunction,
} from "./functions-core-stub";
import { HarnessError } from "./errors";
import type { OrchestratorInvoker } from "./orchestrator-invocation";

export interface HttpFunctionRegistration {
  name: string;
  /** route template as registered; the host's default route is the function name */
  route: string;
  methods: string[];
  authLevel: string;
  trigger: CapturedBinding;
  /** input bindings other than the trigger (durableClient inputs among them) */
  extraInputs: CapturedBinding[];
  /** true if the handler expects a durable client (df.app.client.http or extraInputs) */
  usesDurableClient: boolean;
  /** (request: HttpRequest, context: InvocationContext) => HttpResponse | HttpResponseInit */
  handler: CapturedFunction["handler"];
}

export interface TimerFunctionRegistration {
  name: string;
  /** NCRONTAB expression (six fields) or TimeSpan, as registered */
  schedule: string;
  runOnStartup: boolean;
  useMonitor: boolean;
  trigger: CapturedBinding;
  extraInputs: CapturedBinding[];
  usesDurableClient: boolean;
  /** (timer: Timer, context: InvocationContext) => unknown */
  handler: CapturedFunction["handler"];
}

export interface DurableRegistry {
  orchestrators: Record<string, OrchestratorInvoker>;
  activities: Record<string, ActivityInvoker>;
  /** entity handlers; the test host does not run entities, they are listed for completeness */
  entities: Record<string, CapturedFunction["handler"]>;
  http: Record<string, HttpFunctionRegistration>;
  timers: Record<string, TimerFunctionRegistration>;
  /** every other trigger type, untouched */
  other: Record<string, CapturedFunction>;
}

/**
 * A fresh snapshot of everything registered so far, split by trigger. Spread it into the host:
 * `new DurableTestHost({ ...fromRegistry(), overrides: { activities: { Foo: fake } } })`.
 */
export function fromRegistry(): DurableRegistry {
  if (!isFunctionsCoreStubInstalled()) {
    throw new HarnessError(
      'The @azure/functions-core stub is not installed: import "emulator/durable/install" before the app.',
    );
  }
  const registry: DurableRegistry = {
    orchestrators: {},
    activities: {},
    entities: {},
    http: {},
    timers: {},
    other: {},
  };
  for (const fn of capturedFunctions()) {
    const trigger = triggerOf(fn);
    const extraInputs = Object.values(fn.metadata.bindings).filter((b) => b !== trigger && b.direction === "in");
    const usesDurableClient = extraInputs.some((b) => b.type === "durableClient" || b.type === "orchestrationClient");
    switch (trigger?.type) {
      case "orchestrationTrigger":
        registry.orchestrators[fn.name] = fn.handler;
        break;
      case "activityTrigger":
        registry.activities[fn.name] = fn.handler;
        break;
      case "entityTrigger":
        registry.entities[fn.name] = fn.handler;
        break;
      case "httpTrigger":
        registry.http[fn.name] = {
          name: fn.name,
          route: typeof trigger.route === "string" ? trigger.route : fn.name,
          methods: Array.isArray(trigger.methods) ? trigger.methods.map(String) : ["GET", "POST"],
          authLevel: typeof trigger.authLevel === "string" ? trigger.authLevel : "anonymous",
          trigger,
          extraInputs,
          usesDurableClient,
          handler: fn.handler,
        };
        break;
      case "timerTrigger":
        registry.timers[fn.name] = {
          name: fn.name,
          schedule: String(trigger.schedule),
          runOnStartup: trigger.runOnStartup === true,
          useMonitor: trigger.useMonitor !== false,
          trigger,
          extraInputs,
          usesDurableClient,
          handler: fn.handler,
        };
        break;
      default:
        registry.other[fn.name] = fn;
    }
  }
  return registry;
}

function triggerOf(fn: CapturedFunction): CapturedBinding | undefined {
  return Object.values(fn.metadata.bindings).find((b) => b.direction === "in" && b.type.endsWith("Trigger"));
}

// Builds the InvocationContext the worker would hand to a function with a durableClient input, so
// that the app's own code path, df.getClient(context), yields a real DurableClient.
import { InvocationContext, type FunctionInput, type FunctionTrigger, type LogHandler } from "@azure/functions";
import * as df from "durable-functions";
import type { CapturedBinding } from "../functions-core-stub";
import { makeClientInputData, type ClientInputData } from "./client-input-data";

export interface ClientContextOptions {
  functionName?: string;
  invocationId?: string;
  /** the durableClient inputs the function was registered with; default: one df.input.durableClient() */
  clientInputs?: readonly (FunctionInput | CapturedBinding)[];
  trigger?: FunctionTrigger;
  logHandler?: LogHandler;
}

/** A real InvocationContext on which df.getClient(context) returns a real DurableClient for `clientData`. */
export function durableClientContext(
  clientData: ClientInputData,
  options: ClientContextOptions = {},
): InvocationContext {
  const clientInputs = (options.clientInputs ?? [df.input.durableClient()]).map((binding): FunctionInput => ({
    ...binding,
    name: binding.name,
    type: binding.type,
  }));
  const functionName = options.functionName ?? "DurableClientFunction";
  const context = new InvocationContext({
    functionName,
    invocationId: options.invocationId ?? `${functionName}-invocation`,
    logHandler: options.logHandler ?? (() => undefined),
    options: { trigger: options.trigger ?? { type: "httpTrigger", name: "request" }, extraInputs: clientInputs },
  });
  for (const input of clientInputs) {
    if (input.type === "durableClient" || input.type === "orchestrationClient") {
      context.extraInputs.set(input, structuredClone(clientData));
    }
  }
  return context;
}

/** The same, for a captured registration: uses the function's own trigger and input bindings. */
export function durableClientContextFor(
  registration: { name: string; trigger: CapturedBinding; extraInputs: readonly CapturedBinding[] },
  clientData: ClientInputData,
  options: Omit<ClientContextOptions, "functionName" | "clientInputs" | "trigger"> = {},
): InvocationContext {
  return durableClientContext(clientData, {
    ...options,
    functionName: registration.name,
    clientInputs: registration.extraInputs,
    trigger: { ...registration.trigger, name: registration.trigger.name, type: registration.trigger.type },
  });
}

/** A real DurableClient (the library's own class) for the given client data. */
export function realDurableClient(clientData: ClientInputData = makeClientInputData()): df.DurableClient {
  return df.getClient(durableClientContext(clientData));
}

// Stand-in for "@azure/functions-core", the module the Azure Functions Node.js worker injects into
// the process. Why it exists: when @azure/functions cannot require that module it switches to "test
// mode" on the first app.* call, DROPS every registration (handler included) and caches that decision
// for the life of the process. Answering the require ourselves lets tests capture exactly what the
// worker would receive for every app.* / df.app.* call: the function metadata and the handler.
//
// Must be installed before the first registration in the process: import "./install" first.
// (Jest has its own module registry; there use jest.mock("@azure/functions-core", ..., { virtual: true }).)
import Module from "node:module";

export interface CapturedBinding {
  type: string;
  direction: string;
  name: string;
  [property: string]: unknown;
}

export interface CapturedMetadata {
  name: string;
  bindings: Record<string, CapturedBinding>;
  retryOptions?: unknown;
  [property: string]: unknown;
}

/** Exactly what the worker would invoke: (trigger input, InvocationContext) => result. */
export type CapturedHandler = (...args: unknown[]) => unknown;

export interface CapturedFunction {
  name: string;
  metadata: CapturedMetadata;
  handler: CapturedHandler;
}

export interface CapturedHook {
  hookName: string;
  callback: unknown;
}

const functions = new Map<string, CapturedFunction>();
const hooks: CapturedHook[] = [];
let installed = false;

/** The subset of the worker's core API that @azure/functions 4.x calls. */
const coreApi = {
  version: "0.0.0-durable-test-host",
  registerFunction(metadata: CapturedMetadata, handler: CapturedHandler): { dispose(): void } {
    if (functions.has(metadata.name)) {
      throw new Error(`A function with the name "${metadata.name}" has already been registered.`);
    }
    functions.set(metadata.name, { name: metadata.name, metadata, handler });
    return { dispose: () => functions.delete(metadata.name) };
  },
  registerHook(hookName: string, callback: unknown): { dispose(): void } {
    const hook = { hookName, callback };
    hooks.push(hook);
    return { dispose: () => void hooks.splice(hooks.indexOf(hook), 1) };
  },
  setProgrammingModel(_model: unknown): void {},
  getProgrammingModel(): undefined {
    return undefined;
  },
  log(_level: string, _category: string, _message: string): void {},
};

type ModuleLoader = (request: string, parent: unknown, isMain: boolean) => unknown;

/** Hooks require("@azure/functions-core"). Idempotent. */
export function installFunctionsCoreStub(): void {
  if (installed) return;
  const loader = Module as unknown as { _load: ModuleLoader };
  const originalLoad = loader._load;
  loader._load = function (this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
    if (request === "@azure/functions-core") return coreApi;
    return originalLoad.call(this, request, parent, isMain);
  };
  installed = true;
}

export function isFunctionsCoreStubInstalled(): boolean {
  return installed;
}

/** Every function registered in this process so far, in registration order. */
export function capturedFunctions(): CapturedFunction[] {
  return [...functions.values()];
}

export function capturedFunction(name: string): CapturedFunction | undefined {
  return functions.get(name);
}

/** app.hook.* registrations (appStart, preInvocation, ...). */
export function capturedHooks(): readonly CapturedHook[] {
  return hooks;
}

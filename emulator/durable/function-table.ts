// The handlers the host can run, by function name. Function names are case-insensitive on the
// host (WebJobs FunctionName), so lookups are too, while the registered spelling is kept for
// messages and contexts.
import { HarnessError } from "./errors";

export class FunctionTable<T> {
  private readonly handlers: Record<string, T>;

  /**
   * @param overrides replacements for registered functions; each must exist, so a typo fails loudly
   *   instead of silently faking nothing
   */
  constructor(
    registered: Record<string, T>,
    overrides: Record<string, T> | undefined,
    private readonly kind: "orchestrator" | "activity",
  ) {
    this.handlers = { ...registered };
    for (const [name, handler] of Object.entries(overrides ?? {})) {
      if (!(name in this.handlers)) {
        throw new HarnessError(
          `Cannot override ${kind} '${name}': no such ${kind} is registered (known: ${this.names().join(", ")}).`,
        );
      }
      this.handlers[name] = handler;
    }
  }

  names(): string[] {
    return Object.keys(this.handlers);
  }

  set(name: string, handler: T): void {
    const existing = this.resolve(name);
    this.handlers[existing?.name ?? name] = handler;
  }

  resolve(name: string): { name: string; handler: T } | undefined {
    const key = name in this.handlers ? name : this.names().find((k) => k.toLowerCase() === name.toLowerCase());
    const handler = key === undefined ? undefined : this.handlers[key];
    return key === undefined || handler === undefined ? undefined : { name: key, handler };
  }

  /** For names the host has already validated; a miss here is a bug in the host, not in the app. */
  require(name: string): { name: string; handler: T } {
    const found = this.resolve(name);
    if (!found) throw new HarnessError(`No ${this.kind} handler registered for '${name}'.`);
    return found;
  }
}

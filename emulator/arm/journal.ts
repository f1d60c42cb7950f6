// A request journal for assertions such as "no second PUT to the VM". Write-only values
// (passwords, custom data, secret values) are redacted before anything is recorded.

export interface JournalEntry {
  seq: number;
  time: string;
  method: string;
  path: string;
  apiVersion?: string;
  /** put | patch | delete | get | list | head | action | poll | secret | metrics | admin */
  operation: string;
  type?: string;
  action?: string;
  status: number;
  /** set when a fault rule changed the answer */
  fault?: string;
  /** Key Vault requests: the managed identity (principal id) whose token the emulator's IMDS issued */
  caller?: string;
  body?: unknown;
}

export class Journal {
  private entries: JournalEntry[] = [];
  private seq = 0;

  record(e: Omit<JournalEntry, "seq" | "time">): JournalEntry {
    const entry = { seq: ++this.seq, time: new Date().toISOString(), ...e };
    this.entries.push(entry);
    return entry;
  }

  list(filter: { method?: string; operation?: string; type?: string } = {}): JournalEntry[] {
    return this.entries.filter(
      (e) =>
        (!filter.method || e.method === filter.method.toUpperCase()) &&
        (!filter.operation || e.operation === filter.operation) &&
        (!filter.type || (e.type ?? "").toLowerCase() === filter.type.toLowerCase()),
    );
  }

  /** ARM writes: PUT, PATCH, DELETE and POST actions (not polls, reads or data-plane calls) */
  writes(): JournalEntry[] {
    return this.entries.filter((e) => ["put", "patch", "delete", "action"].includes(e.operation));
  }

  clear(): void {
    this.entries = [];
  }
}

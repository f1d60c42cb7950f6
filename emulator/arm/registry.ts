// Resource type definitions, looked up by type key (case-insensitive).
import { typeKey } from "./resource-id";
import type { TypeDefinition } from "./types";

export class TypeRegistry {
  private readonly defs = new Map<string, TypeDefinition>();

  register(defs: TypeDefinition[]): void {
    for (const d of defs) this.defs.set(typeKey(d.type), d);
  }

  get(type: string): TypeDefinition | undefined {
    return this.defs.get(typeKey(type));
  }

  all(): TypeDefinition[] {
    return [...this.defs.values()];
  }
}

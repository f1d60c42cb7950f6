// The resource store: documents keyed by lower-cased id, keeping the caller's casing in the document.
import { isSameOrBelow, lower } from "./resource-id";
import type { Json, ResourceDoc } from "./types";

export class ResourceStore {
  private readonly docs = new Map<string, ResourceDoc>();
  /** told of every write and delete (Resource Graph's index, ARM's changedTime) */
  onWrite?: (id: string, existed: boolean, after: ResourceDoc | undefined) => void;
  /** write-only values (passwords, custom data) kept out of documents, keyed by resource id then by path */
  private readonly secrets = new Map<string, Map<string, unknown>>();

  get(id: string): ResourceDoc | undefined {
    return this.docs.get(lower(id));
  }

  has(id: string): boolean {
    return this.docs.has(lower(id));
  }

  set(doc: ResourceDoc): void {
    const existed = this.docs.has(lower(doc.id));
    this.docs.set(lower(doc.id), doc);
    this.onWrite?.(doc.id, existed, doc);
  }

  delete(id: string): boolean {
    this.secrets.delete(lower(id));
    const deleted = this.docs.delete(lower(id));
    if (deleted) this.onWrite?.(id, true, undefined);
    return deleted;
  }

  all(): ResourceDoc[] {
    return [...this.docs.values()];
  }

  /** documents of `type` whose parent is exactly `parentId` */
  children(parentId: string, type?: string): ResourceDoc[] {
    const p = lower(parentId);
    return this.all().filter((d) => {
      const id = lower(d.id);
      if (!id.startsWith(p + "/")) return false;
      if (type !== undefined && lower(d.type) !== lower(type)) return false;
      return parentOf(d.id) === p;
    });
  }

  /** documents at or below `id` (for cascading deletes), deepest first */
  subtree(id: string): ResourceDoc[] {
    return this.all()
      .filter((d) => isSameOrBelow(d.id, id))
      .sort((a, b) => b.id.length - a.id.length);
  }

  setSecret(id: string, path: string, value: unknown): void {
    const m = this.secrets.get(lower(id)) ?? new Map<string, unknown>();
    m.set(path, value);
    this.secrets.set(lower(id), m);
  }

  getSecret(id: string, path: string): unknown {
    return this.secrets.get(lower(id))?.get(path);
  }

  snapshot(): ResourceDoc[] {
    return this.all().map((d) => structuredClone(d));
  }

  clear(): void {
    this.docs.clear();
    this.secrets.clear();
  }
}

/** Lower-cased id of the resource that directly contains `id` (child parent, extension scope, RG, subscription). */
export function parentOf(id: string): string {
  const l = lower(id);
  // extension resource: {scope}/providers/{ns}/{type}/{name}
  const segs = l.split("/");
  const lastProviders = segs.lastIndexOf("providers");
  if (lastProviders >= 0 && segs.length - lastProviders === 4) return segs.slice(0, lastProviders).join("/");
  if (lastProviders >= 0 && segs.length - lastProviders > 4) return segs.slice(0, -2).join("/");
  return segs.slice(0, -2).join("/");
}

export function getPath(obj: Json, path: string[]): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Json)[k];
  }
  return cur;
}

export function deletePath(obj: Json, path: string[]): unknown {
  const parent = getPath(obj, path.slice(0, -1));
  if (parent === null || typeof parent !== "object") return undefined;
  const key = path[path.length - 1];
  const value = (parent as Json)[key];
  delete (parent as Json)[key];
  return value;
}

/** A JSON scalar as text ("" for objects and absent values), for ids, names and enum-like fields. */
export function str(v: unknown, fallback = ""): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return fallback;
}

/** RFC 7396 JSON merge patch */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Json =
    target !== null && typeof target === "object" && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// A small, honest subset of the Kusto Query Language, as Azure Resource Graph runs it: enough for the
// queries Jumpgate sends (drift screening, change history, inventory) and nothing it cannot answer
// the way Resource Graph would. Anything outside the subset is refused with the error Resource Graph
// gives for a query it cannot parse, never answered approximately.
//
//   query    := table ( "|" operator )*
//   operator := where <expr> | project <item>, ... | extend <item>, ... | order by <path> [asc|desc], ...
//             | sort by ... | limit <n> | take <n>
//   expr     := <cmp> ( and | or <cmp> )* , "not(" expr ")" , "(" expr ")"
//   cmp      := <value> [ == != =~ !~ < <= > >= in in~ !in !in~ startswith contains has <value> ]
//   value    := 'text' | "text" | number | true | false | <path> | <function>(<value>, ...) | ( <value>, ... )
//   path     := name ( .name | ['key'] | [n] )*
//   function := tostring tolower toupper todatetime tolong isnotempty isempty isnull isnotnull ago datetime
// Keywords and functions are lower case, as in KQL; table names are not case-sensitive, as in
// Resource Graph. `=~`, `in~` and `!~` compare strings case-insensitively; `==` and `in` exactly.
export class KqlError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

type Row = Record<string, unknown>;

/** A datetime value (KQL's own type), as milliseconds since the epoch. */
interface DateTime {
  kqlDateTime: number;
}

type Expr =
  | { kind: "literal"; value: unknown }
  | { kind: "path"; root: string; steps: (string | number)[]; text: string }
  | { kind: "call"; name: string; args: Expr[] }
  | { kind: "list"; items: Expr[] }
  | { kind: "binary"; op: string; left: Expr; right: Expr }
  | { kind: "not"; expr: Expr };

type Operator =
  | { kind: "where"; expr: Expr }
  | { kind: "project" | "extend"; items: { name: string; expr: Expr }[] }
  | { kind: "order"; keys: { expr: Expr; desc: boolean }[] }
  | { kind: "limit"; count: number };

export interface KqlQuery {
  table: string;
  operators: Operator[];
}

const FUNCTIONS = new Set([
  "tostring",
  "tolower",
  "toupper",
  "todatetime",
  "tolong",
  "isnotempty",
  "isempty",
  "isnull",
  "isnotnull",
  "ago",
  "datetime",
]);
const COMPARISONS = ["==", "!=", "=~", "!~", "<=", ">=", "<", ">"];
const WORD_COMPARISONS = ["in~", "!in~", "in", "!in", "startswith", "contains", "has"];

interface Token {
  kind: "word" | "string" | "number" | "symbol";
  text: string;
  at: number;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let value = "";
      while (j < text.length && text[j] !== c) {
        if (text[j] === "\\" && j + 1 < text.length) {
          value += text[j + 1];
          j += 2;
        } else value += text[j++];
      }
      if (j >= text.length) throw new KqlError("unterminated string literal", i);
      tokens.push({ kind: "string", text: value, at: i });
      i = j + 1;
      continue;
    }
    const number = /^-?\d+(\.\d+)?([dhms]|ms)?/.exec(text.slice(i));
    if (number && (c !== "-" || /[\s(,=<>]/.test(text[i - 1] ?? " "))) {
      tokens.push({ kind: "number", text: number[0], at: i });
      i += number[0].length;
      continue;
    }
    const word = /^!?[A-Za-z_][A-Za-z0-9_]*~?/.exec(text.slice(i));
    if (word) {
      tokens.push({ kind: "word", text: word[0], at: i });
      i += word[0].length;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (["==", "!=", "=~", "!~", "<=", ">="].includes(two)) {
      tokens.push({ kind: "symbol", text: two, at: i });
      i += 2;
      continue;
    }
    if ("|(),.[]=<>".includes(c)) {
      tokens.push({ kind: "symbol", text: c, at: i });
      i++;
      continue;
    }
    throw new KqlError(`unexpected character '${c}'`, i);
  }
  return tokens;
}

class Parser {
  private i = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly text: string,
  ) {}

  private peek(offset = 0): Token | undefined {
    return this.tokens[this.i + offset];
  }

  private at(): number {
    return this.peek()?.at ?? this.text.length;
  }

  private next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new KqlError("unexpected end of the query", this.text.length);
    return t;
  }

  private accept(text: string): boolean {
    if (this.peek()?.text === text && this.peek()?.kind !== "string") {
      this.i++;
      return true;
    }
    return false;
  }

  private expect(text: string): void {
    const t = this.peek();
    if (!this.accept(text)) throw new KqlError(`expected '${text}', found '${t?.text ?? "end of query"}'`, this.at());
  }

  parse(): KqlQuery {
    const table = this.next();
    if (table.kind !== "word") throw new KqlError("a query starts with a table name", table.at);
    const operators: Operator[] = [];
    while (this.peek()) {
      this.expect("|");
      operators.push(this.operator());
    }
    return { table: table.text.toLowerCase(), operators };
  }

  private operator(): Operator {
    const t = this.next();
    switch (t.text) {
      case "where":
        return { kind: "where", expr: this.orExpr() };
      case "project":
      case "extend":
        return { kind: t.text, items: this.items() };
      case "order":
      case "sort": {
        this.expect("by");
        const keys: { expr: Expr; desc: boolean }[] = [];
        do {
          const expr = this.value();
          let desc = true; // KQL sorts descending unless told otherwise
          if (this.accept("asc")) desc = false;
          else this.accept("desc");
          keys.push({ expr, desc });
        } while (this.accept(","));
        return { kind: "order", keys };
      }
      case "limit":
      case "take": {
        const n = this.next();
        if (n.kind !== "number" || !/^\d+$/.test(n.text)) throw new KqlError(`${t.text} needs a row count`, n.at);
        return { kind: "limit", count: Number(n.text) };
      }
      default:
        throw new KqlError(`operator '${t.text}' is not supported here`, t.at);
    }
  }

  private items(): { name: string; expr: Expr }[] {
    const items: { name: string; expr: Expr }[] = [];
    do {
      if (this.peek()?.kind === "word" && this.peek(1)?.text === "=" && this.peek(1)?.kind === "symbol") {
        const name = this.next().text;
        this.next();
        items.push({ name, expr: this.value() });
      } else {
        const expr = this.value();
        items.push({ name: columnName(expr), expr });
      }
    } while (this.accept(","));
    return items;
  }

  private orExpr(): Expr {
    let left = this.andExpr();
    while (this.accept("or")) left = { kind: "binary", op: "or", left, right: this.andExpr() };
    return left;
  }

  private andExpr(): Expr {
    let left = this.comparison();
    while (this.accept("and")) left = { kind: "binary", op: "and", left, right: this.comparison() };
    return left;
  }

  private comparison(): Expr {
    if (this.peek()?.text === "not" && this.peek(1)?.text === "(") {
      this.next();
      this.next();
      const expr = this.orExpr();
      this.expect(")");
      return { kind: "not", expr };
    }
    const left = this.value();
    const t = this.peek();
    if (!t) return left;
    if (t.kind === "symbol" && COMPARISONS.includes(t.text)) {
      this.next();
      return { kind: "binary", op: t.text, left, right: this.value() };
    }
    if (t.kind === "word" && WORD_COMPARISONS.includes(t.text)) {
      this.next();
      if (/^!?in~?$/.test(t.text)) return { kind: "binary", op: t.text, left, right: this.list(t) };
      return { kind: "binary", op: t.text, left, right: this.value() };
    }
    return left;
  }

  /** The list after `in`: ('a', 'b'), one item or none included. */
  private list(op: Token): Expr {
    if (this.peek()?.text !== "(") throw new KqlError(`'${op.text}' needs a list: ('a', 'b')`, this.at());
    this.next();
    const items: Expr[] = [];
    if (!this.accept(")")) {
      do items.push(this.value());
      while (this.accept(","));
      this.expect(")");
    }
    return { kind: "list", items };
  }

  private value(): Expr {
    const t = this.next();
    if (t.kind === "string") return { kind: "literal", value: t.text };
    if (t.kind === "number") {
      if (/[a-z]$/.test(t.text)) return { kind: "literal", value: timespanMs(t.text) };
      return { kind: "literal", value: Number(t.text) };
    }
    if (t.text === "(") {
      if (this.accept(")")) return { kind: "list", items: [] };
      const first = this.orExpr();
      if (this.accept(")")) return first;
      const items = [first];
      while (this.accept(",")) items.push(this.value());
      this.expect(")");
      return { kind: "list", items };
    }
    if (t.kind !== "word") throw new KqlError(`unexpected '${t.text}'`, t.at);
    if (t.text === "true" || t.text === "false") return { kind: "literal", value: t.text === "true" };
    if (this.peek()?.text === "(" && this.peek()?.kind === "symbol") {
      if (!FUNCTIONS.has(t.text)) throw new KqlError(`function '${t.text}' is not supported here`, t.at);
      this.next();
      const args: Expr[] = [];
      if (!this.accept(")")) {
        do args.push(t.text === "datetime" ? this.datetimeArgument() : this.value());
        while (this.accept(","));
        this.expect(")");
      }
      return { kind: "call", name: t.text, args };
    }
    const steps: (string | number)[] = [];
    let text = t.text;
    for (;;) {
      if (this.peek()?.text === "." && this.peek()?.kind === "symbol") {
        this.next();
        const name = this.next();
        if (name.kind !== "word") throw new KqlError("expected a property name after '.'", name.at);
        steps.push(name.text);
        text += `.${name.text}`;
      } else if (this.peek()?.text === "[" && this.peek()?.kind === "symbol") {
        this.next();
        const key = this.next();
        if (key.kind === "string") steps.push(key.text);
        else if (key.kind === "number" && /^\d+$/.test(key.text)) steps.push(Number(key.text));
        else throw new KqlError("expected a quoted key or an index in [ ]", key.at);
        this.expect("]");
        text += `[${typeof steps[steps.length - 1] === "number" ? String(key.text) : `'${key.text}'`}]`;
      } else break;
    }
    return { kind: "path", root: t.text, steps, text };
  }

  /** datetime(2026-01-01T00:00:00Z) takes its text unquoted. */
  private datetimeArgument(): Expr {
    if (this.peek()?.kind === "string") return this.value();
    const start = this.at();
    let depth = 0;
    while (this.peek() && !(depth === 0 && this.peek()!.text === ")")) {
      const t = this.next();
      if (t.text === "(") depth++;
      if (t.text === ")") depth--;
    }
    return { kind: "literal", value: this.text.slice(start, this.at()).replace(/\s+/g, "") };
  }
}

function timespanMs(text: string): number {
  const m = /^(-?\d+(?:\.\d+)?)(ms|d|h|m|s)$/.exec(text)!;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2]]!;
  return Number(m[1]) * unit;
}

/** The column KQL names an unnamed projection: `properties.a.b` becomes `properties_a_b`. */
function columnName(expr: Expr): string {
  if (expr.kind === "path") return [expr.root, ...expr.steps.map(String)].join("_").replace(/[^A-Za-z0-9_]/g, "_");
  if (expr.kind === "call" && expr.args[0]) return columnName(expr.args[0]);
  return "Column1";
}

export function parseKql(text: string): KqlQuery {
  if (typeof text !== "string" || text.trim() === "") throw new KqlError("the query is empty", 0);
  return new Parser(tokenize(text), text).parse();
}

// ------------------------------------------------------------------------------ evaluation

export function runKql(query: KqlQuery, rows: Row[], now: number): Row[] {
  let out = rows;
  for (const op of query.operators) {
    switch (op.kind) {
      case "where":
        out = out.filter((row) => truthy(evaluate(op.expr, row, now)));
        break;
      case "project":
        out = out.map((row) => Object.fromEntries(op.items.map((it) => [it.name, plain(evaluate(it.expr, row, now))])));
        break;
      case "extend":
        out = out.map((row) => ({
          ...row,
          ...Object.fromEntries(op.items.map((it) => [it.name, plain(evaluate(it.expr, row, now))])),
        }));
        break;
      case "order":
        out = [...out].sort((a, b) => {
          for (const key of op.keys) {
            const c = compare(evaluate(key.expr, a, now), evaluate(key.expr, b, now));
            if (c !== 0) return key.desc ? -c : c;
          }
          return 0;
        });
        break;
      case "limit":
        out = out.slice(0, op.count);
        break;
    }
  }
  return out;
}

function evaluate(expr: Expr, row: Row, now: number): unknown {
  switch (expr.kind) {
    case "literal":
      return expr.value;
    case "list":
      return expr.items.map((i) => evaluate(i, row, now));
    case "path": {
      const rootKey = Object.keys(row).find((k) => k === expr.root);
      let cur: unknown = rootKey === undefined ? undefined : row[rootKey];
      for (const step of expr.steps) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = (cur as Record<string, unknown>)[step as string];
      }
      return cur;
    }
    case "not":
      return !truthy(evaluate(expr.expr, row, now));
    case "call":
      return call(
        expr.name,
        expr.args.map((a) => evaluate(a, row, now)),
        now,
      );
    case "binary":
      return binary(expr.op, expr.left, expr.right, row, now);
  }
}

function call(name: string, args: unknown[], now: number): unknown {
  const [a] = args;
  switch (name) {
    case "tostring":
      return asText(a);
    case "tolower":
      return typeof a === "string" ? a.toLowerCase() : a;
    case "toupper":
      return typeof a === "string" ? a.toUpperCase() : a;
    case "tolong":
      return typeof a === "number" ? Math.trunc(a) : Number.isFinite(Number(a)) ? Math.trunc(Number(a)) : undefined;
    case "todatetime":
    case "datetime":
      return toDateTime(a);
    case "ago":
      return { kqlDateTime: now - Number(a) } satisfies DateTime;
    case "isnotempty":
      return !isEmpty(a);
    case "isempty":
      return isEmpty(a);
    case "isnull":
      return a === undefined || a === null;
    case "isnotnull":
      return !(a === undefined || a === null);
  }
  return undefined;
}

function binary(op: string, leftExpr: Expr, rightExpr: Expr, row: Row, now: number): unknown {
  if (op === "and") return truthy(evaluate(leftExpr, row, now)) && truthy(evaluate(rightExpr, row, now));
  if (op === "or") return truthy(evaluate(leftExpr, row, now)) || truthy(evaluate(rightExpr, row, now));
  const left = evaluate(leftExpr, row, now);
  const right = evaluate(rightExpr, row, now);
  const text = asText;
  switch (op) {
    case "==":
      return equal(left, right, false);
    case "!=":
      return !equal(left, right, false);
    case "=~":
      return equal(left, right, true);
    case "!~":
      return !equal(left, right, true);
    case "<":
      return compare(left, right) < 0;
    case "<=":
      return compare(left, right) <= 0;
    case ">":
      return compare(left, right) > 0;
    case ">=":
      return compare(left, right) >= 0;
    case "in":
    case "in~":
      return (right as unknown[]).some((r) => equal(left, r, op === "in~"));
    case "!in":
    case "!in~":
      return !(right as unknown[]).some((r) => equal(left, r, op === "!in~"));
    case "startswith":
      return text(left).toLowerCase().startsWith(text(right).toLowerCase());
    case "contains":
      return text(left).toLowerCase().includes(text(right).toLowerCase());
    case "has":
      return new RegExp(`(^|[^A-Za-z0-9])${escapeRegExp(text(right).toLowerCase())}($|[^A-Za-z0-9])`).test(
        text(left).toLowerCase(),
      );
  }
  return undefined;
}

function equal(a: unknown, b: unknown, ignoreCase: boolean): boolean {
  if (isDateTime(a) || isDateTime(b)) return compare(a, b) === 0;
  if (typeof a === "string" && typeof b === "string") return ignoreCase ? a.toLowerCase() === b.toLowerCase() : a === b;
  return a === b;
}

function compare(a: unknown, b: unknown): number {
  if (isDateTime(a) || isDateTime(b)) {
    const x = toDateTime(a)?.kqlDateTime;
    const y = toDateTime(b)?.kqlDateTime;
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? -1 : 1;
    return x - y;
  }
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (a === undefined || a === null) return b === undefined || b === null ? 0 : -1;
  if (b === undefined || b === null) return 1;
  return asText(a).localeCompare(asText(b));
}

function toDateTime(v: unknown): DateTime | undefined {
  if (isDateTime(v)) return v;
  if (typeof v !== "string" && typeof v !== "number") return undefined;
  const ms = typeof v === "number" ? v : Date.parse(v);
  return Number.isNaN(ms) ? undefined : { kqlDateTime: ms };
}

function isDateTime(v: unknown): v is DateTime {
  return typeof v === "object" && v !== null && "kqlDateTime" in v;
}

function iso(v: DateTime): string {
  return new Date(v.kqlDateTime).toISOString();
}

/** What goes out in a result row: datetimes as ISO 8601 strings, as Resource Graph sends them. */
function plain(v: unknown): unknown {
  return isDateTime(v) ? iso(v) : v;
}

function truthy(v: unknown): boolean {
  return v === true;
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object" && !isDateTime(v)) return Object.keys(v).length === 0;
  return false;
}

/** Text of any value: strings as they are, other scalars printed, objects and arrays as JSON. */
function asText(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (isDateTime(v)) return iso(v);
  return JSON.stringify(v);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
